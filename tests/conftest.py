"""Shared test ground: the built-in fake Atlassian Cloud over loopback, and a real sync against it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

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


@pytest.fixture
def quick_backoff(monkeypatch):
    """Retries after milliseconds rather than seconds, so tests of retrying stay quick (Retry-After still rules)."""
    from functools import partial

    from pipeline.backoff import Backoff

    quick = partial(Backoff, base_s=0.01, cap_s=0.05)
    monkeypatch.setattr("pipeline.http.Backoff", quick)
    monkeypatch.setattr("pipeline.auth.Backoff", quick, raising=False)
