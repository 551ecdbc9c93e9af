"""Jira's dimensions: statuses (with their category), priorities, resolutions, issue types and link types
site-wide; versions and components per project. Short lists: read whole every run, swept for deletions."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from ...context import SyncContext
from ...errors import ApiError, UnexpectedResponse
from ...paginate import offset_all
from ...store import Batch, Sweep, dumps
from .rows import API, Row


def status_row(item: Row) -> Row:
    category = item.get("statusCategory") or {}
    return {
        "id": str(item["id"]),
        "name": item.get("name"),
        "category_key": category.get("key"),
        "category_name": category.get("name"),
        "raw": dumps(item),
    }


def named_row(item: Row) -> Row:
    return {"id": str(item["id"]), "name": item.get("name"), "raw": dumps(item)}


def issue_type_row(item: Row) -> Row:
    level = item.get("hierarchyLevel")
    return {
        "id": str(item["id"]),
        "name": item.get("name"),
        "subtask": int(bool(item.get("subtask"))),
        "hierarchy_level": level if isinstance(level, int) else None,
        "raw": dumps(item),
    }


def link_type_row(item: Row) -> Row:
    return {
        "id": str(item["id"]),
        "name": item.get("name"),
        "inward": item.get("inward"),
        "outward": item.get("outward"),
        "raw": dumps(item),
    }


def version_row(item: Row, project_id: str) -> Row:
    return {
        "id": str(item["id"]),
        "project_id": str(item.get("projectId") or project_id),
        "name": item.get("name"),
        "released": int(bool(item.get("released"))),
        "archived": int(bool(item.get("archived"))),
        "release_date": item.get("releaseDate"),  # a date, no time
        "raw": dumps(item),
    }


def component_row(item: Row, project_id: str) -> Row:
    lead = item.get("lead") if isinstance(item.get("lead"), dict) else {}
    return {
        "id": str(item["id"]),
        "project_id": str(item.get("projectId") or project_id),
        "name": item.get("name"),
        "lead_account_id": item.get("leadAccountId") or lead.get("accountId"),
        "raw": dumps(item),
    }


# table, path, where the list is in the answer (None: the answer is the list), mapper
SITE_WIDE: tuple[tuple[str, str, str | None, Callable[[Row], Row]], ...] = (
    ("jira_statuses", f"{API}/status", None, status_row),
    ("jira_priorities", f"{API}/priority", None, named_row),
    ("jira_resolutions", f"{API}/resolution/search", "values", named_row),
    ("jira_issue_types", f"{API}/issuetype", None, issue_type_row),
    ("jira_issue_link_types", f"{API}/issueLinkType", "issueLinkTypes", link_type_row),
)


async def sync_lookups(ctx: SyncContext) -> None:
    async with anyio.create_task_group() as group:
        for table, path, key, mapper in SITE_WIDE:
            group.start_soon(ctx.guarded, f"jira {table[5:].replace('_', ' ')}", _whole, ctx, table, path, key, mapper)


async def _whole(ctx: SyncContext, table: str, path: str, key: str | None, mapper: Callable[[Row], Row]) -> None:
    sweep = ctx.run_id
    items: list[Row] = []
    if key == "values":  # paged (resolution/search)

        async def keep(page: list[Row]) -> None:
            items.extend(page)

        await offset_all(ctx.client, "jira", path, key, keep, page_size=100)
    else:
        data = (await ctx.client.get("jira", path)).data
        found = data.get(key) if key and isinstance(data, dict) else data
        if not isinstance(found, list):
            raise UnexpectedResponse(f"{path} did not answer a list")
        items = found
    rows = [{**mapper(i), "seen_sweep": sweep} for i in items if isinstance(i, dict) and i.get("id") is not None]
    await ctx.emit(Batch(table, rows, close=Sweep(table, sweep)))


async def sync_project_parts(ctx: SyncContext, project: Row, archived: bool = False) -> None:
    """One project's versions and components (both unpaged lists). An archived project may refuse them to an
    account that is not an admin: what is stored is kept, unswept."""
    sweep, project_id = ctx.run_id, str(project["id"])
    for table, part, mapper in (
        ("jira_versions", "versions", version_row),
        ("jira_components", "components", component_row),
    ):
        try:
            data = (await ctx.client.get("jira", f"{API}/project/{project_id}/{part}")).data
        except ApiError as error:
            if archived and error.status in (403, 404):
                return
            raise
        if not isinstance(data, list):
            raise UnexpectedResponse(f"{API}/project/{project_id}/{part} did not answer a list")
        rows = [{**mapper(i, project_id), "seen_sweep": sweep} for i in data if isinstance(i, dict)]
        await ctx.emit(Batch(table, rows, close=Sweep(table, sweep, "project_id = ?", (project_id,))))
