"""What a source needs from the run it is part of: the client, the two sinks, settings, and a place
to record what failed without stopping the rest."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
from anyio.streams.memory import MemoryObjectSendStream

from .blobs import BlobStore
from .config import Settings
from .errors import DiskFull, explain
from .http import GatewayClient
from .inflight import ByteGate, ListingGate, weight
from .progress import Progress
from .store import Batch, Debt, Store

WRITE_BYTES = 32 * 1024 * 1024  # rows waiting for the writer, at most
LISTING_BYTES = 48 * 1024 * 1024  # listed pages with bodies being turned into rows, at most


@dataclass(frozen=True)
class DownloadJob:
    product: str
    path: str  # an API path or link for the bytes, re-rooted on the gateway by the client
    table: str
    item_id: str
    version: int | None
    size: int | None
    label: str  # what to call it in a message: never a path on disk


@dataclass
class Chain:
    """A listing chain's place: the sweep it belongs to, and the link or token to resume from."""

    stream: str
    sweep: int
    resume: str | None
    saved: dict[str, Any]

    def checkpoint(self, following: str | None, **extra: Any) -> dict[str, str | None]:
        """The state to commit with a page's rows: resume at `following` in the same sweep."""
        return {self.stream: orjson.dumps({**self.saved, **extra, "sweep": self.sweep, "next": following}).decode()}


@dataclass(frozen=True)
class StreamError:
    stream: str
    message: str


@dataclass
class SyncContext:
    settings: Settings
    client: GatewayClient
    store: Store
    blobs: BlobStore
    writes: MemoryObjectSendStream[Batch]
    downloads: dict[str, MemoryObjectSendStream[DownloadJob]]  # one queue per product: one family's rate limit
    # never holds a worker the other could use
    progress: Progress
    run_id: int = 0  # also the id of every sweep this run starts
    errors: list[StreamError] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.db = self.store.reader()  # reads from the event loop never touch the writer's connection
        # (product, id) of bytes queued and not yet committed: bounded by the queues, not by the site
        self.queued_downloads: set[tuple[str, str]] = set()
        self.write_gate = ByteGate(WRITE_BYTES)  # rows sent to the writer and not yet committed
        self.listings = ListingGate(LISTING_BYTES)  # pages of listings that carry bodies
        self.builders = anyio.CapacityLimiter(2)  # threads building rows (one GIL: more would only queue)
        self.attempted: set[str] = set()  # streams this run started
        self.completed: set[str] = set()  # streams this run ran to the end: their old debts are paid
        self.started_ms = int(time.time() * 1000)  # before anything is fetched
        self.tried: set[tuple[str, str]] = set()  # (kind, key) of the other debts this run set out to pay
        self.interrupted: int | None = None  # the signal that stopped the run, if one did

    # -- debts ----------------------------------------------------------------------------------
    def owed(self, kind: str) -> list[tuple[str, str | None]]:
        """(key, detail) of every debt of one kind, oldest first."""
        sql = "SELECT key, detail FROM sync_debts WHERE kind = ? ORDER BY first_failed_at, key"
        return self.db.execute(sql, (kind,)).fetchall()

    async def owe(self, debts: list[Debt], on_commit: Callable[[], None] | None = None) -> None:
        """Record parts that failed; they are committed before any later progress (one writer, in order)."""
        if debts:
            await self.emit(Batch("sync_debts", owe=debts, on_commit=on_commit))

    # -- saved state ----------------------------------------------------------------------------
    def saved(self, stream: str) -> dict[str, Any]:
        """A stream's committed checkpoint ({} when there is none, or with --full)."""
        row = self.db.execute("SELECT value FROM sync_state WHERE stream = ?", (stream,)).fetchone()
        return orjson.loads(row[0]) if row else {}

    def chain(self, stream: str) -> Chain:
        """Resume an interrupted listing in its own sweep, or start a new sweep at the top."""
        saved = self.saved(stream)
        if saved.get("next") and saved.get("sweep") and not self.settings.full:
            return Chain(stream, int(saved["sweep"]), saved["next"], saved)
        return Chain(stream, self.run_id, None, {} if self.settings.full else saved)

    async def rows_of(self, make: Callable[..., dict[str, Any]], items: list[Any], *args: Any) -> list[dict[str, Any]]:
        """Rows built in a worker thread: turning a listing's bodies into text takes milliseconds a page, which on
        the event loop would hold up every request in flight."""
        if not items:
            return []
        # handed over in boxes that are emptied: an idle worker thread keeps its last job's arguments and result
        # until its next job, which would pin a page of bodies per thread
        given, built = [items], []

        def build() -> list[dict[str, Any]]:
            built.append([make(item, *args) for item in given.pop()])
            return built

        await anyio.to_thread.run_sync(build, limiter=self.builders)
        return built.pop()

    def lookup(self, sql: str, ids: list[str], *params: Any) -> list[tuple]:
        """Rows for many ids at once (`sql` has one {marks} for the id list)."""
        found: list[tuple] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found += self.db.execute(sql.format(marks=", ".join("?" * len(chunk))), (*chunk, *params)).fetchall()
        return found

    async def emit(self, batch: Batch) -> None:
        """Send rows to the writer, waiting while the bytes not yet committed are at their bound."""
        size = weight(batch.rows) + sum(weight(more.rows) for more in batch.then)
        batch.charged = await self.write_gate.acquire(size)
        try:
            await self.writes.send(batch)
        except BaseException:
            self.write_gate.release(batch.charged)
            raise
        if batch.rows and not batch.update_only:
            self.progress.advance(batch.table, len(batch.rows))

    async def emit_together(self, batches: list[Batch]) -> None:
        """Batches that must commit in one transaction (e.g. label pairs and the versions they are for)."""
        first, *rest = batches
        first.then.extend(rest)
        await self.emit(first)

    async def flush(self) -> None:
        """Wait until every batch emitted so far is committed."""
        barrier = Batch("", done=anyio.Event())
        await self.writes.send(barrier)
        await barrier.done.wait()

    async def fetch_bytes(self, job: DownloadJob) -> None:
        """Queue bytes on their product's download queue, unless they are queued already. Rows are sent to the
        writer before their bytes are queued, so the download's update commits after the row (one writer, in
        order): bytes start while the listing goes on."""
        key = (job.product, job.item_id)
        if self.settings.attachments and key not in self.queued_downloads:
            self.queued_downloads.add(key)
            await self.downloads[job.product].send(job)

    def downloaded(self, job: DownloadJob) -> Callable[[], None]:
        """What the writer calls once a download's outcome is committed: it is no longer in flight."""
        return lambda: self.queued_downloads.discard((job.product, job.item_id))

    def fail(self, stream: str, error: BaseException) -> str:
        message = explain(error)
        self.errors.append(StreamError(stream, message))
        self.progress.error(stream, message)
        return message

    async def guarded(
        self,
        stream: str,
        work: Callable[..., Awaitable[None]],
        *args: Any,
        owes: list[str] | None = None,
        pays: list[str] | None = None,
    ) -> None:
        """Run one stream; record its failure, as debts named `owes` (default: the stream), and let the others go
        on (a full disk stops everything). Run to the end, it pays the debts named `pays` (default: `owes`).
        A stream that failed is resumed by the next run from its saved cursor or pending mark."""
        owes = owes or [stream]
        self.attempted.update(owes)
        try:
            await work(*args)
        except DiskFull:
            raise
        except Exception as error:
            if disk_full(error):
                raise disk_full(error) from None
            message = self.fail(stream, error)
            await self.owe([Debt("stream", key, message) for key in owes])
        else:
            self.completed.update(pays or owes)
            self.attempted.update(pays or owes)


def disk_full(error: BaseException) -> DiskFull | None:
    """A full disk inside a task group's exception group: it stops the whole run."""
    if isinstance(error, DiskFull):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = disk_full(inner)
            if found:
                return found
    return None
