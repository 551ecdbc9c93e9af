"""Spaces: one listing, a sweep for deletions."""

from __future__ import annotations

from ...context import SyncContext
from ...paginate import cursor_pages
from ...store import Batch, Sweep
from .rows import LIMIT, V2, Row, seen, space_row


async def sync_spaces(ctx: SyncContext) -> list[Row]:
    params: Row = {"limit": LIMIT}
    if ctx.settings.spaces:
        params["keys"] = ",".join(ctx.settings.spaces)
    sweep = ctx.run_id
    spaces: list[Row] = []
    async for page in cursor_pages(ctx.client, "confluence", f"{V2}/spaces", params):
        await ctx.emit(Batch("confluence_spaces", seen([space_row(s) for s in page.items], sweep)))
        spaces.extend({"id": str(s["id"]), "key": s.get("key")} for s in page.items)
    if ctx.settings.spaces:
        missing = set(ctx.settings.spaces) - {s["key"] for s in spaces}
        if missing:
            ctx.fail("confluence spaces", LookupError(f"no space with key {', '.join(sorted(missing))} is visible"))
    else:
        await ctx.emit(Batch("confluence_spaces", close=Sweep("confluence_spaces", sweep)))
    ctx.notes["confluence_space_ids"] = tuple(s["id"] for s in spaces)
    return spaces
