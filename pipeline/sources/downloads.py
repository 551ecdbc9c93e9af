"""Attachment bytes: one download and what its answer means, and the downloads earlier runs failed to make,
queued before anything else, as debts are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..context import DownloadJob, SyncContext
from ..errors import ApiError, DiskFull, NotFound
from ..store import Batch, Debt, now_iso

# where an attachment's metadata is asked for when its download answers 404: the specs give 404 there also for
# "attachments are disabled in the Jira settings" and "the calling user does not have permission to view it"
METADATA = {"jira": "/rest/api/3/attachment/{id}", "confluence": "/wiki/api/v2/attachments/{id}"}


async def pay_download_debts(
    ctx: SyncContext, table: str, queue: Callable[[SyncContext, list[str]], Awaitable[set[str]]]
) -> None:
    """Queue the owed downloads of one attachments table. A debt whose attachment wants no bytes any more
    (deleted since, stored meanwhile, or refused for good) is settled here, or it would be owed forever."""
    owed = [key.split(":", 1)[1] for key, _ in ctx.owed("download") if key.startswith(f"{table}:")]
    if not owed or not ctx.settings.attachments:  # --no-attachments: owed bytes wait for a run that wants them
        return
    ctx.tried.update(("download", f"{table}:{i}") for i in owed)
    queued = await queue(ctx, owed)
    settled = [("download", f"{table}:{i}") for i in owed if i not in queued]
    if settled:
        await ctx.emit(Batch(table, paid=settled))


async def fetch_attachment(ctx: SyncContext, job: DownloadJob) -> None:
    """One attachment's bytes. A failure is owed (the next run tries again). A permanent answer is not a failure
    that would turn every night red: 403, or a 404 while the attachment's metadata still answers, is recorded as
    refused; a 404 that its metadata confirms marks the attachment deleted."""
    key = ("download", f"{job.table}:{job.item_id}")
    stream = f"{job.product} {job.label}"
    try:
        stored = await ctx.client.download(job.product, job.path, ctx.blobs.writer(), job.size)
    except DiskFull:
        raise
    except ApiError as error:
        if error.status not in (403, 404, 410):
            await ctx.owe([Debt(*key, ctx.fail(stream, error))])
        else:
            await permanent_answer(ctx, job, error, stream)
        return
    except Exception as error:
        await ctx.owe([Debt(*key, ctx.fail(stream, error))])
        return
    row: dict[str, Any] = {"id": job.item_id, "sha256": stored.sha256, "download_refused": None}
    if job.table == "confluence_attachments":
        row["sha256_version"] = job.version
    ctx.progress.advance("attachment bytes stored" if stored.new else "attachment bytes already stored")
    await ctx.emit(Batch(job.table, [row], update_only=True, paid=[key]))


async def permanent_answer(ctx: SyncContext, job: DownloadJob, error: ApiError, stream: str) -> None:
    key = ("download", f"{job.table}:{job.item_id}")
    try:
        gone = error.status != 403 and not await still_listed(ctx, job)
    except DiskFull:
        raise
    except Exception as doubt:  # the question failed: owed, asked again next run
        await ctx.owe([Debt(*key, ctx.fail(stream, doubt))])
        return
    change: dict[str, Any] = {"deleted_at": now_iso()} if gone else {"download_refused": str(error)}
    if not gone and job.table == "confluence_attachments":
        change["sha256_version"] = job.version  # refused for this version: a new version is asked again
    ctx.progress.warn(stream, "gone since it was listed: marked deleted" if gone else f"not stored: {error}")
    await ctx.emit(Batch(job.table, [{"id": job.item_id, **change}], update_only=True, paid=[key]))


async def still_listed(ctx: SyncContext, job: DownloadJob) -> bool:
    """Whether the attachment's metadata still answers (then its bytes are refused, not gone)."""
    try:
        await ctx.client.get(job.product, METADATA[job.product].format(id=job.item_id))
    except NotFound:
        return False
    return True
