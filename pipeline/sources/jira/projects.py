"""Fields and projects: offset listings fanned out once page 1 gives the total.

project/search lists live projects unless asked for `status=archived`: archived ones are listed too, kept
with `archived = 1`, and never marked deleted; their issues are left as stored (search no longer sees
them, so they are neither listed nor swept).
"""

from __future__ import annotations

from ...context import SyncContext
from ...errors import ApiError, UnexpectedResponse
from ...paginate import offset_all
from ...store import Batch, Sweep
from .rows import API, Row, field_row, project_row
from .sprints import sprint_fields


async def sync_fields(ctx: SyncContext) -> None:
    response = await ctx.client.get("jira", f"{API}/field")
    if not isinstance(response.data, list):
        raise UnexpectedResponse(f"{API}/field did not answer a list")
    ctx.notes["jira_sprint_fields"] = sprint_fields(response.data)
    await ctx.emit(Batch("jira_fields", [field_row(f) for f in response.data]))


async def sync_projects(ctx: SyncContext, found: list[Row], archived: list[Row] | None = None) -> None:
    """Live projects into `found` (their issues are synced), archived ones into `archived`."""
    keys = {"keys": list(ctx.settings.projects)} if ctx.settings.projects else {}  # sent repeated
    sweep = ctx.run_id
    archived = [] if archived is None else archived

    def saver(into: list[Row], flag: int):
        async def save(items: list[Row]) -> None:
            into.extend({"id": str(p["id"]), "key": p.get("key")} for p in items)
            rows = [{**project_row(p), "archived": flag, "seen_sweep": sweep} for p in items]
            await ctx.emit(Batch("jira_projects", rows))

        return save

    path = f"{API}/project/search"
    await offset_all(ctx.client, "jira", path, "values", saver(found, 0), keys or None)
    try:
        await offset_all(ctx.client, "jira", path, "values", saver(archived, 1), {**keys, "status": "archived"})
    except ApiError as error:  # an account that may not list archived projects: the live ones still count
        if error.status not in (400, 403):
            raise
        ctx.progress.warn("jira archived projects", f"archived projects could not be listed ({error})")
        return  # without that listing, a project missing from the live one may be archived: no sweep
    if ctx.settings.projects:
        missing = set(ctx.settings.projects) - {p["key"] for p in found + archived}
        if missing:
            ctx.fail("jira projects", LookupError(f"no project with key {', '.join(sorted(missing))} is visible"))
    else:  # a project seen in neither listing is gone (or moved to the trash)
        await ctx.emit(Batch("jira_projects", close=Sweep("jira_projects", sweep)))
