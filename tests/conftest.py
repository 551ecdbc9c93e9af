"""Shared test ground: the built-in fake Atlassian Cloud over loopback, and a real sync against it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pipeline.config import Settings, load_settings
from pipeline.progress import Progress
from pipeline.runner import SyncResult, sync
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimConfig(scale="tiny")) as simulator:
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def settings_for(sim: Simulator, tmp_path: Path, **overrides: Any) -> Settings:
    flags = {
        "site": sim.site_url,
        "gateway": sim.gateway_url,
        "auth_url": sim.auth_url,
        "db": tmp_path / "atlassian.db",
        "attachments_dir": tmp_path / "blobs",
        **overrides,
    }
    return load_settings(flags, environ={}, default_config=False)


async def run_sync(
    sim: Simulator, tmp_path: Path, environ: dict[str, str] | None = None, **overrides: Any
) -> SyncResult:
    environ = {"ATLASSIAN_TOKEN": sim.token} if environ is None else environ
    return await sync(settings_for(sim, tmp_path, **overrides), environ, Progress("quiet"))


def gateway_path(sim: Simulator, product: str, path: str) -> str:
    return f"{sim.gateway_url}/ex/{product}/{sim.cloud_id}{path}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def threaded_sim():
    """A simulator on its own thread and loop, for commands that run their own event loop."""
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    simulator = Simulator(SimConfig(scale="tiny"))
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(simulator.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10), "the simulator did not start"
    yield simulator
    asyncio.run_coroutine_threadsafe(simulator.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
