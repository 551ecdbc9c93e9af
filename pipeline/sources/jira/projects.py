"""Fields and projects: offset listings fanned out once page 1 gives the total."""

from __future__ import annotations

from ...context import SyncContext
from ...errors import UnexpectedResponse
from ...paginate import offset_all
from ...store import Batch, Sweep
from .rows import API, Row, field_row, project_row


async def sync_fields(ctx: SyncContext) -> None:
    response = await ctx.client.get("jira", f"{API}/field")
    if not isinstance(response.data, list):
        raise UnexpectedResponse(f"{API}/field did not answer a list")
    await ctx.emit(Batch("jira_fields", [field_row(f) for f in response.data]))


async def sync_projects(ctx: SyncContext, found: list[Row]) -> None:
    params = {"keys": list(ctx.settings.projects)} if ctx.settings.projects else None  # sent repeated
    sweep = ctx.run_id

    async def save(items: list[Row]) -> None:
        found.extend({"id": str(p["id"]), "key": p.get("key")} for p in items)
        await ctx.emit(Batch("jira_projects", [{**project_row(p), "seen_sweep": sweep} for p in items]))

    await offset_all(ctx.client, "jira", f"{API}/project/search", "values", save, params)
    if ctx.settings.projects:
        missing = set(ctx.settings.projects) - {p["key"] for p in found}
        if missing:
            ctx.fail("jira projects", LookupError(f"no project with key {', '.join(sorted(missing))} is visible"))
    else:
        await ctx.emit(Batch("jira_projects", close=Sweep("jira_projects", sweep)))
