"""The sync: producers -> bounded streams -> workers -> one writer.

    sources (one task per listing chain) --Batch--> writes (bounded) --> writer thread (SQLite, WAL)
                \\--DownloadJob--> downloads (bounded) --> download workers --Batch(sha256)--/

Bounded streams give backpressure: if SQLite or the disk is slower than the network, fetching waits
instead of piling rows up in memory. Every stream's failure is recorded and the others go on.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from .auth import Credentials
from .blobs import BlobStore
from .config import Settings
from .context import DownloadJob, StreamError, SyncContext
from .errors import ConfigError, PipelineError, leaves
from .http import GatewayClient
from .inflight import ByteGate
from .progress import Progress
from .sources import confluence, jira
from .sources.downloads import fetch_attachment
from .store import Batch, Store
from .tenant import check_cloud_id, discover_cloud_id

WRITE_BUFFER = 64
DOWNLOAD_BUFFER = 512
COALESCE = 64  # batches at most in one transaction
PRODUCTS = ("confluence", "jira")


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class SyncResult:
    run_id: int
    status: str  # ok | partial | failed | interrupted
    errors: list[StreamError] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    signal: int | None = None  # what interrupted the run
    warnings: list[StreamError] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status == "interrupted":
            return 128 + (self.signal or signal.SIGINT)  # 130 for SIGINT, 143 for SIGTERM, as shells report
        return {"ok": 0, "partial": 2, "failed": 1}[self.status]


async def resolve_cloud_id(settings: Settings) -> str:
    if settings.cloud_id:
        return check_cloud_id(settings.cloud_id)
    if not settings.site:
        raise ConfigError("say which site to sync: --site acme.atlassian.net (or --cloud-id)")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        return await discover_cloud_id(session, settings.site)


def prepare_blobs(settings: Settings, blobs: BlobStore) -> None:
    if not settings.attachments:
        return  # no bytes will be written: the folder need not exist
    try:
        blobs.prepare()
        probe = blobs.partial / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigError(
            f"cannot write attachments to {settings.attachments_dir} ({error.strerror}): choose a writable folder "
            "with --attachments-dir, or skip bytes with --no-attachments"
        ) from None


class Stopper:
    """One listener for SIGTERM/SIGINT shared by syncs running side by side (sync --all): a signal stops
    them all. Each sync listening on its own would not do: the event loop keeps one handler a signal, so the
    last to start would take it, and the first to finish would drop it for all."""

    def __init__(self) -> None:
        self.stops: list[Any] = []
        self.signalled: int | None = None  # a sync that registers after the signal stops at once

    def add(self, stop: Any) -> None:
        self.stops.append(stop)
        if self.signalled is not None:
            stop(self.signalled)

    async def listen(self, scope: anyio.CancelScope) -> None:
        with scope, anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
            async for signum in signals:
                self.signalled = self.signalled or signum
                for stop in list(self.stops):
                    stop(signum)


async def sync(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    stopper: Stopper | None = None,
) -> SyncResult:
    """Run one sync. Bad settings raise ConfigError before any request or write. `stopper`: signals are
    listened to by the caller, for several syncs at once."""
    credentials = Credentials.from_env(os.environ if environ is None else environ)
    progress = progress or Progress("quiet")
    store = Store(settings.db).open()
    blobs = BlobStore(settings.attachments_dir)
    try:
        store.lock()
        prepare_blobs(settings, blobs)
        cloud_id = await resolve_cloud_id(settings)
        return await _run(settings, credentials, cloud_id, store, blobs, progress, stopper)
    finally:
        blobs.close()  # this run's partial files go; another sync's in the same folder stay
        store.close()


async def _run(
    settings: Settings,
    credentials: Credentials,
    cloud_id: str,
    store: Store,
    blobs: BlobStore,
    progress: Progress,
    stopper: Stopper | None = None,
) -> SyncResult:
    options = {k: str(v) for k, v in asdict(settings).items()} | {"cloud_id": cloud_id}
    run_id = store.start_run(options)
    status, errors, ctx = "failed", [], None
    async with GatewayClient(settings, credentials, cloud_id, settings.site) as client:
        progress.stats_source = lambda: asdict(client.stats)
        try:
            ctx = await _pipeline(settings, client, store, blobs, progress, run_id, stopper)
            errors = ctx.errors + owed_from_before(ctx)
            nothing = errors and client.stats.succeeded == 0  # every request refused: nothing was synced
            status = "failed" if nothing else ("partial" if errors else "ok")
            status = "interrupted" if ctx.interrupted else status
        except PipelineError as error:
            errors = [StreamError("sync", str(error))]
            raise
        finally:
            stats = {k: v for k, v in asdict(client.stats).items() if isinstance(v, int)}
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(store.finish_run, run_id, status, stats, [asdict(e) for e in errors])
    counts = store.counts.as_dict()
    warnings = [StreamError(s, m) for s, m in progress.warnings]
    return SyncResult(run_id, status, errors, stats, counts, ctx.interrupted if ctx else None, warnings)


def owed_from_before(ctx: SyncContext) -> list[StreamError]:
    """Debts this run could have paid but did not, that it has not already named as its own failures:
    the exit status stays 2 while any remains."""
    rows = ctx.store.conn.execute("SELECT kind, key, run_id FROM sync_debts").fetchall()
    owed = [(kind, key) for kind, key, run in rows if run != ctx.run_id and covered(ctx, kind, key)]
    if not owed:
        return []
    return [
        StreamError(
            "earlier failures",
            f"{len(owed)} part(s) that failed in earlier runs are still owed: `atlassian-to-sqlite report` lists them",
        )
    ]


def obsolete_streams(ctx: SyncContext) -> set[str]:
    """Owed listings of a space or project that no longer exists: a run whose listing of every space (or
    project) went to the end without meeting them (no --spaces or --projects) settles them."""
    listed = {"confluence": ("confluence", ctx.settings.spaces), "jira": ("jira projects", ctx.settings.projects)}
    whole = {product for product, (listing, limited) in listed.items() if listing in ctx.completed and not limited}
    return {key for key, _ in ctx.owed("stream") if key.split(" ", 1)[0] in whole and key not in ctx.attempted}


def covered(ctx: SyncContext, kind: str, key: str) -> bool:
    """Whether this run set out to pay a debt: not a Jira debt in a --only confluence run, a download with
    --no-attachments, or an issue outside --projects."""
    return key in ctx.attempted if kind == "stream" else (kind, key) in ctx.tried


async def _pipeline(
    settings: Settings,
    client: GatewayClient,
    store: Store,
    blobs: BlobStore,
    progress: Progress,
    run_id: int,
    stopper: Stopper | None = None,
) -> SyncContext:
    write_send, write_receive = anyio.create_memory_object_stream[Batch](WRITE_BUFFER)
    queues = {p: anyio.create_memory_object_stream[DownloadJob](DOWNLOAD_BUFFER) for p in PRODUCTS}
    sends = {p: send for p, (send, _) in queues.items()}
    ctx = SyncContext(settings, client, store, blobs, write_send, sends, progress, run_id=run_id)
    try:
        await _run_tasks(ctx, settings, store, progress, write_send, write_receive, queues, stopper)
    except BaseExceptionGroup as group:
        raise first_pipeline_error(group) or group from None
    finally:
        ctx.db.close()
    return ctx


def first_pipeline_error(group: BaseExceptionGroup) -> PipelineError | None:
    """Task groups wrap errors; a user should see the one that explains what to do."""
    return next((e for e in leaves(group) if isinstance(e, PipelineError)), None)


async def _run_tasks(ctx, settings, store, progress, write_send, write_receive, queues, stopper=None):
    async with anyio.create_task_group() as outer:
        outer.start_soon(writer, store, write_receive, ctx.write_gate)
        ticker, listener = anyio.CancelScope(), anyio.CancelScope()
        outer.start_soon(_tick, progress, ticker)
        # the writer is outside `work`: when a signal cancels the fetching, what was fetched still commits
        async with write_send, anyio.create_task_group() as work:
            if stopper is None:
                outer.start_soon(stop_on_signal, ctx, work.cancel_scope, listener)
            else:
                stopper.add(lambda signum: interrupt(ctx, work.cancel_scope, signum))
            for _, receive in queues.values():  # each product's downloads have their own workers
                for _ in range(max(2, settings.concurrency)):
                    work.start_soon(download_worker, ctx, receive.clone())
                receive.close()
            async with AsyncExitStack() as senders, anyio.create_task_group() as sources:
                for send, _ in queues.values():
                    await senders.enter_async_context(send)
                if settings.wants("confluence"):
                    sources.start_soon(ctx.guarded, "confluence", confluence.sync, ctx)
                if settings.wants("jira"):
                    sources.start_soon(ctx.guarded, "jira", jira.sync, ctx)
            if not ctx.interrupted:  # streams that ran to the end have paid their debts
                paid = [("stream", s) for s in sorted(ctx.completed | obsolete_streams(ctx))]
                await ctx.emit(Batch("sync_debts", paid=paid))
        ticker.cancel()
        listener.cancel()


async def stop_on_signal(ctx: SyncContext, work: anyio.CancelScope, scope: anyio.CancelScope) -> None:
    """SIGTERM (Docker, Kubernetes, systemd, a cancelled CI job) or SIGINT stops fetching; what was fetched is
    committed and the run is recorded as interrupted. A second signal exits at once."""
    with scope:
        try:
            receiver = anyio.open_signal_receiver(*STOP_SIGNALS)
            signals = receiver.__enter__()
        except (RuntimeError, ValueError, NotImplementedError):
            return  # not the main thread (a library caller): the caller handles signals
        try:
            async for signum in signals:
                interrupt(ctx, work, signum)
        finally:
            receiver.__exit__(None, None, None)


def interrupt(ctx: SyncContext, work: anyio.CancelScope, signum: int) -> None:
    if ctx.interrupted:
        os._exit(128 + signum)
    ctx.interrupted = signum
    ctx.progress.error("sync", f"{signal.Signals(signum).name}: stopping; what was fetched is kept")
    work.cancel()


async def _tick(progress: Progress, scope: anyio.CancelScope) -> None:
    with scope:
        await progress.run()


async def writer(store: Store, receive: MemoryObjectReceiveStream[Batch], gate: ByteGate) -> None:
    """The single writer. Whatever has queued up commits in one transaction, in a worker thread so that
    fetching goes on meanwhile; each batch's checkpoint is in the same transaction as its rows. Once committed,
    a batch's bytes leave the write gate and whoever waits on it hears so."""
    async with receive:
        async for first in receive:
            batches = [first]
            while len(batches) < COALESCE:
                try:
                    batches.append(receive.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            todo = [b for b in batches if b.table]
            await anyio.to_thread.run_sync(store.write_many, todo)
            for batch in batches:
                gate.release(batch.charged)
                if batch.on_commit is not None:
                    batch.on_commit()
                if batch.done is not None:
                    batch.done.set()
            # an idle worker thread keeps its last job's arguments until its next job, and this loop keeps
            # `batches` until the next batch arrives: emptied, the committed rows are freed now
            todo.clear()
            batches.clear()


async def download_worker(ctx: SyncContext, receive: MemoryObjectReceiveStream[DownloadJob]) -> None:
    async with receive:
        async for job in receive:
            await download(ctx, job)


async def download(ctx: SyncContext, job: DownloadJob) -> None:
    await fetch_attachment(ctx, job)
    # no longer in flight once its outcome is committed: the writer goes in order, so this empty batch's
    # commit comes after the outcome's
    await ctx.emit(Batch("", on_commit=ctx.downloaded(job)))
