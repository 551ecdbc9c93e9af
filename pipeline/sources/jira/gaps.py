"""What the token cannot reach and the run does without: said on stderr as a warning, kept in `sync_state`
(`jira:gaps:<name>`) for `report`, and cleared by the first run that reaches it. Not a failure: the exit
status does not change. For optional parts only (the agile API, people), never for content."""

from __future__ import annotations

from ...context import SyncContext
from ...store import Batch, dumps


async def record_gap(ctx: SyncContext, name: str, table: str, message: str) -> None:
    ctx.progress.warn(f"jira {name}", message)
    await ctx.emit(Batch(table, state={f"jira:gaps:{name}": dumps({"run": ctx.run_id, "message": message})}))


def closed(name: str) -> dict[str, str | None]:
    """The state that clears a gap, to commit with what the run reached."""
    return {f"jira:gaps:{name}": None}
