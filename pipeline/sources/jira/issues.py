"""Issue ids through search/jql, issues through bulkfetch, and the sweep that notices deleted issues."""

from __future__ import annotations

import time

import anyio
import anyio.abc

from ...context import SyncContext
from ...errors import DiskFull, UnexpectedResponse
from ...paginate import token_pages
from ...store import Batch, Debt, Sweep, dumps
from . import history
from .children import CHILD_TABLES, IssueChildren, links_of_gone, sprint_field_ids
from .rows import API, BULK, ID_PAGE, Row, issue_row
from .vanished import recheck_unseen

RETRY_SIZES = (10, 1)  # issueErrors are asked again in batches this large, then one by one


async def sync_new_project(ctx: SyncContext, project: Row, bulk: anyio.Semaphore) -> None:
    """A project seen for the first time: every issue. A killed first run resumes in its sweep."""
    stream = f"jira:issues:{project['id']}"
    saved = {} if ctx.settings.full else ctx.saved(stream)
    sweep, started_ms = opened_sweep(ctx, saved)
    opened = {stream: dumps({"sweep": sweep, "pending": True, "started": started_ms})}
    await ctx.emit(Batch("jira_issues", state=opened))
    async with anyio.create_task_group() as fetches:
        await list_issues(ctx, f"project = {project['id']}", sweep, fetches, bulk, touch=True)
    await close_projects(ctx, [project], sweep, started_ms, {})


async def sync_known_projects(ctx: SyncContext, projects: list[Row], mark: int, bulk: anyio.Semaphore) -> None:
    """Projects synced before, together: the issues updated since the mark (less the overlap), then every
    id, to notice deleted issues. Two short listings for up to fifty projects."""
    stream = f"jira:issues:since:{projects[0]['id']}"
    saved = ctx.saved(stream)
    sweep, started_ms = opened_sweep(ctx, saved, mark)
    opened = {stream: dumps({"sweep": sweep, "pending": True, "started": started_ms})}
    await ctx.emit(Batch("jira_issues", state=opened))
    ids = ", ".join(p["id"] for p in projects)
    since = mark - ctx.settings.jira_overlap_minutes * 60_000
    async with anyio.create_task_group() as fetches:
        await list_issues(ctx, f"project in ({ids}) AND updated >= {since}", sweep, fetches, bulk, touch=False)
    await list_issues(ctx, f"project in ({ids})", sweep, None, bulk, touch=True)
    await close_projects(ctx, projects, sweep, started_ms, {stream: None})


def opened_sweep(ctx: SyncContext, saved: dict, before: int = 0) -> tuple[int, int]:
    """The sweep to list in and the time its listing began. A resumed sweep keeps the time its first run began:
    issues it fetched then and skips now may have been edited since, and the mark must not pass those edits.
    A sweep saved by an older version has no start: `before` (the old mark; 0 lists the project anew) stands."""
    if saved.get("pending"):
        return int(saved["sweep"]), int(saved.get("started") or before)
    return ctx.run_id, int(time.time() * 1000)


async def close_projects(
    ctx: SyncContext, projects: list[Row], sweep: int, started_ms: int, state: dict[str, str | None]
) -> None:
    """Issues the sweep did not see are gone, and so are their children; the projects' marks move on."""
    await recheck_unseen(ctx, projects, sweep, fetch_owing)
    await history.drain(ctx, sweep)
    ids = tuple(p["id"] for p in projects)
    marks = ", ".join("?" * len(ids))
    done = dumps({"mark": started_ms, "sweep": sweep, "pending": False})
    state = {**state, **{f"jira:issues:{p['id']}": done for p in projects}}
    gone = f"issue_id IN (SELECT id FROM jira_issues WHERE project_id IN ({marks}) AND deleted_at IS NOT NULL)"
    closes = [Batch("jira_issues", close=Sweep("jira_issues", sweep, f"project_id IN ({marks})", ids), state=state)]
    closes += [Batch(t, close=Sweep(t, -1, gone, ids)) for t in CHILD_TABLES] + links_of_gone(marks, ids)
    await ctx.emit_together(closes)


async def list_issues(ctx: SyncContext, jql: str, sweep: int, fetches, bulk: anyio.Semaphore, touch: bool) -> None:
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
            await start_fetch(fetches, ctx, bulk, wanted[start : start + BULK], sweep)


async def start_fetch(group: anyio.abc.TaskGroup, ctx: SyncContext, bulk: anyio.Semaphore, ids: list[str], sweep: int):
    """Start one bulkfetch once there is room for it: tasks are created as capacity frees up, never all of a
    project's at once (a million issues would be ten thousand waiting tasks)."""
    await bulk.acquire()
    try:
        group.start_soon(_fetch_and_release, ctx, bulk, ids, sweep)
    except BaseException:
        bulk.release()
        raise


async def _fetch_and_release(ctx: SyncContext, bulk: anyio.Semaphore, ids: list[str], sweep: int) -> None:
    try:
        await fetch_owing(ctx, ids, sweep)
    finally:
        bulk.release()


async def fetch_owing(ctx: SyncContext, ids: list[str], sweep: int) -> None:
    """Fetch issues; those Jira says it could not return (`issueErrors`: retriable, or too large a payload)
    are asked again in smaller batches, then one by one. Whatever still fails is owed: recorded in the store
    before the project's mark can move, and fetched first by the next run."""
    stream = f"jira issues {ids[0]}..{ids[-1]}"
    pending = ids
    try:
        pending = await fetch_issues(ctx, ids, sweep)
        for size in RETRY_SIZES:
            if not pending:
                return
            again: list[str] = []
            for start in range(0, len(pending), size):
                again += await fetch_issues(ctx, pending[start : start + size], sweep)
            pending = again
        if not pending:
            return
        why = ctx.fail(stream, UnexpectedResponse(f"Jira could not return issues {', '.join(pending[:10])}"))
    except DiskFull:
        raise
    except Exception as error:
        why = ctx.fail(stream, error)
    await ctx.owe([Debt("jira_issue", issue_id, why) for issue_id in pending])


async def pay_issue_debts(ctx: SyncContext, projects: list[Row]) -> None:
    """Issues earlier runs failed to fetch, fetched before anything else (only those, not a relisting)."""
    owed = [key for key, _ in ctx.owed("jira_issue")]
    if ctx.settings.projects:  # a limited run pays what it can place in its projects, and what it cannot place
        chosen = {p["id"] for p in projects}
        stored = dict(ctx.lookup("SELECT id, project_id FROM jira_issues WHERE id IN ({marks})", owed))
        owed = [key for key in owed if stored.get(key) in chosen or key not in stored]
    ctx.tried.update(("jira_issue", key) for key in owed)
    async with anyio.create_task_group() as group:
        bulk = anyio.Semaphore(ctx.settings.concurrency)
        for start in range(0, len(owed), BULK):
            await start_fetch(group, ctx, bulk, owed[start : start + BULK], ctx.run_id)


async def fetch_issues(ctx: SyncContext, ids: list[str], sweep: int) -> list[str]:
    """One bulkfetch: the issues and everything under them. Returns the ids Jira could not return."""
    body = {"issueIdsOrKeys": ids, "fields": ["*all"], "fieldsByKeys": False}
    response = await ctx.client.post("jira", f"{API}/issue/bulkfetch", body)
    issues = response.data.get("issues") if isinstance(response.data, dict) else None
    if not isinstance(issues, list):
        raise UnexpectedResponse(f"{API}/issue/bulkfetch answered without an 'issues' list")
    errors = response.data.get("issueErrors") or []
    rows = await ctx.rows_of(issue_row, issues)
    await ctx.emit(Batch("jira_issues", [{**row, "seen_sweep": sweep} for row in rows]))
    children = IssueChildren(sweep, sprint_field_ids(ctx), ctx.settings.jira_worklogs)
    for issue in issues:
        await children.collect(ctx, issue)
    await children.emit(ctx)
    # last: an issue counts as fetched in this sweep only once everything under it (history too) is
    # committed; what it owed is paid in the same transaction
    fetched = [str(i["id"]) for i in issues]
    refused = unreturned(ids, fetched, errors)
    gone = [i for i in ids if i not in refused and i not in set(fetched)]  # not found, or no longer visible
    if gone:  # a gone issue is owed nothing: the sweep marks it; what is stored under it (worklogs are listed
        # site-wide, so even an issue never stored may have some) goes with it
        scope = f"issue_id IN ({', '.join('?' * len(gone))})"
        closes = [Batch(t, close=Sweep(t, -1, scope, tuple(gone))) for t in CHILD_TABLES]
        await ctx.emit_together([Batch("jira_issues", paid=[("jira_issue", i) for i in gone]), *closes])
    await history.after_fetch(ctx, fetched, sweep)  # marks the fetched ones, and pays them, with their history
    return refused


def unreturned(ids: list[str], fetched: list[str], errors: list) -> list[str]:
    """The ids to ask again: those `issueErrors` names (retriable, the spec says), or, when an error names no
    issue, every id not returned. Ids in neither list are not found or not visible: the spec leaves them out."""
    returned = set(fetched)
    entries = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    if any(not e.get("id") for e in entries):
        return [i for i in ids if i not in returned]
    named = {str(e["id"]) for e in entries}
    return [i for i in ids if i in named and i not in returned]
