"""Attachment bytes: queued when not yet stored (a Jira attachment never changes)."""

from __future__ import annotations

from ...context import DownloadJob, SyncContext
from .rows import API


async def queue_downloads(ctx: SyncContext, ids: list[str] | None) -> set[str]:
    """Queue bytes for attachments not yet stored (Jira attachments never change: a new file is a new id)."""
    sql = (
        "SELECT id, json_extract(raw, '$.content'), size, sha256, download_refused FROM jira_attachments "
        "WHERE deleted_at IS NULL"
    )
    rows = ctx.db.execute(sql).fetchall() if ids is None else ctx.lookup(sql + " AND id IN ({marks})", ids)
    queued: set[str] = set()
    for attachment_id, content, size, sha, refused in rows:
        if (sha and ctx.blobs.has(sha)) or ("jira", attachment_id) in ctx.queued_downloads:
            continue
        if refused and not ctx.settings.full:  # the site said 403: asked again with --full
            continue
        ctx.queued_downloads.add(("jira", attachment_id))
        queued.add(attachment_id)
        path = content or f"{API}/attachment/content/{attachment_id}"
        await ctx.fetch_bytes(
            DownloadJob("jira", path, "jira_attachments", attachment_id, None, size, f"attachment {attachment_id}")
        )
    return queued
