"""Field history for the issues a run fetches, batched across bulkfetches: issue/bulkfetch takes 100 ids,
changelog/bulkfetch 1,000, so ten issue batches share one changelog request.

An issue counts as fetched in its sweep (`fetched_sweep`, what a resumed run skips) only once its history
is committed too, so a run killed between the two fetches the issue again rather than lose its history.
Projects in one sweep share the queue, so a project's close waits for every history request of its sweep
still in flight (another project's task may have taken its issues along).
"""

from __future__ import annotations

import anyio

from ...context import SyncContext
from ...errors import DiskFull
from ...store import Batch, Debt
from .changelogs import CHANGELOG_IDS, sync_changelogs


class Pending:
    """One sweep's issues waiting for history, and the history requests under way."""

    def __init__(self) -> None:
        self.queue: list[str] = []
        self.busy = 0
        self.idle = anyio.Event()
        self.idle.set()


def _pending(ctx: SyncContext, sweep: int) -> Pending:
    return ctx.notes.setdefault("jira_history_pending", {}).setdefault(sweep, Pending())


async def after_fetch(ctx: SyncContext, ids: list[str], sweep: int) -> None:
    """Issues whose rows are emitted: queue them for history, or mark them fetched when history is off."""
    if not ctx.settings.jira_changelogs:
        await mark_fetched(ctx, ids, sweep)
        return
    pending = _pending(ctx, sweep)
    pending.queue.extend(ids)
    if len(pending.queue) >= CHANGELOG_IDS:
        taken = pending.queue[:CHANGELOG_IDS]
        del pending.queue[:CHANGELOG_IDS]  # no await between the check and the take: no other task takes them
        await _fetch(ctx, pending, taken, sweep)


async def drain(ctx: SyncContext, sweep: int) -> None:
    """The sweep's listing is done: fetch the history still queued for it, and wait for what is under way."""
    pending = _pending(ctx, sweep)
    while pending.queue:
        taken = pending.queue[:CHANGELOG_IDS]
        del pending.queue[:CHANGELOG_IDS]
        await _fetch(ctx, pending, taken, sweep)
    while pending.busy:
        await pending.idle.wait()


async def drain_all(ctx: SyncContext) -> None:
    for sweep in list(ctx.notes.get("jira_history_pending", {})):
        await drain(ctx, sweep)


async def _fetch(ctx: SyncContext, pending: Pending, ids: list[str], sweep: int) -> None:
    """History for queued issues, gathered from many bulkfetches: on failure they are owed, one by one, as
    an issue whose bulkfetch failed would be (the next run fetches them first)."""
    if pending.busy == 0:
        pending.idle = anyio.Event()
    pending.busy += 1
    try:
        await sync_changelogs(ctx, ids)
        await mark_fetched(ctx, ids, sweep)
    except DiskFull:
        raise
    except Exception as error:
        why = ctx.fail(f"jira history of issues {ids[0]}..{ids[-1]}", error)
        await ctx.owe([Debt("jira_issue", issue_id, why) for issue_id in ids])
    finally:
        pending.busy -= 1
        if pending.busy == 0:
            pending.idle.set()


async def mark_fetched(ctx: SyncContext, ids: list[str], sweep: int) -> None:
    """The issues are fetched in `sweep`, everything under them committed; what they owed is paid."""
    fetched = [{"id": i, "fetched_sweep": sweep} for i in ids]
    await ctx.emit(Batch("jira_issues", fetched, update_only=True, paid=[("jira_issue", i) for i in ids]))
