"""What a restore needs beyond content: content properties (of pages, blog posts and spaces) and space
permissions.

Pages' and blog posts' properties are read for the containers whose version moved since their
properties were stored (all of them the first time, and with --full): one request each. Apps may write a
property without making a page version; such a change waits for the page's next edit (or --full).
Spaces' properties and permissions have no such signal and are few: read every run, a request per space
each. Every listing is a sweep within its owner: what it no longer shows is marked deleted.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ...context import SyncContext
from ...errors import ApiError, MissingScope
from ...paginate import cursor_pages
from ...store import Batch, Sweep, dumps
from .history import at_once
from .rows import LIMIT, TABLES, V2, Row
from .scope import container_scope

AT_ONCE = 100
RESTRICTION_PAGE = 100  # users (and groups) per operation per v1 restriction answer: its default


def property_row(item: Row, owner_id: str, owner_type: str) -> Row:
    version = item.get("version") or {}
    return {
        "id": str(item["id"]),
        "container_id": owner_id,
        "container_type": owner_type,
        "key": item.get("key"),
        "value": dumps(item.get("value")),
        "version": version.get("number"),
        "raw": dumps(item),
    }


def permission_row(item: Row, space_id: str) -> Row:
    principal, operation = item.get("principal") or {}, item.get("operation") or {}
    return {
        "id": str(item["id"]),
        "space_id": space_id,
        "principal_type": principal.get("type"),
        "principal_id": principal.get("id"),
        "operation_key": operation.get("key"),
        "operation_target": operation.get("targetType"),
        "raw": dumps(item),
    }


async def listed(ctx: SyncContext, path: str) -> list[Row] | None:
    """Every item of one owner's listing; None when the owner is gone (deleted since it was listed: its
    own sweep will say so, and what was stored of it is left alone)."""
    items: list[Row] = []
    try:
        async for page in cursor_pages(ctx.client, "confluence", path, {"limit": LIMIT}):
            items += page.items
    except ApiError as error:
        if error.status == 404 and not isinstance(error, MissingScope):
            return None
        raise
    return items


def present(ids: list[str], found: list[Any]) -> list[tuple[str, Any]]:
    """(owner id, answer) for the owners still there."""
    return [(i, answer) for i, answer in zip(ids, found, strict=True) if answer is not None]


async def sync_content_properties(ctx: SyncContext) -> None:
    scope, params = container_scope(ctx, "id")
    for kind, table in TABLES.items():
        stale = ctx.db.execute(
            f"SELECT id, version FROM {table} WHERE deleted_at IS NULL AND {scope} "
            + ("" if ctx.settings.full else "AND properties_version IS NOT version"),
            params,
        ).fetchall()
        for start in range(0, len(stale), AT_ONCE):
            chunk = stale[start : start + AT_ONCE]
            found = await at_once(ctx, [partial(listed, ctx, f"{V2}/{kind}s/{cid}/properties") for cid, _ in chunk])
            versions = dict(chunk)
            answered = present([cid for cid, _ in chunk], found)
            if not answered:
                continue
            rows = [
                {**property_row(item, cid, kind), "seen_sweep": ctx.run_id} for cid, items in answered for item in items
            ]
            ids = [cid for cid, _ in answered]
            close = Sweep(
                "confluence_content_properties",
                ctx.run_id,
                f"container_type = ? AND container_id IN ({', '.join('?' * len(ids))})",
                (kind, *ids),
            )
            done = [{"id": cid, "properties_version": versions[cid]} for cid in ids]
            await ctx.emit_together(
                [
                    Batch("confluence_content_properties", rows, sweep=ctx.run_id, close=close),
                    Batch(table, done, update_only=True),
                ]
            )


async def sync_space_settings(ctx: SyncContext, spaces: list[Row]) -> None:
    """Each space's properties and permissions, a request apiece, every run."""
    for start in range(0, len(spaces), AT_ONCE):
        chunk = [s["id"] for s in spaces[start : start + AT_ONCE]]
        props = present(
            chunk, await at_once(ctx, [partial(listed, ctx, f"{V2}/spaces/{sid}/properties") for sid in chunk])
        )
        perms = present(
            chunk, await at_once(ctx, [partial(listed, ctx, f"{V2}/spaces/{sid}/permissions") for sid in chunk])
        )
        prop_ids, perm_ids = [sid for sid, _ in props], [sid for sid, _ in perms]
        batches = []
        if prop_ids:
            batches.append(
                Batch(
                    "confluence_content_properties",
                    [
                        {**property_row(item, sid, "space"), "seen_sweep": ctx.run_id}
                        for sid, items in props
                        for item in items
                    ],
                    sweep=ctx.run_id,
                    close=Sweep(
                        "confluence_content_properties",
                        ctx.run_id,
                        f"container_type = 'space' AND container_id IN ({', '.join('?' * len(prop_ids))})",
                        tuple(prop_ids),
                    ),
                )
            )
        if perm_ids:
            batches.append(
                Batch(
                    "confluence_space_permissions",
                    [{**permission_row(item, sid), "seen_sweep": ctx.run_id} for sid, items in perms for item in items],
                    sweep=ctx.run_id,
                    close=Sweep(
                        "confluence_space_permissions",
                        ctx.run_id,
                        f"space_id IN ({', '.join('?' * len(perm_ids))})",
                        tuple(perm_ids),
                    ),
                )
            )
        if batches:
            await ctx.emit_together(batches)


def restriction_rows(data: Row, container_id: str, container_type: str) -> list[Row]:
    """One row per (operation, user or group) of a v1 restriction answer."""
    rows = []
    for entry in data.get("results") or []:
        operation = entry.get("operation")
        granted = entry.get("restrictions") or {}
        for principal_type, key in (("user", "accountId"), ("group", "id")):
            for who in (granted.get(principal_type) or {}).get("results") or []:
                principal = who.get(key) or who.get("name")
                rows.append(
                    {
                        "id": f"{container_id}:{operation}:{principal_type}:{principal}",
                        "container_id": container_id,
                        "container_type": container_type,
                        "operation": operation,
                        "principal_type": principal_type,
                        "principal_id": principal,
                        "principal_name": who.get("displayName") or who.get("name"),
                        "raw": dumps(who),
                    }
                )
    return rows


async def restrictions_of(ctx: SyncContext, container_id: str) -> Row | None:
    """A page's or blog post's restrictions, every user and group; None when it is gone (deleted since it
    was listed). `start` and `limit` page the users and the groups of every operation alike: asked again
    from the next `start` while some list came back full."""
    merged: dict[str, dict[str, list[Row]]] = {}
    start = 0
    while True:
        params = {"expand": "restrictions.user,restrictions.group", "start": start, "limit": RESTRICTION_PAGE}
        try:
            response = await ctx.client.get("confluence", f"/wiki/rest/api/content/{container_id}/restriction", params)
        except ApiError as error:
            if error.status == 404 and not isinstance(error, MissingScope):
                return None
            raise
        data = response.data if isinstance(response.data, dict) else {}
        steps = []
        for entry in data.get("results") or []:
            operation = merged.setdefault(entry.get("operation"), {"user": [], "group": []})
            for kind, part in (entry.get("restrictions") or {}).items():
                if kind not in operation or not isinstance(part, dict):
                    continue
                found = part.get("results") or []
                operation[kind] += found
                page = part.get("limit") or RESTRICTION_PAGE  # a server may cap the limit asked for
                if found and len(found) >= page:
                    steps.append(page)
        if not steps:
            break
        start += min(steps)
    return {
        "results": [
            {"operation": op, "restrictions": {kind: {"results": who} for kind, who in parts.items()}}
            for op, parts in merged.items()
        ]
    }


async def sync_restrictions(ctx: SyncContext) -> None:
    """Page and blog post restrictions, when switched on: one v1 request per page and blog post, every run
    (a restriction changes no version, and no listing tells which pages have any)."""
    if not ctx.settings.confluence_restrictions:
        return
    scope, params = container_scope(ctx, "id")
    for kind, table in TABLES.items():
        ids = [r[0] for r in ctx.db.execute(f"SELECT id FROM {table} WHERE deleted_at IS NULL AND {scope}", params)]
        for start in range(0, len(ids), AT_ONCE):
            chunk = ids[start : start + AT_ONCE]
            answered = present(chunk, await at_once(ctx, [partial(restrictions_of, ctx, cid) for cid in chunk]))
            if not answered:
                continue
            rows = [
                {**row, "seen_sweep": ctx.run_id} for cid, data in answered for row in restriction_rows(data, cid, kind)
            ]
            ids = [cid for cid, _ in answered]
            marks = ", ".join("?" * len(ids))
            close = Sweep(
                "confluence_restrictions", ctx.run_id, f"container_type = ? AND container_id IN ({marks})", (kind, *ids)
            )
            await ctx.emit(Batch("confluence_restrictions", rows, sweep=ctx.run_id, close=close))
