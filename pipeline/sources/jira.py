"""Jira: which endpoints, in what order, mapped to which rows; full on the first run, incremental after.

1. fields and projects (offset listing, fanned out once page 1 gives the total);
2. per project, in parallel: issue ids through search/jql with `fields=id` (thousands a page): all of
   them the first time; after that, only those updated since the project's mark, in epoch milliseconds
   (JQL reads date literals in the account's time zone; milliseconds have none) less an overlap for
   Jira's eventually consistent search, then all ids again (cheap) to notice deleted issues;
3. those ids 100 at a time through issue/bulkfetch (every field): the issues, their comments (inline when
   the inline list is complete, which stops at 20, else fetched in full), attachments (bytes queued only
   when not yet stored), and when switched on worklogs and changelogs.

An issue's children are swept per fetched issue: a comment or attachment gone from it gets `deleted_at`.
A run killed part way resumes in the same sweep and skips the issues that sweep already fetched.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import anyio

from ..context import DownloadJob, SyncContext
from ..errors import UnexpectedResponse
from ..paginate import offset_all, token_pages
from ..store import Batch, Sweep, dumps
from ..text import from_adf

API = "/rest/api/3"
BULK = 100  # issue/bulkfetch takes at most 100 ids
ID_PAGE = 5000  # search/jql serves up to 5000 ids a page when only ids are asked for
GROUP = 50  # projects listed together once they are known
CHILD_KEYS = ("comment", "worklog")  # stored in their own tables, not twice inside `fields`
Row = dict[str, Any]


# -- rows: API objects -> table rows (pure, tested without a network) ------------------------------
def utc(stamp: str | None) -> str | None:
    """Jira's 2024-05-01T03:00:00.000-0700 as 2024-05-01T10:00:00.000Z (sortable, one zone)."""
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp  # keep what Jira sent rather than lose it
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def name_of(value: Any) -> Any:
    return value.get("name") if isinstance(value, dict) else value


def account_of(value: Any) -> str | None:
    return value.get("accountId") if isinstance(value, dict) else None


def project_row(item: Row) -> Row:
    return {
        "id": str(item["id"]),
        "key": item.get("key"),
        "name": item.get("name"),
        "project_type": item.get("projectTypeKey"),
        "raw": dumps(item),
    }


def field_row(item: Row) -> Row:
    return {
        "id": str(item["id"]),
        "name": item.get("name"),
        "custom": int(bool(item.get("custom"))),
        "raw": dumps(item),
    }


def issue_row(item: Row) -> Row:
    fields = item.get("fields") or {}
    kept = {k: v for k, v in fields.items() if k not in CHILD_KEYS}
    return {
        "id": str(item["id"]),
        "key": item.get("key"),
        "project_id": (fields.get("project") or {}).get("id"),
        "summary": fields.get("summary"),
        "status": name_of(fields.get("status")),
        "issue_type": name_of(fields.get("issuetype")),
        "created": utc(fields.get("created")),
        "updated": utc(fields.get("updated")),
        "fields": dumps(kept),
        "description_text": from_adf(fields.get("description")),
    }


def comment_row(item: Row, issue_id: str) -> Row:
    return {
        "id": str(item["id"]),
        "issue_id": issue_id,
        "author_id": account_of(item.get("author")),
        "created": utc(item.get("created")),
        "updated": utc(item.get("updated")),
        "body": dumps(item.get("body")),
        "body_text": from_adf(item.get("body")),
        "raw": dumps(item),
    }


def attachment_row(item: Row, issue_id: str) -> Row:
    return {
        "id": str(item["id"]),
        "issue_id": issue_id,
        "filename": item.get("filename"),
        "mime_type": item.get("mimeType"),
        "size": item.get("size"),
        "created": utc(item.get("created")),
        "raw": dumps(item),
    }


def worklog_row(item: Row, issue_id: str) -> Row:
    return {
        "id": str(item["id"]),
        "issue_id": issue_id,
        "started": utc(item.get("started")),
        "time_spent_seconds": item.get("timeSpentSeconds"),
        "updated": utc(item.get("updated")),
        "raw": dumps(item),
    }


def changelog_row(item: Row, issue_id: str) -> Row:
    return {"id": str(item["id"]), "issue_id": issue_id, "created": utc(item.get("created")), "raw": dumps(item)}


def complete(listing: Any, key: str) -> list[Row] | None:
    """The inline list when it holds everything (total <= its length), else None."""
    if not isinstance(listing, dict) or not isinstance(listing.get(key), list):
        return None
    items = listing[key]
    total = listing.get("total")
    return items if isinstance(total, int) and total <= len(items) else None


# -- the sync -----------------------------------------------------------------------------------------
async def sync(ctx: SyncContext) -> None:
    projects: list[Row] = []
    async with anyio.create_task_group() as group:
        group.start_soon(ctx.guarded, "jira fields", sync_fields, ctx)
        group.start_soon(ctx.guarded, "jira projects", sync_projects, ctx, projects)
    bulk = anyio.CapacityLimiter(ctx.settings.concurrency)
    saved = {p["id"]: ({} if ctx.settings.full else ctx.saved(f"jira:issues:{p['id']}")) for p in projects}
    known = [p for p in projects if saved[p["id"]].get("mark") and not saved[p["id"]].get("pending")]
    async with anyio.create_task_group() as group:
        for project in projects:
            if project not in known:
                group.start_soon(ctx.guarded, f"jira issues of {project['key']}", sync_new_project, ctx, project, bulk)
        for start in range(0, len(known), GROUP):
            chunk = known[start : start + GROUP]
            marks = [int(saved[p["id"]]["mark"]) for p in chunk]
            group.start_soon(ctx.guarded, "jira issues", sync_known_projects, ctx, chunk, min(marks), bulk)
    await ctx.flush()
    await queue_downloads(ctx, None)  # anything an earlier, interrupted run stored but never downloaded


async def sync_fields(ctx: SyncContext) -> None:
    response = await ctx.client.get("jira", f"{API}/field")
    if not isinstance(response.data, list):
        raise UnexpectedResponse(f"{API}/field did not answer a list")
    await ctx.emit(Batch("jira_fields", [field_row(f) for f in response.data]))


async def sync_projects(ctx: SyncContext, found: list[Row]) -> None:
    params = {"keys": list(ctx.settings.projects)} if ctx.settings.projects else None  # sent repeated
    sweep = ctx.run_id

    async def save(items: list[Row]) -> None:
        found.extend({"id": str(p["id"]), "key": p.get("key")} for p in items)
        await ctx.emit(Batch("jira_projects", [{**project_row(p), "seen_sweep": sweep} for p in items]))

    await offset_all(ctx.client, "jira", f"{API}/project/search", "values", save, params)
    if ctx.settings.projects:
        missing = set(ctx.settings.projects) - {p["key"] for p in found}
        if missing:
            ctx.fail("jira projects", LookupError(f"no project with key {', '.join(sorted(missing))} is visible"))
    else:
        await ctx.emit(Batch("jira_projects", close=Sweep("jira_projects", sweep)))


async def sync_new_project(ctx: SyncContext, project: Row, bulk: anyio.CapacityLimiter) -> None:
    """A project seen for the first time: every issue. A killed first run resumes in its sweep."""
    stream = f"jira:issues:{project['id']}"
    saved = {} if ctx.settings.full else ctx.saved(stream)
    sweep = int(saved["sweep"]) if saved.get("pending") else ctx.run_id
    started_ms = int(time.time() * 1000)
    await ctx.emit(Batch("jira_issues", state={stream: dumps({"sweep": sweep, "pending": True})}))
    async with anyio.create_task_group() as fetches:
        await list_issues(ctx, f"project = {project['id']}", sweep, fetches, bulk, touch=True)
    await close_projects(ctx, [project], sweep, started_ms, {})


async def sync_known_projects(ctx: SyncContext, projects: list[Row], mark: int, bulk: anyio.CapacityLimiter) -> None:
    """Projects synced before, together: the issues updated since the mark (less the overlap), then every
    id, to notice deleted issues. Two short listings for up to fifty projects."""
    stream = f"jira:issues:since:{projects[0]['id']}"
    saved = ctx.saved(stream)
    sweep = int(saved["sweep"]) if saved.get("pending") else ctx.run_id
    started_ms = int(time.time() * 1000)
    await ctx.emit(Batch("jira_issues", state={stream: dumps({"sweep": sweep, "pending": True})}))
    ids = ", ".join(p["id"] for p in projects)
    since = mark - ctx.settings.jira_overlap_minutes * 60_000
    async with anyio.create_task_group() as fetches:
        await list_issues(ctx, f"project in ({ids}) AND updated >= {since}", sweep, fetches, bulk, touch=False)
    await list_issues(ctx, f"project in ({ids})", sweep, None, bulk, touch=True)
    await close_projects(ctx, projects, sweep, started_ms, {stream: None})


async def close_projects(
    ctx: SyncContext, projects: list[Row], sweep: int, started_ms: int, state: dict[str, str | None]
) -> None:
    """Issues the sweep did not see are gone, and so are their children; the projects' marks move on."""
    ids = tuple(p["id"] for p in projects)
    marks = ", ".join("?" * len(ids))
    done = dumps({"mark": started_ms, "sweep": sweep, "pending": False})
    state = {**state, **{f"jira:issues:{p['id']}": done for p in projects}}
    gone = f"issue_id IN (SELECT id FROM jira_issues WHERE project_id IN ({marks}) AND deleted_at IS NOT NULL)"
    closes = [Batch("jira_issues", close=Sweep("jira_issues", sweep, f"project_id IN ({marks})", ids), state=state)]
    closes += [Batch(t, close=Sweep(t, -1, gone, ids)) for t in CHILD_TABLES]
    await ctx.emit_together(closes)


async def list_issues(
    ctx: SyncContext, jql: str, sweep: int, fetches, bulk: anyio.CapacityLimiter, touch: bool
) -> None:
    """Page through issue ids; touch them for the sweep, and/or fetch those this sweep has not fetched."""
    body = {"jql": f"{jql} ORDER BY id ASC", "fields": ["id"], "maxResults": ID_PAGE}
    async for page in token_pages(ctx.client, "jira", f"{API}/search/jql", body):
        ids = [str(issue["id"]) for issue in page.items]
        if touch:
            await ctx.emit(Batch("jira_issues", touch=ids, sweep=sweep))
        if fetches is None:
            continue
        done = {
            r[0]
            for r in ctx.lookup("SELECT id FROM jira_issues WHERE id IN ({marks}) AND fetched_sweep = ?", ids, sweep)
        }
        wanted = [i for i in ids if i not in done]
        for start in range(0, len(wanted), BULK):
            fetches.start_soon(_fetch_limited, ctx, bulk, wanted[start : start + BULK], sweep)


async def _fetch_limited(ctx: SyncContext, bulk: anyio.CapacityLimiter, ids: list[str], sweep: int) -> None:
    async with bulk:
        await ctx.guarded(f"jira issues {ids[0]}..{ids[-1]}", fetch_issues, ctx, ids, sweep)


async def fetch_issues(ctx: SyncContext, ids: list[str], sweep: int) -> None:
    body = {"issueIdsOrKeys": ids, "fields": ["*all"], "fieldsByKeys": False}
    response = await ctx.client.post("jira", f"{API}/issue/bulkfetch", body)
    issues = response.data.get("issues") if isinstance(response.data, dict) else None
    if not isinstance(issues, list):
        raise UnexpectedResponse(f"{API}/issue/bulkfetch answered without an 'issues' list")
    errors = response.data.get("issueErrors") or []
    await ctx.emit(Batch("jira_issues", [{**issue_row(issue), "seen_sweep": sweep} for issue in issues]))
    children = IssueChildren(sweep, ctx.settings.jira_worklogs)
    for issue in issues:
        await children.collect(ctx, issue)
    await children.emit(ctx)
    if ctx.settings.jira_changelogs:
        await sync_changelogs(ctx, [str(i["id"]) for i in issues])
    # last: an issue counts as fetched in this sweep only once everything under it is committed
    fetched = [{"id": str(i["id"]), "fetched_sweep": sweep} for i in issues]
    await ctx.emit(Batch("jira_issues", fetched, update_only=True))
    if errors:
        retry = [str(e.get("id")) for e in errors if e.get("id")]
        raise UnexpectedResponse(
            f"Jira could not return issues {', '.join(retry[:10])}: {errors[0].get('errorMessage')}"
        )


CHILD_TABLES = ("jira_comments", "jira_attachments", "jira_worklogs")


class IssueChildren:
    """The comments, attachments and worklogs of one bulkfetch: one batch per table, then their sweeps."""

    def __init__(self, sweep: int, worklogs: bool) -> None:
        self.sweep, self.worklogs = sweep, worklogs
        self.rows: dict[str, list[Row]] = {t: [] for t in CHILD_TABLES}
        self.issue_ids: list[str] = []

    async def collect(self, ctx: SyncContext, issue: Row) -> None:
        issue_id = str(issue["id"])
        self.issue_ids.append(issue_id)
        fields = issue.get("fields") or {}
        comments = complete(fields.get("comment"), "comments")
        if comments is None:  # more than the inline 20: fetch them all
            comments = await fetch_all(ctx, f"{API}/issue/{issue_id}/comment", "comments")
        self.rows["jira_comments"] += [comment_row(c, issue_id) for c in comments]
        self.rows["jira_attachments"] += [attachment_row(a, issue_id) for a in fields.get("attachment") or []]
        if self.worklogs:
            worklogs = complete(fields.get("worklog"), "worklogs")
            if worklogs is None:
                worklogs = await fetch_all(ctx, f"{API}/issue/{issue_id}/worklog", "worklogs")
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


async def queue_downloads(ctx: SyncContext, ids: list[str] | None) -> None:
    """Queue bytes for attachments not yet stored (Jira attachments never change: a new file is a new id)."""
    sql = "SELECT id, json_extract(raw, '$.content'), size, sha256 FROM jira_attachments WHERE deleted_at IS NULL"
    rows = ctx.db.execute(sql).fetchall() if ids is None else ctx.lookup(sql + " AND id IN ({marks})", ids)
    for attachment_id, content, size, sha in rows:
        if (sha and ctx.blobs.has(sha)) or ("jira", attachment_id) in ctx.queued_downloads:
            continue
        ctx.queued_downloads.add(("jira", attachment_id))
        path = content or f"{API}/attachment/content/{attachment_id}"
        await ctx.fetch_bytes(
            DownloadJob("jira", path, "jira_attachments", attachment_id, None, size, f"attachment {attachment_id}")
        )


async def sync_changelogs(ctx: SyncContext, ids: list[str]) -> None:
    body = {"issueIdsOrKeys": ids, "maxResults": 10000}
    async for page in token_pages(ctx.client, "jira", f"{API}/changelog/bulkfetch", body, "issueChangeLogs"):
        rows = [changelog_row(h, str(log["issueId"])) for log in page.items for h in log.get("changeHistories", [])]
        if rows:
            await ctx.emit(Batch("jira_changelogs", rows))
