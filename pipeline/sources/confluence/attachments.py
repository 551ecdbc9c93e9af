"""Attachments: site-wide metadata; bytes queued only for a version not yet stored."""

from __future__ import annotations

from ...context import DownloadJob, SyncContext
from ...store import Batch, Sweep
from .listing import chain_pages
from .rows import LIMIT, V2, attachment_row, download_path, seen
from .scope import container_scope, scoped

NO_CONTAINER = (
    "listed without a page, blog post or custom content, so its bytes have no download route a token may "
    "use; its metadata is stored, its bytes are not"
)


async def sync_attachments(ctx: SyncContext) -> None:
    chain = ctx.chain("confluence:attachments")
    async for page in chain_pages(ctx, chain, f"{V2}/attachments", {"limit": LIMIT}):
        rows = scoped(ctx, [attachment_row(item) for item in page.items])
        await ctx.emit(
            Batch(
                "confluence_attachments", seen(rows, chain.sweep), state=chain.checkpoint(page.next), sweep=chain.sweep
            )
        )
        await queue_downloads(ctx, [r["id"] for r in rows])
    scope, params = container_scope(ctx)
    close = Sweep("confluence_attachments", chain.sweep, scope, params)
    await ctx.emit(Batch("confluence_attachments", close=close, state={chain.stream: None}))
    await ctx.flush()
    await queue_downloads(ctx, None)  # anything an earlier, interrupted run listed but never downloaded


async def queue_downloads(ctx: SyncContext, ids: list[str] | None) -> set[str]:
    """Queue bytes for attachments whose stored bytes are missing or of another version."""
    if ids is None:
        scope, params = container_scope(ctx)
        rows = ctx.db.execute(
            f"SELECT id, container_id, version, file_size, sha256, sha256_version, download_refused "
            f"FROM confluence_attachments WHERE deleted_at IS NULL AND {scope}",
            params,
        ).fetchall()
    else:
        rows = ctx.lookup(
            "SELECT id, container_id, version, file_size, sha256, sha256_version, download_refused "
            "FROM confluence_attachments WHERE id IN ({marks})",
            ids,
        )
    queued: set[str] = set()
    for attachment_id, container, version, size, sha, sha_version, refused in rows:
        if sha and sha_version == version and ctx.blobs.has(sha):
            continue
        if refused and sha_version == version and not ctx.settings.full:  # 403 for this version: --full asks again
            continue
        if ("confluence", attachment_id) in ctx.queued_downloads:
            continue
        ctx.queued_downloads.add(("confluence", attachment_id))
        path = download_path(container, attachment_id)
        if path is None:  # kept without bytes, the reason stored and reported, not a failure
            if ctx.settings.attachments and refused != NO_CONTAINER:
                ctx.progress.warn(f"confluence attachment {attachment_id}", f"not stored: {NO_CONTAINER}")
                reason = {"id": attachment_id, "download_refused": NO_CONTAINER}
                await ctx.emit(Batch("confluence_attachments", [reason], update_only=True))
            continue
        queued.add(attachment_id)
        await ctx.fetch_bytes(
            DownloadJob(
                "confluence",
                path,
                "confluence_attachments",
                attachment_id,
                version,
                size,
                f"attachment {attachment_id}",
            )
        )
    return queued
