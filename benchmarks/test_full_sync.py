"""Full sync at scale: requests against the documented minimum, time, and peak memory (reported, not asserted
beyond the 1.2x budget the README promises). Run with `make bench`."""

from __future__ import annotations

import resource
import time

import pytest
from helpers import run_sync

from pipeline.budget import minimum_requests
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a medium first run: ~11,000 requests


@pytest.mark.parametrize("scale", ["small", "medium"])
async def test_full_sync_at_scale(scale, tmp_path):
    async with Simulator(SimConfig(scale=scale, seed=2)) as sim:
        started = time.monotonic()
        result = await run_sync(sim, tmp_path)
        elapsed = time.monotonic() - started
        made = len(sim.log.gateway())
    budget = minimum_requests(tmp_path / "atlassian.db")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n{scale}: {made} requests, minimum {budget['total']} ({made / budget['total']:.3f}x), "
        f"{elapsed:.1f} s, peak RSS {peak_mb:.0f} MB (simulator included)"
    )
    assert result.status == "ok"
    assert made <= 1.2 * budget["total"]
