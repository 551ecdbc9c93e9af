"""Inline tasks: the whole listing the first time; after that by date and by changed page.

The first run lists every task (`GET /tasks`, 250 a page) in a sweep. Later runs ask only for
- tasks created since the mark (`created-at-from`, epoch milliseconds, less the overlap);
- tasks completed since the mark (`completed-at-from`): ticking a task off does not make a page version;
- the tasks of pages and blog posts whose version moved since their tasks were stored (`page-id`,
  `blogpost-id`, 250 ids a request): adding, changing or removing a task edits its page, so the tasks of
  those containers that are not listed any more are gone.
Tasks of pages and blog posts that are gone are marked gone with them. Not seen until the page's next
edit (or --full): a task un-ticked without the page changing.
"""

from __future__ import annotations

import time

from ...context import SyncContext
from ...paginate import cursor_pages
from ...store import Batch, Sweep, dumps
from ...times import utc
from .rows import LIMIT, TABLES, V2, Row, body_of, container_of
from .scope import selected_spaces

MARK = "confluence:tasks:mark"
BY_ID = 250  # the most ids a filter of /tasks takes


def task_row(item: Row) -> Row:
    container, container_type = container_of(item)
    return {
        "id": str(item["id"]),
        "local_id": item.get("localId"),
        "space_id": item.get("spaceId"),
        "container_id": container,
        "container_type": container_type,
        "status": item.get("status"),
        "created_at": utc(item.get("createdAt")),
        "updated_at": utc(item.get("updatedAt")),
        "due_at": utc(item.get("dueAt")),
        "completed_at": utc(item.get("completedAt")),
        "assigned_to": item.get("assignedTo"),
        "created_by": item.get("createdBy"),
        "completed_by": item.get("completedBy"),
        "body_storage": body_of(item),
        "raw": dumps({k: v for k, v in item.items() if k != "body"}),
    }


async def sync_tasks(ctx: SyncContext) -> None:
    started = int(time.time() * 1000)
    mark = None if ctx.settings.full else ctx.saved(MARK).get("mark")
    spaces = {"space-id": list(selected_spaces(ctx))} if ctx.settings.spaces else {}
    sweep = ctx.run_id
    if mark is None:
        await listing(ctx, spaces, sweep)
        scope, params = space_scope(ctx)
        await ctx.emit(Batch("confluence_tasks", close=Sweep("confluence_tasks", sweep, scope, params)))
    else:
        since = int(mark) - ctx.settings.jira_overlap_minutes * 60_000
        await listing(ctx, {**spaces, "created-at-from": since}, sweep)
        await listing(ctx, {**spaces, "completed-at-from": since}, sweep)
    await changed_containers(ctx, sweep, everything=mark is None)
    gone = (
        "container_id IN (SELECT id FROM confluence_pages WHERE deleted_at IS NOT NULL "
        "UNION ALL SELECT id FROM confluence_blogposts WHERE deleted_at IS NOT NULL)"
    )
    close = Sweep("confluence_tasks", -1, gone)
    await ctx.emit(Batch("confluence_tasks", close=close, state={MARK: dumps({"mark": started})}))


async def listing(ctx: SyncContext, filters: Row, sweep: int) -> None:
    params = {"limit": LIMIT, "body-format": "storage", **filters}
    async for page in cursor_pages(ctx.client, "confluence", f"{V2}/tasks", params):
        rows = [{**task_row(item), "seen_sweep": sweep} for item in page.items]
        if rows:
            await ctx.emit(Batch("confluence_tasks", rows, sweep=sweep))


async def changed_containers(ctx: SyncContext, sweep: int, everything: bool) -> None:
    """The tasks of pages and blog posts whose version moved: listed anew; those not listed are gone. After
    the first run's whole listing, every container's tasks are current already: only the marks are set."""
    scope, params = space_scope(ctx, "space_id")
    for kind, table in TABLES.items():
        stale = ctx.db.execute(
            f"SELECT id, version FROM {table} WHERE deleted_at IS NULL AND tasks_version IS NOT version AND {scope}",
            params,
        ).fetchall()
        for start in range(0, len(stale), BY_ID):
            chunk = stale[start : start + BY_ID]
            ids = [cid for cid, _ in chunk]
            if not everything:
                await listing(ctx, {f"{'page' if kind == 'page' else 'blogpost'}-id": ids}, sweep)
            marks = ", ".join("?" * len(ids))
            close = None if everything else Sweep("confluence_tasks", sweep, f"container_id IN ({marks})", tuple(ids))
            done = [{"id": cid, "tasks_version": version} for cid, version in chunk]
            await ctx.emit_together([Batch("confluence_tasks", close=close), Batch(table, done, update_only=True)])


def space_scope(ctx: SyncContext, column: str = "space_id") -> tuple[str, tuple]:
    if not ctx.settings.spaces:
        return "1 = 1", ()
    spaces = selected_spaces(ctx)
    return f"{column} IN ({', '.join('?' * len(spaces)) or 'NULL'})", tuple(spaces)
