"""Jira: which endpoints, in what order, mapped to which rows.

Order of a full sync, chosen for the fewest requests (see the README's request formula):
1. fields and projects (offset listing, fanned out once page 1 gives the total);
2. per project, in parallel: issue ids through search/jql with `fields=id` (thousands a page);
3. a pool of workers fetches those ids 100 at a time with issue/bulkfetch (every field), writes the
   issues, their inline comments when the inline list is complete (it stops at 20), fetches the rest
   of the comments only for the issues that have more, queues attachment bytes, and, when switched
   on, worklogs and changelogs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from ..context import DownloadJob, SyncContext
from ..errors import UnexpectedResponse
from ..paginate import offset_all, token_pages
from ..store import Batch, dumps

API = "/rest/api/3"
BULK = 100  # issue/bulkfetch takes at most 100 ids
ID_PAGE = 5000  # search/jql serves up to 5000 ids a page when only ids are asked for
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
    }


def comment_row(item: Row, issue_id: str) -> Row:
    return {
        "id": str(item["id"]),
        "issue_id": issue_id,
        "author_id": account_of(item.get("author")),
        "created": utc(item.get("created")),
        "updated": utc(item.get("updated")),
        "body": dumps(item.get("body")),
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


# -- streams ----------------------------------------------------------------------------------------
async def sync(ctx: SyncContext) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(ctx.guarded, "jira fields", sync_fields, ctx)
        projects: list[Row] = []
        group.start_soon(ctx.guarded, "jira projects", sync_projects, ctx, projects)
    send, receive = anyio.create_memory_object_stream[list[str]](ctx.settings.concurrency * 2)
    async with anyio.create_task_group() as group:
        for _ in range(ctx.settings.concurrency):
            group.start_soon(bulk_worker, ctx, receive.clone())
        receive.close()
        async with send:
            limiter = anyio.CapacityLimiter(ctx.settings.concurrency)
            async with anyio.create_task_group() as listing:
                for project in projects:
                    listing.start_soon(_list_project, limiter, ctx, project, send)


async def sync_fields(ctx: SyncContext) -> None:
    response = await ctx.client.get("jira", f"{API}/field")
    if not isinstance(response.data, list):
        raise UnexpectedResponse(f"{API}/field did not answer a list")
    await ctx.emit(Batch("jira_fields", [field_row(f) for f in response.data]))


async def sync_projects(ctx: SyncContext, found: list[Row]) -> None:
    params = {"keys": ",".join(ctx.settings.projects)} if ctx.settings.projects else None

    async def save(items: list[Row]) -> None:
        found.extend({"id": str(p["id"]), "key": p.get("key")} for p in items)
        await ctx.emit(Batch("jira_projects", [project_row(p) for p in items]))

    await offset_all(ctx.client, "jira", f"{API}/project/search", "values", save, params)
    missing = set(ctx.settings.projects) - {p["key"] for p in found}
    if missing:
        ctx.fail("jira projects", LookupError(f"no project with key {', '.join(sorted(missing))} is visible"))


async def _list_project(limiter: anyio.CapacityLimiter, ctx: SyncContext, project: Row, send) -> None:
    async with limiter:
        await ctx.guarded(f"jira issues of {project['key']}", list_issue_ids, ctx, project, send)


async def list_issue_ids(ctx: SyncContext, project: Row, send) -> None:
    body = {"jql": f"project = {project['id']} ORDER BY id ASC", "fields": ["id"], "maxResults": ID_PAGE}
    async for page in token_pages(ctx.client, "jira", f"{API}/search/jql", body):
        ids = [str(issue["id"]) for issue in page.items]
        for start in range(0, len(ids), BULK):
            await send.send(ids[start : start + BULK])


async def bulk_worker(ctx: SyncContext, receive: MemoryObjectReceiveStream[list[str]]) -> None:
    async with receive:
        async for ids in receive:
            await ctx.guarded(f"jira issues {ids[0]}..{ids[-1]}", fetch_issues, ctx, ids)


async def fetch_issues(ctx: SyncContext, ids: list[str]) -> None:
    body = {"issueIdsOrKeys": ids, "fields": ["*all"], "fieldsByKeys": False}
    response = await ctx.client.post("jira", f"{API}/issue/bulkfetch", body)
    issues = response.data.get("issues") if isinstance(response.data, dict) else None
    if not isinstance(issues, list):
        raise UnexpectedResponse(f"{API}/issue/bulkfetch answered without an 'issues' list")
    errors = response.data.get("issueErrors") or []
    await ctx.emit(Batch("jira_issues", [issue_row(issue) for issue in issues]))
    children = IssueChildren()
    for issue in issues:
        await children.collect(ctx, issue)
    await children.emit(ctx)
    if ctx.settings.jira_changelogs:
        await sync_changelogs(ctx, [str(i["id"]) for i in issues])
    if errors:
        retry = [str(e.get("id")) for e in errors if e.get("id")]
        raise UnexpectedResponse(
            f"Jira could not return issues {', '.join(retry[:10])}: {errors[0].get('errorMessage')}"
        )


class IssueChildren:
    """The comments, attachments and worklogs of one bulkfetch, written as one batch per table."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Row]] = {"jira_comments": [], "jira_attachments": [], "jira_worklogs": []}
        self.downloads: list[DownloadJob] = []

    async def collect(self, ctx: SyncContext, issue: Row) -> None:
        issue_id = str(issue["id"])
        fields = issue.get("fields") or {}
        comments = complete(fields.get("comment"), "comments")
        if comments is None:  # more than the inline 20: fetch them all
            await fetch_all(ctx, f"{API}/issue/{issue_id}/comment", "comments", "jira_comments", comment_row, issue_id)
        else:
            self.rows["jira_comments"] += [comment_row(c, issue_id) for c in comments]
        for item in fields.get("attachment") or []:
            self.rows["jira_attachments"].append(attachment_row(item, issue_id))
            path = item.get("content") or f"{API}/attachment/content/{item['id']}"
            self.downloads.append(
                DownloadJob("jira", path, "jira_attachments", str(item["id"]), None, item.get("size"),
                            f"attachment {item['id']}")
            )  # fmt: skip
        if ctx.settings.jira_worklogs:
            worklogs = complete(fields.get("worklog"), "worklogs")
            if worklogs is None:
                await fetch_all(
                    ctx, f"{API}/issue/{issue_id}/worklog", "worklogs", "jira_worklogs", worklog_row, issue_id
                )
            else:
                self.rows["jira_worklogs"] += [worklog_row(w, issue_id) for w in worklogs]

    async def emit(self, ctx: SyncContext) -> None:
        for table, rows in self.rows.items():
            if rows:
                await ctx.emit(Batch(table, rows))
        for job in self.downloads:  # queued only after their metadata rows
            await ctx.fetch_bytes(job)


async def fetch_all(ctx: SyncContext, path: str, key: str, table: str, to_row, issue_id: str) -> None:
    async def save(items: list[Row]) -> None:
        if items:
            await ctx.emit(Batch(table, [to_row(item, issue_id) for item in items]))

    await offset_all(ctx.client, "jira", path, key, save, page_size=5000)


async def sync_changelogs(ctx: SyncContext, ids: list[str]) -> None:
    body = {"issueIdsOrKeys": ids, "maxResults": 10000}
    async for page in token_pages(ctx.client, "jira", f"{API}/changelog/bulkfetch", body, "issueChangeLogs"):
        rows = [changelog_row(h, str(log["issueId"])) for log in page.items for h in log.get("changeHistories", [])]
        if rows:
            await ctx.emit(Batch("jira_changelogs", rows))
