"""What a source needs from the run it is part of: the client, the two sinks, settings, and a place
to record what failed without stopping the rest."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from .blobs import BlobStore
from .config import Settings
from .errors import DiskFull, PipelineError
from .http import GatewayClient
from .progress import Progress
from .store import Batch, Store


@dataclass(frozen=True)
class DownloadJob:
    product: str
    path: str  # an API path or link for the bytes, re-rooted on the gateway by the client
    table: str
    item_id: str
    version: int | None
    size: int | None
    label: str  # what to call it in a message: never a path on disk


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
    downloads: MemoryObjectSendStream[DownloadJob]
    progress: Progress
    errors: list[StreamError] = field(default_factory=list)
    selected_containers: set[str] | None = None  # with --spaces: the pages and blog posts in scope
    notes: dict[str, Any] = field(default_factory=dict)

    async def emit(self, batch: Batch) -> None:
        await self.writes.send(batch)
        if batch.rows and not batch.update_only:
            self.progress.advance(batch.table, len(batch.rows))

    async def flush(self) -> None:
        """Wait until every batch emitted so far is committed."""
        barrier = Batch("", done=anyio.Event())
        await self.writes.send(barrier)
        await barrier.done.wait()

    async def fetch_bytes(self, job: DownloadJob) -> None:
        if self.settings.attachments:
            await self.downloads.send(job)

    def fail(self, stream: str, error: BaseException) -> None:
        message = str(error) if isinstance(error, PipelineError) else f"internal error: {type(error).__name__}: {error}"
        self.errors.append(StreamError(stream, message))
        self.progress.error(stream, message)

    async def guarded(self, stream: str, work: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run one stream; record its failure and let the others go on (a full disk stops everything)."""
        try:
            await work(*args)
        except DiskFull:
            raise
        except Exception as error:
            self.fail(stream, error)
