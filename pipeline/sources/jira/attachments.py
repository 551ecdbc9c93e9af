"""Attachment bytes: queued when not yet stored (a Jira attachment never changes), as soon as a bulk fetch's
rows are sent to the writer.

The bytes are always asked for at `/rest/api/3/attachment/content/{id}`, whatever the attachment's
`content` URL says: real sites hand out several forms (`/secure/attachment/{id}/{filename}` in older
data, `/jira/rest/api/3/...` in the spec's example), which re-rooted on the gateway are paths it does
not serve, while the id is always there (API_NOTES §7).
"""

from __future__ import annotations

from collections.abc import Iterable

from ...context import DownloadJob, SyncContext
from .rows import API, Row

COLUMNS = "id, size, sha256, download_refused"
CATCH_UP_CHUNK = 500


async def queue_listed(ctx: SyncContext, items: list[tuple[str, int | None]]) -> None:
    """Bytes for attachments just fetched, as (id, size), sent to the writer and not necessarily committed (the
    writer commits the row before the download's update): a new one needs its bytes; for one stored before,
    the store says whether it has them."""
    sql = "SELECT id, sha256, download_refused FROM jira_attachments WHERE id IN ({marks})"
    stored = {r[0]: r[1:] for r in ctx.lookup(sql, [i for i, _ in items])}
    await queue_rows(ctx, [(i, size, *stored.get(i, (None, None))) for i, size in items])


async def catch_up(ctx: SyncContext) -> None:
    """Every live attachment whose bytes are missing, read in chunks by id (memory stays flat)."""
    after = ""
    while True:
        chunk = ctx.db.execute(
            f"SELECT {COLUMNS} FROM jira_attachments WHERE id > ? AND deleted_at IS NULL ORDER BY id LIMIT ?",
            (after, CATCH_UP_CHUNK),
        ).fetchall()
        if not chunk:
            return
        after = chunk[-1][0]
        await queue_rows(ctx, chunk)


async def queue_downloads(ctx: SyncContext, ids: list[str]) -> set[str]:
    """Queue bytes for these attachments where they are not stored yet; returns those queued."""
    sql = f"SELECT {COLUMNS} FROM jira_attachments WHERE deleted_at IS NULL AND id IN ({{marks}})"
    return await queue_rows(ctx, ctx.lookup(sql, ids))


async def queue_rows(ctx: SyncContext, rows: Iterable[tuple]) -> set[str]:
    queued: set[str] = set()
    for attachment_id, size, sha, refused in rows:
        if sha and ctx.blobs.has(sha):
            continue
        if refused and not ctx.settings.full:  # the site said 403: asked again with --full
            continue
        queued.add(attachment_id)
        await ctx.fetch_bytes(
            DownloadJob(
                "jira",
                content_path(attachment_id),
                "jira_attachments",
                attachment_id,
                None,
                size,
                f"attachment {attachment_id}",
            )
        )
    return queued


def content_path(attachment_id: str) -> str:
    return f"{API}/attachment/content/{attachment_id}"


def listed(item: Row) -> tuple[str, int | None]:
    """What queueing needs of an attachment as bulkfetch returns it."""
    return str(item["id"]), item.get("size")
