"""Adaptive concurrency per endpoint family, steered by the rate-limit signals Atlassian sends.

Atlassian's burst limits are token buckets per tenant and endpoint, shared with every other client of
the site, so no fixed rate is right. Each family (product, method, first path segment) gets a
concurrency limit that halves on a 429 (and waits out its Retry-After before anyone of that family
goes again), shrinks by one on `X-RateLimit-NearLimit`, and grows by about one per round trip while
the server is quiet. A quota reason pauses every family until the reset. A request whose own deadline
(its retry budget) comes before the pause ends is refused at once rather than held past it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio


class PauseTooLong(Exception):
    """The family (or the tenant) is paused for longer than the request may wait."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"paused for {wait_s:.0f} s")
        self.wait_s = wait_s


@dataclass
class FamilyGate:
    limit: float
    ceiling: int
    in_flight: int = 0
    resume_at: float = 0.0
    waiters: list[anyio.Event] = field(default_factory=list)
    throttled: int = 0

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        """Wake the longest waiter; it checks the limit again itself and waits again if it must."""
        if self.waiters:
            self.waiters.pop(0).set()


class AdaptiveLimiter:
    def __init__(self, ceiling: int, clock=time.monotonic, sleep=anyio.sleep) -> None:
        self.ceiling = ceiling
        self.clock, self.sleep = clock, sleep  # injectable, so tests need no real waiting
        self.gates: dict[str, FamilyGate] = {}
        self.paused_until = 0.0  # a quota pause holds every family
        self.quota_pauses = 0

    def gate(self, family: str) -> FamilyGate:
        if family not in self.gates:
            self.gates[family] = FamilyGate(limit=float(self.ceiling), ceiling=self.ceiling)
        return self.gates[family]

    @asynccontextmanager
    async def slot(self, family: str, deadline: float | None = None) -> AsyncIterator[None]:
        """Hold one of the family's places while a request is in flight; `deadline` is on this limiter's clock."""
        gate = self.gate(family)
        await self._acquire(gate, deadline)
        try:
            yield
        finally:
            gate.release()

    async def _acquire(self, gate: FamilyGate, deadline: float | None) -> None:
        while True:
            wait = max(gate.resume_at, self.paused_until) - self.clock()
            if wait > 0:
                if deadline is not None and self.clock() + wait > deadline:
                    raise PauseTooLong(wait)
                await self.sleep(wait)
                continue
            if gate.in_flight < max(1, int(gate.limit)):
                gate.in_flight += 1
                return
            event = anyio.Event()
            gate.waiters.append(event)
            try:
                await event.wait()
            except BaseException:
                if event in gate.waiters:
                    gate.waiters.remove(event)
                elif event.is_set():
                    gate._wake()  # pass the wake-up on rather than lose it
                raise

    def throttled(self, family: str, wait_s: float, quota: bool) -> None:
        """A 429 (or a 503 with Retry-After): slow this family, or everything for a quota."""
        gate = self.gate(family)
        gate.throttled += 1
        now = self.clock()
        if quota:
            self.quota_pauses += 1
            self.paused_until = max(self.paused_until, now + wait_s)
            return
        gate.limit = max(1.0, gate.limit / 2)
        gate.resume_at = max(gate.resume_at, now + wait_s)

    def near_limit(self, family: str) -> None:
        gate = self.gate(family)
        gate.limit = max(1.0, gate.limit - 1)

    def succeeded(self, family: str) -> None:
        gate = self.gate(family)
        if gate.limit < gate.ceiling:
            gate.limit = min(float(gate.ceiling), gate.limit + 1 / gate.limit)
            gate._wake()
