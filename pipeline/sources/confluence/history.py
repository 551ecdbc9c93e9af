"""Every version of every page and blog post; with `[confluence] history = "bodies"` each old body too.

A version never changes once made. So a container's versions are asked for only when its version number
has moved past the one its history was stored at (`history_version`), newest first and only as many as
are new: one request per new or changed page or blog post (more only past 250 new versions, or when
versions were made since the page was listed: the listing is followed down to the first new one). A body is
fetched once per version (`GET /{kind}s/{id}?version=N`) and never again; the current version's body is
the one the page row already holds, so it costs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio

from ...context import SyncContext
from ...errors import ApiError, DiskFull, MissingScope
from ...paginate import cursor_pages
from ...store import Batch, dumps
from ...times import utc
from .rows import TABLES, V2, Row, body_of, version_of
from .scope import container_scope

VERSION_PAGE = 250
AT_ONCE = 100  # containers (or bodies) per committed batch


def version_row(item: Row, container_id: str, kind: str) -> Row:
    """One version. The key (container_id, number) comes first: the store upserts on the first two columns."""
    return {
        "container_id": container_id,
        "number": item.get("number"),
        "container_type": kind,
        "created_at": utc(item.get("createdAt")),
        "author_id": item.get("authorId"),
        "message": item.get("message"),
        "minor_edit": int(bool(item.get("minorEdit"))),
        "raw": dumps(item),
    }


async def sync_versions(ctx: SyncContext) -> None:
    if ctx.settings.confluence_history == "off":
        return
    scope, params = container_scope(ctx, "id")
    for kind, table in TABLES.items():
        stale = ctx.db.execute(
            f"SELECT id, version, history_version FROM {table} WHERE deleted_at IS NULL AND version IS NOT NULL "
            f"AND history_version IS NOT version AND {scope}",
            params,
        ).fetchall()
        for start in range(0, len(stale), AT_ONCE):
            chunk = stale[start : start + AT_ONCE]
            found = await at_once(ctx, [partial(new_versions, ctx, kind, *c) for c in chunk])
            rows = [row for answer in found if answer is not None for row in answer[0]]
            done = [
                {"id": c[0], "history_version": answer[1]}
                for c, answer in zip(chunk, found, strict=True)
                if answer is not None
            ]
            await ctx.emit_together([Batch("confluence_versions", rows), Batch(table, done, update_only=True)])
    if ctx.settings.confluence_history == "bodies":
        await ctx.flush()
        await version_bodies(ctx)


async def new_versions(
    ctx: SyncContext, kind: str, container_id: str, current: int, known: int | None
) -> tuple[list[Row], int] | None:
    """The versions after `known`, newest first, and the number the container's history is now stored up to;
    None when the container is gone (nothing to record).

    Versions made since the page row was listed come first in the listing: it is followed until the first
    version after `known` is seen (or it ends: a version deleted in Confluence leaves a number out for
    good), so none is skipped, and the newest seen is recorded, so they are not asked for again."""
    floor = known or 0
    params = {"limit": max(1, min(VERSION_PAGE, current - floor)), "sort": "-modified-date"}
    rows: list[Row] = []
    try:
        async for page in cursor_pages(ctx.client, "confluence", f"{V2}/{kind}s/{container_id}/versions", params):
            numbers = [v["number"] for v in page.items if isinstance(v.get("number"), int)]
            fresh = [v for v in page.items if isinstance(v.get("number"), int) and v["number"] > floor]
            rows += [version_row(v, container_id, kind) for v in fresh]
            if numbers and min(numbers) <= floor + 1:
                break  # down to the first new version: the rest is stored already
    except ApiError as error:
        if error.status == 404 and not isinstance(error, MissingScope):
            return None
        raise
    return rows, max([current, *(r["number"] for r in rows)])


async def version_bodies(ctx: SyncContext) -> None:
    """Each version's storage body, once: the current one from the page row, older ones by id."""
    scope, params = container_scope(ctx)
    for kind, table in TABLES.items():
        current = ctx.db.execute(
            f"SELECT v.container_id, v.number, c.body_storage FROM confluence_versions v JOIN {table} c "
            f"ON c.id = v.container_id AND c.version = v.number WHERE v.body_storage IS NULL "
            f"AND c.body_storage IS NOT NULL AND {scope.replace('container_id', 'v.container_id')}",
            params,
        ).fetchall()
        rows = [{"container_id": cid, "number": number, "body_storage": body} for cid, number, body in current]
        for start in range(0, len(rows), 500):
            await ctx.emit(Batch("confluence_versions", rows[start : start + 500]))
        older = ctx.db.execute(
            f"SELECT v.container_id, v.number FROM confluence_versions v JOIN {table} c ON c.id = v.container_id "
            f"WHERE v.body_storage IS NULL AND v.number < c.version AND c.deleted_at IS NULL "
            f"AND {scope.replace('container_id', 'v.container_id')}",
            params,
        ).fetchall()
        for start in range(0, len(older), AT_ONCE):
            chunk = older[start : start + AT_ONCE]
            bodies = await at_once(ctx, [partial(old_body, ctx, kind, *c) for c in chunk])
            rows = [
                {"container_id": cid, "number": number, "body_storage": body}
                for (cid, number), body in zip(chunk, bodies, strict=True)
                if body is not None
            ]
            if rows:
                await ctx.emit(Batch("confluence_versions", rows))


async def old_body(ctx: SyncContext, kind: str, container_id: str, number: int) -> str | None:
    params = {"version": number, "body-format": "storage"}
    try:
        response = await ctx.client.get("confluence", f"{V2}/{kind}s/{container_id}", params)
    except ApiError as error:
        if error.status == 404 and not isinstance(error, MissingScope):
            return None  # purged meanwhile: the version row stays, without its body
        raise
    item = response.data if isinstance(response.data, dict) else {}
    if version_of(item).get("number") not in (None, number):
        return None  # not the version asked for: never store one version's body under another's number
    # an answer without a body is kept as the empty body it is: NULL would ask for it again every run
    body = body_of(item)
    return "" if body is None else body


async def at_once(ctx: SyncContext, calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run calls concurrently (bounded by the concurrency setting); results in order; the first failure raised
    as itself."""
    results: list[Any] = [None] * len(calls)
    failures: list[BaseException] = []
    limiter = anyio.CapacityLimiter(max(1, ctx.settings.concurrency))

    async def run(index: int) -> None:
        async with limiter:
            if failures:
                return
            try:
                results[index] = await calls[index]()
            except DiskFull:
                raise
            except Exception as error:
                failures.append(error)

    async with anyio.create_task_group() as group:
        for index in range(len(calls)):
            group.start_soon(run, index)
    if failures:
        raise failures[0]
    return results
