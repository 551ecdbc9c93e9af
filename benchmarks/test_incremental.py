"""Incremental runs at medium scale: requests of a rerun with no changes and after changing 1% of the items,
as a share of the first run's, with the store compared to the simulator's data afterwards."""

from __future__ import annotations

import time

import pytest
from expected import differences, expected, stored
from helpers import change_a_share, run_sync

from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a medium first run: ~11,000 requests


async def test_incremental_requests_at_medium_scale(tmp_path):
    async with Simulator(SimConfig(scale="medium", seed=2)) as sim:
        timings, counts = {}, {}
        for name in ("first", "no changes", "1% changed"):
            if name == "1% changed":
                change_a_share(sim, 0.01, seed=1)
            sim.log.clear()
            started = time.monotonic()
            result = await run_sync(sim, tmp_path)
            timings[name] = time.monotonic() - started
            counts[name] = len(sim.log.gateway())
            assert result.status == "ok", result.errors
        assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}
    first = counts["first"]
    for name, made in counts.items():
        print(f"\n{name}: {made} requests ({100 * made / first:.2f}% of the first), {timings[name]:.1f} s")
    assert counts["no changes"] <= 0.03 * first
    assert counts["1% changed"] <= 0.05 * first
