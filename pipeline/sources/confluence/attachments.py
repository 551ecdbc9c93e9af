"""Attachments: site-wide metadata; bytes queued only for a version not yet stored, as soon as a listing page's
rows are sent to the writer."""

from __future__ import annotations

from collections.abc import Iterable

from ...context import DownloadJob, SyncContext
from ...store import Batch, Sweep
from .listing import chain_pages
from .rows import LIMIT, V2, Row, attachment_row, download_path, seen
from .scope import container_scope, scoped

NO_CONTAINER = (
    "listed without a page, blog post or custom content, so its bytes have no download route a token may "
    "use; its metadata is stored, its bytes are not"
)
COLUMNS = "id, container_id, version, file_size, sha256, sha256_version, download_refused"
CATCH_UP_CHUNK = 500


async def sync_attachments(ctx: SyncContext) -> None:
    chain = ctx.chain("confluence:attachments")
    async for page in chain_pages(ctx, chain, f"{V2}/attachments", {"limit": LIMIT}):
        rows = scoped(ctx, [attachment_row(item) for item in page.items])
        await ctx.emit(
            Batch(
                "confluence_attachments", seen(rows, chain.sweep), state=chain.checkpoint(page.next), sweep=chain.sweep
            )
        )
        await queue_listed(ctx, rows)
    scope, params = container_scope(ctx)
    close = Sweep("confluence_attachments", chain.sweep, scope, params)
    await ctx.emit(Batch("confluence_attachments", close=close, state={chain.stream: None}))
    await ctx.flush()
    await catch_up(ctx)  # anything an earlier, interrupted run listed but never downloaded


async def queue_listed(ctx: SyncContext, rows: list[Row]) -> None:
    """Bytes for attachments just listed (sent to the writer, not necessarily committed: the writer commits
    the row before the download's update). What the store knows of their bytes comes from the store, the rest
    from the listing; a new attachment needs its bytes."""
    sql = "SELECT id, sha256, sha256_version, download_refused FROM confluence_attachments WHERE id IN ({marks})"
    stored = {r[0]: r[1:] for r in ctx.lookup(sql, [r["id"] for r in rows])}
    listed = [
        (r["id"], r["container_id"], r["version"], r["file_size"], *stored.get(r["id"], (None, None, None)))
        for r in rows
    ]
    await queue_rows(ctx, listed)


async def catch_up(ctx: SyncContext) -> None:
    """Every live attachment in scope whose bytes are missing, read in chunks by id: memory stays flat
    whatever the site's size, and no read transaction stays open while a queue is full."""
    scope, params = container_scope(ctx)
    after = ""
    while True:
        chunk = ctx.db.execute(
            f"SELECT {COLUMNS} FROM confluence_attachments WHERE id > ? AND deleted_at IS NULL AND {scope} "
            f"ORDER BY id LIMIT {CATCH_UP_CHUNK}",
            (after, *params),
        ).fetchall()
        if not chunk:
            return
        after = chunk[-1][0]
        await queue_rows(ctx, chunk)


async def queue_downloads(ctx: SyncContext, ids: list[str]) -> set[str]:
    """Queue bytes for these attachments where they are missing or of another version; returns those queued."""
    return await queue_rows(
        ctx, ctx.lookup(f"SELECT {COLUMNS} FROM confluence_attachments WHERE id IN ({{marks}})", ids)
    )


async def queue_rows(ctx: SyncContext, rows: Iterable[tuple]) -> set[str]:
    queued: set[str] = set()
    for attachment_id, container, version, size, sha, sha_version, refused in rows:
        if sha and sha_version == version and ctx.blobs.has(sha):
            continue
        if refused and sha_version == version and not ctx.settings.full:  # 403 for this version: --full asks again
            continue
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
