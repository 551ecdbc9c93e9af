"""What hangs off fetched issues, swept per issue: comments and attachments, the links the issue takes part
in, and the sprints its Sprint field names. Worklogs are listed site-wide (worklogs.py); the ones an issue
carries inline when it carries all of them are stored too (no request), not swept: deletions come from
worklog/deleted."""

from __future__ import annotations

import orjson

from ...context import SyncContext
from ...errors import NotFound
from ...paginate import offset_all
from ...store import Batch, Sweep
from .attachments import listed, queue_listed
from .links import link_row
from .rows import API, Row, attachment_row, comment_row, complete, worklog_row
from .sprints import issue_sprint_rows, sprint_fields

# tables whose rows belong to one issue: gone with it (worklogs too, though listed site-wide)
CHILD_TABLES = ("jira_comments", "jira_attachments", "jira_worklogs", "jira_issue_sprints")
PER_ISSUE = ("jira_comments", "jira_attachments", "jira_issue_sprints")  # swept per fetched issue


class IssueChildren:
    """The children of one bulkfetch: one batch per table, then their sweeps."""

    def __init__(self, sweep: int, sprint_field_ids: list[str] | None = None, worklogs: bool = True) -> None:
        self.sweep, self.worklogs = sweep, worklogs
        self.sprint_field_ids = sprint_field_ids or []
        self.inline_worklogs: list[Row] = []
        self.rows: dict[str, list[Row]] = {t: [] for t in PER_ISSUE}
        self.links: dict[str, Row] = {}
        self.sprints: dict[str, Row] = {}
        self.issue_ids: list[str] = []
        self.attachments: list[tuple[str, int | None]] = []  # what queueing their bytes needs

    async def collect(self, ctx: SyncContext, issue: Row) -> None:
        """One issue's children. An issue deleted between the bulkfetch and its comment listing (404) is left
        out, its stored children untouched: the next listing's sweep marks it and them deleted."""
        issue_id = str(issue["id"])
        fields = issue.get("fields") or {}
        try:
            comments = complete(fields.get("comment"), "comments")
            if comments is None:  # more than the inline 20: fetch them all
                comments = await fetch_all(ctx, f"{API}/issue/{issue_id}/comment", "comments")
        except NotFound:
            return
        self.issue_ids.append(issue_id)
        self.rows["jira_comments"] += [comment_row(c, issue_id) for c in comments]
        self.rows["jira_attachments"] += [attachment_row(a, issue_id) for a in fields.get("attachment") or []]
        self.attachments += [listed(a) for a in fields.get("attachment") or []]
        if self.worklogs:
            self.inline_worklogs += [
                worklog_row(w, issue_id) for w in complete(fields.get("worklog"), "worklogs") or []
            ]
        for link in fields.get("issuelinks") or []:
            row = link_row(link, issue_id)
            if row:
                self.links[row["id"]] = row  # a link between two fetched issues shows on both: kept once
        sprints, pairs = issue_sprint_rows(fields, issue_id, self.sprint_field_ids)
        self.sprints.update((s["id"], s) for s in sprints)
        self.rows["jira_issue_sprints"] += pairs

    async def emit(self, ctx: SyncContext) -> None:
        if not self.issue_ids:
            return
        marks = ", ".join("?" * len(self.issue_ids))
        scope = f"issue_id IN ({marks})"
        ids = tuple(self.issue_ids)
        batches = [Batch("jira_sprints", list(self.sprints.values()))] if self.sprints else []
        if self.inline_worklogs:
            batches.append(Batch("jira_worklogs", self.inline_worklogs))
        for table, rows in self.rows.items():
            seen = [{**r, "seen_sweep": self.sweep} for r in rows]
            batches.append(Batch(table, seen, close=Sweep(table, self.sweep, scope, ids)))
        links = [{**r, "seen_sweep": self.sweep} for r in self.links.values()]
        ends = f"inward_issue_id IN ({marks}) OR outward_issue_id IN ({marks})"
        batches.append(Batch("jira_issue_links", links, close=Sweep("jira_issue_links", self.sweep, ends, ids + ids)))
        await ctx.emit_together(batches)
        await queue_listed(ctx, self.attachments)


def links_of_gone(marks: str, project_ids: tuple[str, ...]) -> list[Batch]:
    """A deleted issue takes its links with it, whichever end it was."""
    gone = f"SELECT id FROM jira_issues WHERE project_id IN ({marks}) AND deleted_at IS NOT NULL"
    scope = f"inward_issue_id IN ({gone}) OR outward_issue_id IN ({gone})"
    return [Batch("jira_issue_links", close=Sweep("jira_issue_links", -1, scope, project_ids + project_ids))]


async def fetch_all(ctx: SyncContext, path: str, key: str) -> list[Row]:
    found: list[Row] = []

    async def keep(items: list[Row]) -> None:
        found.extend(items)

    await offset_all(ctx.client, "jira", path, key, keep, page_size=5000)
    return found


def sprint_field_ids(ctx: SyncContext) -> list[str]:
    """The Sprint field's ids, from this run's field listing or, failing that, the stored one."""
    if "jira_sprint_fields" not in ctx.notes:
        stored = ctx.db.execute("SELECT raw FROM jira_fields").fetchall()
        ctx.notes["jira_sprint_fields"] = sprint_fields([orjson.loads(r[0]) for r in stored])
    return ctx.notes["jira_sprint_fields"]
