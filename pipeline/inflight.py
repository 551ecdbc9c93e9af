"""Work in flight bounded by bytes, not only by count: memory follows the bytes a run holds, whatever the size
of a page body. A count alone (64 batches of 250 rows) is a few MB with 1 KB bodies and a gigabyte with 50 KB."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import AsyncIterator
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
    """About how many bytes rows hold: their strings (as Python holds them: a page with one emoji takes four
    bytes a character), and a little per row."""
    total = ROW_OVERHEAD * len(rows)
    for row in rows:
        for value in row.values():
            if isinstance(value, str):
                total += sys.getsizeof(value)
    return total


class ListingGate:
    """Listings that carry bodies: a page is fetched only once its bytes fit beside the pages still being turned
    into rows, judged from the bodies seen so far. Eight chains of 250 pages of 50 KB would otherwise hold
    hundreds of MB at once; with small bodies, every chain goes at once as before."""

    def __init__(self, limit: int, per_item: int = 16 * 1024) -> None:
        self.gate = ByteGate(limit)
        self.per_item = per_item  # bytes a listed item holds, learnt from the pages seen
        self.learnt = False  # until a first page is seen, one page at a time: bodies may be of any size

    async def pages(self, pages: AsyncIterator[Any], items_per_page: int) -> AsyncIterator[Any]:
        """`pages`, each fetched once its expected bytes are admitted, and held until the consumer asks for
        the next one (by then its rows are with the writer, bounded by the write gate)."""
        iterator = aiter(pages)
        while True:
            charge = await self.gate.acquire(self.per_item * items_per_page if self.learnt else self.gate.limit)
            try:
                page = await anext(iterator)
            except StopAsyncIteration:
                self.gate.release(charge)
                return
            except BaseException:
                self.gate.release(charge)
                raise
            self.learn(page.items)
            try:
                yield page
            finally:
                page = None  # the consumer let go of it too (see its loop): its bytes are free
                self.gate.release(charge)

    def learn(self, items: list[dict[str, Any]]) -> None:
        if items:  # a body is held twice over while its row is built: as listed, and as text
            seen = 2 * sum(sys.getsizeof(body_text(item)) for item in items) // len(items) + ROW_OVERHEAD
            self.per_item = seen if not self.learnt else (self.per_item + seen) // 2
            self.learnt = True


def body_text(item: dict[str, Any]) -> str:
    body = item.get("body") if isinstance(item, dict) else None
    storage = body.get("storage") if isinstance(body, dict) else None
    value = storage.get("value") if isinstance(storage, dict) else None
    return value if isinstance(value, str) else ""
