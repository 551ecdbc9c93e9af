"""Before an issue is called deleted: search is an index, and an issue can drop out of it (a stale entry,
a reindex) while it still exists. Those the sweep did not see are asked for by id; only the ones that do
not come back are gone. A handful a run, so a bulkfetch or two."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ...context import SyncContext
from .rows import BULK, Row


async def recheck_unseen(
    ctx: SyncContext, projects: list[Row], sweep: int, fetch: Callable[[SyncContext, list[str], int], Awaitable[None]]
) -> None:
    await ctx.flush()  # the sweep's touches must be committed to tell the unseen apart
    ids = tuple(p["id"] for p in projects)
    marks = ", ".join("?" * len(ids))
    unseen = [
        r[0]
        for r in ctx.db.execute(
            f"SELECT id FROM jira_issues WHERE project_id IN ({marks}) AND deleted_at IS NULL "
            "AND (seen_sweep IS NULL OR seen_sweep != ?) ORDER BY id",
            (*ids, sweep),
        )
    ]
    for start in range(0, len(unseen), BULK):
        await fetch(ctx, unseen[start : start + BULK], sweep)  # what comes back is seen, with its children
