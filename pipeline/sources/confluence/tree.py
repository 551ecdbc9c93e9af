"""The page tree beyond pages: folders, whiteboards, databases and embeds ("nodes"), in their own tables.

There is no v2 listing of nodes, and v1's `content?type=folder` answers 501: the CQL search is their only
index, and the only way to find an empty folder or whiteboard at a space's root. Every run:

1. one CQL listing of all four types, `ceil(nodes / 100)` requests. Its traps (API_NOTES §7): `start` is
   ignored, so only the cursor is followed; a short page is not the end, only a missing `next` is; the
   next link is relative to /wiki; `totalSize` is an estimate and is not used; archived spaces' content is
   left out unless `includeArchivedSpaces=true` is sent (with every page: not known to survive in `next`);
2. `GET /{type}s/{id}` for each node that is new, or whose title or lastModified differs from the last
   listing (a rename or a move), and for each stored node the listing no longer shows: a 404 (or a
   trashed node) is a deletion; anything else is kept (archived content is invisible to CQL, and a node
   the lagging index dropped for a moment is still there);
3. `GET` for every parent a stored page or node points to that is not stored (an archived folder, a node
   newer than the index), upwards until the tree is whole.

So a quiet night costs the listing alone; each changed node one request more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio

from ...context import SyncContext
from ...errors import ApiError, MissingScope, UnexpectedResponse
from ...paginate import items_of, next_link
from ...store import Batch, Sweep, dumps
from ...times import utc
from .rows import V2, Row, version_of
from .scope import selected_spaces

NODE_TYPES = ("folder", "whiteboard", "database", "embed")
SEARCH = "/wiki/rest/api/search"
ARCHIVED_SPACES = "includeArchivedSpaces"
SEARCH_LIMIT = 100
BY_ID_AT_ONCE = 100  # node GETs in flight per written batch
GONE_STATUSES = ("trashed", "deleted", "purged")


def node_table(kind: str) -> str:
    return f"confluence_{kind}s"


def node_row(item: Row, listed_modified: str | None) -> Row:
    version = version_of(item)
    return {
        "id": str(item["id"]),
        "space_id": item.get("spaceId"),
        "parent_id": item.get("parentId"),
        "parent_type": item.get("parentType"),
        "title": item.get("title"),
        "status": item.get("status"),
        "position": item.get("position"),
        "version": version.get("number"),
        "created_at": utc(item.get("createdAt")),
        "updated_at": utc(version.get("createdAt")),
        "author_id": item.get("authorId"),
        "owner_id": item.get("ownerId"),
        "raw": dumps(item),
        "listed_modified": listed_modified,
    }


def cql_quote(value: str) -> str:
    """A CQL string literal: an unescaped quote would rewrite the query (escape `\\` first, then `"`)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Listed:
    kind: str
    title: str | None
    modified: str | None


@dataclass
class TreeRun:
    ctx: SyncContext
    refused: set[str] = field(default_factory=set)  # node types this token may not read
    listed_types: set[str] = field(default_factory=set)  # node types the CQL listing covered
    listed: dict[str, Listed] = field(default_factory=dict)  # the CQL listing of this run

    async def run(self) -> None:
        listed: dict[str, Listed] | None = None

        async def search() -> None:
            nonlocal listed
            listed = await self.listing()

        await self.ctx.guarded("confluence tree (CQL search)", search)
        self.listed = listed or {}
        if listed is not None:  # without a listing, deletions cannot be told from silence
            for kind in NODE_TYPES:
                if kind in self.listed_types:
                    await self.guarded(kind, self.refresh_listed, kind, listed)
        await self.ctx.guarded("confluence tree parents", self.resolve_parents)

    async def guarded(self, kind: str, work, *args) -> None:
        """One node type's part, recorded (and owed) on its own: a type the token may not read is not
        asked again this run, and the other types go on."""
        if kind in self.refused:
            return
        stream, before = f"confluence {kind}s", len(self.ctx.errors)
        await self.ctx.guarded(stream, work, *args)
        if any(e.stream == stream for e in self.ctx.errors[before:]):  # other streams fail meanwhile too
            self.refused.add(kind)

    # -- 1. the CQL listing ---------------------------------------------------------------------
    async def listing(self) -> dict[str, Listed]:
        """All four types in one query; if the site's CQL refuses it (a type it does not know makes the whole
        query a 400), each type alone, and a type refused alone is found only through what is under it."""
        found: dict[str, Listed] = {}
        try:
            await self.collect(NODE_TYPES, found)
            self.listed_types = set(NODE_TYPES)
            return found
        except ApiError as error:
            if error.status != 400 or isinstance(error, MissingScope):
                raise
        found.clear()
        for kind in NODE_TYPES:
            try:
                await self.collect((kind,), found)
                self.listed_types.add(kind)
            except ApiError as error:
                if error.status != 400 or isinstance(error, MissingScope):
                    raise
                self.ctx.progress.warn(
                    "confluence tree (CQL search)",
                    f"this site's CQL does not know type {kind}: {kind}s are found only through what is under them",
                )
        return found

    async def collect(self, kinds: tuple[str, ...], found: dict[str, Listed]) -> None:
        async for results in self.search_pages(self.cql(kinds)):
            for result in results:
                content = result.get("content") or {}
                if content.get("type") in kinds and content.get("id"):
                    title = content.get("title") or result.get("title")
                    found[str(content["id"])] = Listed(content["type"], title, result.get("lastModified"))

    def cql(self, kinds: tuple[str, ...] = NODE_TYPES) -> str:
        cql = f"type in ({', '.join(kinds)})"
        if self.ctx.settings.spaces:
            cql += f" and space in ({', '.join(cql_quote(k) for k in self.ctx.settings.spaces)})"
        return cql

    async def search_pages(self, cql: str) -> AsyncIterator[list[Row]]:
        link: str | None = SEARCH
        # archived spaces' content is left out of a search unless asked for (the spec's default is false)
        params: Row | None = {"cql": cql, "limit": SEARCH_LIMIT, ARCHIVED_SPACES: "true"}
        while link:
            response = await self.ctx.client.get("confluence", link, params)
            params = None  # the next link carries the query and the cursor
            yield items_of(response, "results")
            following = next_link(response)
            if following and following.startswith("/rest/"):
                following = "/wiki" + following  # CQL's next link is relative to /wiki
            if following and ARCHIVED_SPACES not in following:  # not known to survive into the next link
                following += ("&" if "?" in following else "?") + f"{ARCHIVED_SPACES}=true"
            if following is not None and following == link:
                raise UnexpectedResponse("the CQL search returned the same next link twice; stopping")
            link = following

    # -- 2. what the listing says changed ---------------------------------------------------------
    async def refresh_listed(self, kind: str, listed: dict[str, Listed]) -> None:
        table = node_table(kind)
        spaces = selected_spaces(self.ctx)
        scope, params = (
            ("1 = 1", ())
            if not self.ctx.settings.spaces
            else (
                f"space_id IN ({', '.join('?' * len(spaces)) or 'NULL'})",
                tuple(spaces),
            )
        )
        stored = {
            r[0]: (r[1], r[2])
            for r in self.ctx.db.execute(
                f"SELECT id, title, listed_modified FROM {table} WHERE deleted_at IS NULL AND {scope}", params
            )
        }
        mine = {i: entry for i, entry in listed.items() if entry.kind == kind}
        changed = [i for i, entry in mine.items() if stored.get(i) != (entry.title, entry.modified)]
        vanished = [i for i in stored if i not in mine]
        await self.fetch(kind, changed + vanished, {i: e.modified for i, e in mine.items()})

    # -- 3. parents nobody listed -----------------------------------------------------------------
    async def resolve_parents(self) -> None:
        tried: set[str] = set()
        while True:
            await self.ctx.flush()
            missing: dict[str, list[str]] = {}
            for parent_id, parent_type in self.ctx.db.execute(MISSING_PARENTS):
                if parent_id not in tried and parent_type not in self.refused:
                    missing.setdefault(parent_type, []).append(parent_id)
            if not missing:
                return
            for kind, ids in missing.items():
                tried.update(ids)
                await self.guarded(kind, self.fetch, kind, ids, {})

    # -- fetching nodes by id ---------------------------------------------------------------------
    async def fetch(self, kind: str, ids: list[str], modified: dict[str, str | None]) -> None:
        """GET each node (many at once), store what came back, mark what is gone as deleted."""
        table = node_table(kind)
        for start in range(0, len(ids), BY_ID_AT_ONCE):
            found, gone = await self.get_many(kind, ids[start : start + BY_ID_AT_ONCE])
            rows = [node_row(item, modified.get(str(item["id"]))) for item in found]
            gone += [r["id"] for r in rows if r["status"] in GONE_STATUSES]
            close = Sweep(table, -1, f"id IN ({', '.join('?' * len(gone))})", tuple(gone)) if gone else None
            await self.ctx.emit(Batch(table, rows, close=close))
            if gone:
                await self.refetch_children(gone)

    async def refetch_children(self, gone: list[str]) -> None:
        """Confluence moves a deleted node's children up to its parent without changing their lastModified,
        so the listing shows no change: the stored nodes under a node found gone are asked for again (pages
        need not be: their listing compares parentId)."""
        await self.ctx.flush()
        marks = ", ".join("?" * len(gone))
        for kind in NODE_TYPES:
            if kind in self.refused:
                continue
            orphans = [
                r[0]
                for r in self.ctx.db.execute(
                    f"SELECT id FROM {node_table(kind)} WHERE deleted_at IS NULL AND parent_id IN ({marks})", gone
                )
            ]
            if orphans:
                await self.guarded(
                    kind, self.fetch, kind, orphans, {i: self.listed[i].modified for i in orphans if i in self.listed}
                )

    async def get_many(self, kind: str, ids: list[str]) -> tuple[list[Row], list[str]]:
        found: list[Row] = []
        gone: list[str] = []
        failures: list[BaseException] = []
        limiter = anyio.CapacityLimiter(max(1, self.ctx.settings.concurrency))

        async def one(node_id: str) -> None:
            async with limiter:
                if failures:
                    return
                try:
                    response = await self.ctx.client.get("confluence", f"{V2}/{kind}s/{node_id}")
                except MissingScope as error:
                    failures.append(error)
                    return
                except ApiError as error:
                    if error.status == 404:
                        gone.append(node_id)
                    elif error.status != 403:  # a restricted node stays as last stored
                        failures.append(error)
                    return
                if isinstance(response.data, dict) and response.data.get("id"):
                    found.append(response.data)

        async with anyio.create_task_group() as group:
            for node_id in ids:
                group.start_soon(one, node_id)
        if failures:
            raise failures[0]  # the first failure as itself, not wrapped in a group
        return found, gone


_LIVE_NODES = " UNION ALL ".join(
    f"SELECT id, parent_id, parent_type FROM {node_table(k)} WHERE deleted_at IS NULL" for k in NODE_TYPES
)
MISSING_PARENTS = f"""
WITH child(parent_id, parent_type) AS (
    SELECT parent_id, COALESCE(parent_type, json_extract(raw, '$.parentType')) FROM confluence_pages
    WHERE deleted_at IS NULL AND parent_id IS NOT NULL
    UNION ALL SELECT parent_id, parent_type FROM ({_LIVE_NODES}) WHERE parent_id IS NOT NULL)
SELECT DISTINCT parent_id, parent_type FROM child
WHERE parent_type IN ({", ".join(f"'{k}'" for k in NODE_TYPES)})
AND parent_id NOT IN (SELECT id FROM ({_LIVE_NODES}))
"""


async def sync_tree(ctx: SyncContext) -> None:
    """Folders, whiteboards, databases and embeds (after pages are committed: their parents are read)."""
    await TreeRun(ctx).run()
