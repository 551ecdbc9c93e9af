"""Changelogs through changelog/bulkfetch."""

from __future__ import annotations

from ...context import SyncContext
from ...paginate import token_pages
from ...store import Batch
from .rows import API, changelog_row


async def sync_changelogs(ctx: SyncContext, ids: list[str]) -> None:
    body = {"issueIdsOrKeys": ids, "maxResults": 10000}
    async for page in token_pages(ctx.client, "jira", f"{API}/changelog/bulkfetch", body, "issueChangeLogs"):
        rows = [changelog_row(h, str(log["issueId"])) for log in page.items for h in log.get("changeHistories", [])]
        if rows:
            await ctx.emit(Batch("jira_changelogs", rows))
