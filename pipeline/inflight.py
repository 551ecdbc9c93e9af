"""Work in flight bounded by bytes, not only by count: memory follows the bytes a run holds, whatever the size
of a page body. A count alone (64 batches of 250 rows) is a few MB with 1 KB bodies and a gigabyte with 50 KB."""

from __future__ import annotations

from collections import deque
from typing import Any

import anyio

ROW_OVERHEAD = 200  # a row's dict and small values, roughly, on top of its strings


class ByteGate:
    """At most `limit` bytes in flight: `acquire` waits (first come, first served) until the bytes fit, and
    `release` hands them back. Something larger than the whole limit passes alone, so nothing waits forever."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._waiters: deque[tuple[int, anyio.Event]] = deque()

    async def acquire(self, size: int) -> int:
        """Wait until `size` bytes fit; returns what was charged (to be released)."""
        charge = min(max(0, size), self.limit)
        if not self._waiters and self.used + charge <= self.limit:
            self._take(charge)
            return charge
        event = anyio.Event()
        entry = (charge, event)
        self._waiters.append(entry)
        try:
            await event.wait()
        except BaseException:
            if entry in self._waiters:
                self._waiters.remove(entry)
            else:  # woken and charged, but cancelled before it could use them
                self.release(charge)
            raise
        return charge

    def release(self, size: int) -> None:
        self.used -= size
        while self._waiters and self.used + self._waiters[0][0] <= self.limit:
            charge, event = self._waiters.popleft()
            self._take(charge)
            event.set()

    def _take(self, charge: int) -> None:
        self.used += charge
        self.peak = max(self.peak, self.used)


def weight(rows: list[dict[str, Any]]) -> int:
    """About how many bytes rows hold: their strings, and a little per row."""
    total = ROW_OVERHEAD * len(rows)
    for row in rows:
        for value in row.values():
            if isinstance(value, str):
                total += len(value)
    return total
