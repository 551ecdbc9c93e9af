"""Attachment bytes: queued when not yet stored (a Jira attachment never changes).

The bytes are always asked for at `/rest/api/3/attachment/content/{id}`, whatever the attachment's
`content` URL says: real sites hand out several forms (`/secure/attachment/{id}/{filename}` in older
data, `/jira/rest/api/3/...` in the spec's example), which re-rooted on the gateway are paths it does
not serve, while the id is always there (API_NOTES §7).
"""

from __future__ import annotations

from ...context import DownloadJob, SyncContext
from .rows import API


async def queue_downloads(ctx: SyncContext, ids: list[str] | None) -> set[str]:
    """Queue bytes for attachments not yet stored (Jira attachments never change: a new file is a new id)."""
    sql = "SELECT id, size, sha256, download_refused FROM jira_attachments WHERE deleted_at IS NULL"
    rows = ctx.db.execute(sql).fetchall() if ids is None else ctx.lookup(sql + " AND id IN ({marks})", ids)
    queued: set[str] = set()
    for attachment_id, size, sha, refused in rows:
        if (sha and ctx.blobs.has(sha)) or ("jira", attachment_id) in ctx.queued_downloads:
            continue
        if refused and not ctx.settings.full:  # the site said 403: asked again with --full
            continue
        ctx.queued_downloads.add(("jira", attachment_id))
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
