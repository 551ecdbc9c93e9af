"""The comments, attachments and worklogs of fetched issues, swept per issue."""

from __future__ import annotations

from ...context import SyncContext
from ...errors import NotFound
from ...paginate import offset_all
from ...store import Batch, Sweep
from .attachments import queue_downloads
from .rows import API, Row, attachment_row, comment_row, complete, worklog_row

CHILD_TABLES = ("jira_comments", "jira_attachments", "jira_worklogs")


class IssueChildren:
    """The comments, attachments and worklogs of one bulkfetch: one batch per table, then their sweeps."""

    def __init__(self, sweep: int, worklogs: bool) -> None:
        self.sweep, self.worklogs = sweep, worklogs
        self.rows: dict[str, list[Row]] = {t: [] for t in CHILD_TABLES}
        self.issue_ids: list[str] = []

    async def collect(self, ctx: SyncContext, issue: Row) -> None:
        """One issue's children. An issue deleted between the bulkfetch and its comment listing (404) is left
        out, its stored children untouched: the next listing's sweep marks it and them deleted."""
        issue_id = str(issue["id"])
        fields = issue.get("fields") or {}
        try:
            comments = complete(fields.get("comment"), "comments")
            if comments is None:  # more than the inline 20: fetch them all
                comments = await fetch_all(ctx, f"{API}/issue/{issue_id}/comment", "comments")
            worklogs = complete(fields.get("worklog"), "worklogs") if self.worklogs else []
            if worklogs is None:
                worklogs = await fetch_all(ctx, f"{API}/issue/{issue_id}/worklog", "worklogs")
        except NotFound:
            return
        self.issue_ids.append(issue_id)
        self.rows["jira_comments"] += [comment_row(c, issue_id) for c in comments]
        self.rows["jira_attachments"] += [attachment_row(a, issue_id) for a in fields.get("attachment") or []]
        self.rows["jira_worklogs"] += [worklog_row(w, issue_id) for w in worklogs]

    async def emit(self, ctx: SyncContext) -> None:
        if not self.issue_ids:
            return
        scope = f"issue_id IN ({', '.join('?' * len(self.issue_ids))})"
        batches = []
        for table, rows in self.rows.items():
            if table == "jira_worklogs" and not self.worklogs:
                continue
            batches.append(
                Batch(
                    table,
                    [{**r, "seen_sweep": self.sweep} for r in rows],
                    close=Sweep(table, self.sweep, scope, tuple(self.issue_ids)),
                )
            )
        await ctx.emit_together(batches)
        await queue_downloads(ctx, [r["id"] for r in self.rows["jira_attachments"]])


async def fetch_all(ctx: SyncContext, path: str, key: str) -> list[Row]:
    found: list[Row] = []

    async def keep(items: list[Row]) -> None:
        found.extend(items)

    await offset_all(ctx.client, "jira", path, key, keep, page_size=5000)
    return found
