"""Issue ids through search/jql, issues through bulkfetch, and the sweep that notices deleted issues."""

from __future__ import annotations

import time

import anyio

from ...context import SyncContext
from ...errors import UnexpectedResponse
from ...paginate import token_pages
from ...store import Batch, Sweep, dumps
from .changelogs import sync_changelogs
from .children import CHILD_TABLES, IssueChildren
from .rows import API, BULK, ID_PAGE, Row, issue_row


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
