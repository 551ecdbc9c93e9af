"""Downloads earlier runs failed to make: queued before anything else, as debts are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..context import SyncContext
from ..store import Batch


async def pay_download_debts(
    ctx: SyncContext, table: str, queue: Callable[[SyncContext, list[str]], Awaitable[set[str]]]
) -> None:
    """Queue the owed downloads of one attachments table. A debt whose attachment wants no bytes any more
    (deleted since, stored meanwhile, or refused for good) is settled here, or it would be owed forever."""
    owed = [key.split(":", 1)[1] for key, _ in ctx.owed("download") if key.startswith(f"{table}:")]
    if not owed or not ctx.settings.attachments:  # --no-attachments: owed bytes wait for a run that wants them
        return
    ctx.tried.update(("download", f"{table}:{i}") for i in owed)
    queued = await queue(ctx, owed)
    settled = [("download", f"{table}:{i}") for i in owed if i not in queued]
    if settled:
        await ctx.emit(Batch(table, paid=settled))
