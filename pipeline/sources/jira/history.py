"""Field history for the issues a run fetches, batched across bulkfetches: issue/bulkfetch takes 100 ids,
changelog/bulkfetch 1,000, so ten issue batches share one changelog request.

An issue counts as fetched in its sweep (`fetched_sweep`, what a resumed run skips) only once its history
is committed too, so a run killed between the two fetches the issue again rather than lose its history.
"""

from __future__ import annotations

from ...context import SyncContext
from ...errors import DiskFull
from ...store import Batch, Debt
from .changelogs import CHANGELOG_IDS, sync_changelogs


def _pending(ctx: SyncContext) -> dict[int, list[str]]:
    return ctx.notes.setdefault("jira_history_pending", {})


async def after_fetch(ctx: SyncContext, ids: list[str], sweep: int) -> None:
    """Issues whose rows are emitted: queue them for history, or mark them fetched when history is off."""
    if not ctx.settings.jira_changelogs:
        await mark_fetched(ctx, ids, sweep)
        return
    queue = _pending(ctx).setdefault(sweep, [])
    queue.extend(ids)
    if len(queue) >= CHANGELOG_IDS:
        taken = queue[:CHANGELOG_IDS]
        del queue[:CHANGELOG_IDS]  # no await between the check and the take: no other task takes them too
        await _fetch(ctx, taken, sweep)


async def drain(ctx: SyncContext, sweep: int) -> None:
    """The sweep's listing is done: fetch the history still queued for it."""
    queue = _pending(ctx).pop(sweep, [])
    for start in range(0, len(queue), CHANGELOG_IDS):
        await _fetch(ctx, queue[start : start + CHANGELOG_IDS], sweep)


async def drain_all(ctx: SyncContext) -> None:
    for sweep in list(_pending(ctx)):
        await drain(ctx, sweep)


async def _fetch(ctx: SyncContext, ids: list[str], sweep: int) -> None:
    """History for queued issues, gathered from many bulkfetches: on failure they are owed, one by one, as
    an issue whose bulkfetch failed would be (the next run fetches them first)."""
    try:
        await sync_changelogs(ctx, ids)
    except DiskFull:
        raise
    except Exception as error:
        why = ctx.fail(f"jira history of issues {ids[0]}..{ids[-1]}", error)
        await ctx.owe([Debt("jira_issue", issue_id, why) for issue_id in ids])
        return
    await mark_fetched(ctx, ids, sweep)


async def mark_fetched(ctx: SyncContext, ids: list[str], sweep: int) -> None:
    """The issues are fetched in `sweep`, everything under them committed; what they owed is paid."""
    fetched = [{"id": i, "fetched_sweep": sweep} for i in ids]
    await ctx.emit(Batch("jira_issues", fetched, update_only=True, paid=[("jira_issue", i) for i in ids]))
