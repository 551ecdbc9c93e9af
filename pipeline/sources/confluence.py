"""Confluence: which endpoints, in what order, mapped to which rows; full on the first run, incremental after.

1. spaces (one listing, a sweep for deletions);
2. pages and blog posts, one cursor chain per space, chains in parallel. The first time a space is
   seen, the listing carries the storage bodies. After that the listing carries only metadata, the
   version numbers are compared with the store, and bodies are fetched for what changed, 100 ids a request;
3. at once: footer and inline comments (site-wide, newest-modified first, down to the saved mark, then a
   listing of ids to notice deletions), attachments (site-wide metadata; bytes only for a new version),
   and labels for the pages and blog posts whose version changed.

Every listing is a sweep: rows it sees are stamped with the sweep's id, and when it completes, the rows in
its scope it did not see get `deleted_at`. A listing's cursor commits with its rows, so a killed run
resumes where it stopped, in the same sweep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import orjson

from ..context import Chain, DownloadJob, SyncContext
from ..errors import ApiError
from ..paginate import Page, cursor_pages, items_of, next_link
from ..store import Batch, Sweep, dumps
from ..text import from_storage

V2 = "/wiki/api/v2"
LIMIT = 250
BY_ID = 100  # ids per GET /pages?id=... (keeps URLs short)
TABLES = {"page": "confluence_pages", "blogpost": "confluence_blogposts"}
Row = dict[str, Any]


# -- rows: API objects -> table rows (pure, tested without a network) ------------------------------
def body_of(item: Row) -> str | None:
    body = item.get("body") or {}
    storage = body.get("storage") if isinstance(body, dict) else None
    return storage.get("value") if isinstance(storage, dict) else None


def version_of(item: Row) -> Row:
    return item.get("version") or {}


def space_row(item: Row) -> Row:
    return {
        "id": str(item["id"]),
        "key": item.get("key"),
        "name": item.get("name"),
        "type": item.get("type"),
        "status": item.get("status"),
        "homepage_id": item.get("homepageId"),
        "created_at": item.get("createdAt"),
        "raw": dumps(item),
    }


def content_row(item: Row, kind: str) -> Row:
    """A page or blog post. The body goes to its own column; `raw` keeps everything else."""
    version = version_of(item)
    raw = {k: v for k, v in item.items() if k != "body"}
    row = {
        "id": str(item["id"]),
        "space_id": item.get("spaceId"),
        "title": item.get("title"),
        "status": item.get("status"),
        "version": version.get("number"),
        "created_at": item.get("createdAt"),
        "updated_at": version.get("createdAt"),
        "author_id": item.get("authorId"),
        "body_storage": body_of(item),
        "body_text": from_storage(body_of(item)),
        "raw": dumps(raw),
    }
    if kind == "page":
        row["parent_id"] = item.get("parentId")
    return row


def container_of(item: Row) -> tuple[str | None, str | None]:
    for key, kind in (
        ("pageId", "page"),
        ("blogPostId", "blogpost"),
        ("attachmentId", "attachment"),
        ("customContentId", "custom"),
    ):
        if item.get(key):
            return str(item[key]), kind
    return None, None


def comment_row(item: Row, kind: str) -> Row:
    container, container_type = container_of(item)
    version = version_of(item)
    raw = {k: v for k, v in item.items() if k != "body"}
    return {
        "id": str(item["id"]),
        "container_id": container,
        "container_type": container_type,
        "parent_comment_id": item.get("parentCommentId"),
        "kind": kind,
        "status": item.get("status"),
        "version": version.get("number"),
        "updated_at": version.get("createdAt"),
        "author_id": version.get("authorId"),
        "body_storage": body_of(item),
        "body_text": from_storage(body_of(item)),
        "raw": dumps(raw),
    }


def attachment_row(item: Row) -> Row:
    container, container_type = container_of(item)
    version = version_of(item)
    return {
        "id": str(item["id"]),
        "container_id": container,
        "container_type": container_type,
        "title": item.get("title"),
        "media_type": item.get("mediaType"),
        "file_size": item.get("fileSize"),
        "version": version.get("number"),
        "created_at": item.get("createdAt"),
        "file_id": item.get("fileId"),
        "raw": dumps(item),
    }


def label_row(label: Row) -> Row:
    return {"id": str(label["id"]), "name": label.get("name"), "prefix": label.get("prefix"), "raw": dumps(label)}


def download_path(container_id: str, attachment_id: str) -> str:
    """The v1 download, which accepts token auth (the servlet behind downloadLink answers 401 to it)."""
    return f"/wiki/rest/api/content/{container_id}/child/attachment/{attachment_id}/download"


def seen(rows: list[Row], sweep: int) -> list[Row]:
    return [{**row, "seen_sweep": sweep} for row in rows]


# -- the sync -----------------------------------------------------------------------------------------
async def sync(ctx: SyncContext) -> None:
    spaces = await sync_spaces(ctx)
    limiter = anyio.CapacityLimiter(ctx.settings.concurrency)
    async with anyio.create_task_group() as group:
        for kind in ("page", "blogpost"):
            if site_wide(ctx, kind):
                group.start_soon(ctx.guarded, f"confluence {kind}s", sync_all_contents, ctx, kind, spaces)
                continue
            for space in spaces:
                stream = f"confluence {kind}s of {space['key']}"
                group.start_soon(_limited, limiter, ctx, stream, sync_contents, ctx, space, kind)
    await ctx.flush()  # comments, attachments and labels are matched against the pages just committed
    async with anyio.create_task_group() as group:
        for kind in ("footer", "inline"):
            group.start_soon(ctx.guarded, f"confluence {kind} comments", sync_comments, ctx, kind)
        group.start_soon(ctx.guarded, "confluence attachments", sync_attachments, ctx)
        group.start_soon(ctx.guarded, "confluence labels", sync_labels, ctx)


async def _limited(limiter: anyio.CapacityLimiter, ctx: SyncContext, stream: str, work, *args: Any) -> None:
    async with limiter:
        await ctx.guarded(stream, work, *args)


def selected_spaces(ctx: SyncContext) -> tuple[str, ...]:
    return ctx.notes.get("confluence_space_ids", ())


def container_scope(ctx: SyncContext, column: str = "container_id") -> tuple[str, tuple]:
    """The SQL scope of site-wide listings: everything, or with --spaces only those spaces' content."""
    spaces = selected_spaces(ctx)
    if not ctx.settings.spaces:
        return "1 = 1", ()
    marks = ", ".join("?" * len(spaces)) or "NULL"
    sql = (
        f"{column} IN (SELECT id FROM confluence_pages WHERE space_id IN ({marks}) "
        f"UNION SELECT id FROM confluence_blogposts WHERE space_id IN ({marks}))"
    )
    return sql, (*spaces, *spaces)


def scoped(ctx: SyncContext, rows: list[Row]) -> list[Row]:
    """Rows whose container is in the selected spaces (all rows without --spaces)."""
    if not ctx.settings.spaces:
        return rows
    spaces = selected_spaces(ctx)
    marks = ", ".join("?" * len(spaces)) or "NULL"
    containers = [r["container_id"] for r in rows if r["container_id"]]
    found: set[str] = set()
    for table in TABLES.values():
        sql = f"SELECT id FROM {table} WHERE id IN ({{marks}}) AND space_id IN ({marks})"
        found |= {r[0] for r in ctx.lookup(sql, containers, *spaces)}
    return [r for r in rows if r["container_id"] in found]


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


async def chain_pages(ctx: SyncContext, chain: Chain, path: str, params: Row) -> AsyncIterator[Page]:
    """The pages of a listing chain, from its saved cursor when a killed run left one. A cursor the
    server no longer accepts (it may be days old) restarts the listing from the top, in a new sweep."""
    if chain.resume:
        try:
            response = await ctx.client.get("confluence", chain.resume)
        except ApiError as error:
            if error.status not in (400, 404, 410):
                raise
            chain.resume, chain.sweep = None, ctx.run_id
        else:
            page = Page(items_of(response, "results"), next_link(response))
            yield page
            if page.next:
                async for more in cursor_pages(ctx.client, "confluence", page.next):
                    yield more
            return
    async for page in cursor_pages(ctx.client, "confluence", path, params):
        yield page


# -- pages and blog posts -----------------------------------------------------------------------------
def site_wide(ctx: SyncContext, kind: str) -> bool:
    """Once a site is known, one metadata listing of the whole site costs fewer requests than one per
    space (a new space's pages are simply new, fetched by id). The first run lists per space, with
    bodies, in parallel; so do runs limited by --spaces or --full, and runs that resume a per-space listing."""
    if ctx.settings.spaces or ctx.settings.full:
        return False
    if ctx.saved(f"confluence:{kind}s").get("next"):
        return True
    rows = ctx.db.execute("SELECT value FROM sync_state WHERE stream LIKE ?", (f"confluence:{kind}s:%",)).fetchall()
    resuming_per_space = any(orjson.loads(value).get("next") for (value,) in rows)
    known = ctx.db.execute(f"SELECT 1 FROM {TABLES[kind]} LIMIT 1").fetchone()
    return bool(known) and not resuming_per_space


async def sync_all_contents(ctx: SyncContext, kind: str, spaces: list[Row]) -> None:
    """Every page (or blog post) of the site: metadata compared with the store, bodies for what changed."""
    table = TABLES[kind]
    chain = ctx.chain(f"confluence:{kind}s")
    changed = ChangedContent(ctx, kind, chain, "versions")
    async for page in chain_pages(ctx, chain, f"{V2}/{kind}s", {"limit": LIMIT}):
        await changed.compare(page.items, page.next)
    await changed.flush(None)
    stale = {f"confluence:{kind}s:{space['id']}": None for space in spaces}  # per-space cursors of an old sweep
    await ctx.emit(Batch(table, close=Sweep(table, chain.sweep), state={chain.stream: None, **stale}))


async def sync_contents(ctx: SyncContext, space: Row, kind: str) -> None:
    table = TABLES[kind]
    chain = ctx.chain(f"confluence:{kind}s:{space['id']}")
    known = ctx.db.execute(f"SELECT COUNT(*) FROM {table} WHERE space_id = ?", (space["id"],)).fetchone()[0]
    with_bodies = chain.saved.get("mode") == "bodies" if chain.resume else (known == 0 or ctx.settings.full)
    mode = "bodies" if with_bodies else "versions"
    params = {"limit": LIMIT, **({"body-format": "storage"} if with_bodies else {})}
    changed = ChangedContent(ctx, kind, chain, mode)
    async for page in chain_pages(ctx, chain, f"{V2}/spaces/{space['id']}/{kind}s", params):
        if with_bodies:
            rows = seen([content_row(item, kind) for item in page.items], chain.sweep)
            await ctx.emit(Batch(table, rows, state=chain.checkpoint(page.next, mode=mode), sweep=chain.sweep))
        else:
            await changed.compare(page.items, page.next)
    await changed.flush(None)
    close = Sweep(table, chain.sweep, "space_id = ?", (space["id"],))
    await ctx.emit(Batch(table, close=close, state={chain.stream: None, f"confluence:{kind}s": None}))


class ChangedContent:
    """Metadata pages compared with the store; bodies fetched by id for what changed, 100 at a time.

    The cursor only advances past a listing page once the changed items found on it are committed."""

    def __init__(self, ctx: SyncContext, kind: str, chain: Chain, mode: str) -> None:
        self.ctx, self.kind, self.chain, self.mode = ctx, kind, chain, mode
        self.table = TABLES[kind]
        self.pending: list[str] = []

    async def compare(self, items: list[Row], following: str | None) -> None:
        ids = [str(item["id"]) for item in items]
        parent = "parent_id" if self.kind == "page" else "NULL"
        stored = {
            r[0]: r[1:]
            for r in self.ctx.lookup(
                f"SELECT id, version, status, title, {parent} FROM {self.table} WHERE id IN ({{marks}})",
                ids,
            )
        }
        unchanged = []
        for item in items:
            now = (version_of(item).get("number"), item.get("status"), item.get("title"), item.get("parentId"))
            if stored.get(str(item["id"])) == now:
                unchanged.append(str(item["id"]))
            else:
                self.pending.append(str(item["id"]))
        if unchanged:
            await self.ctx.emit(Batch(self.table, touch=unchanged, sweep=self.chain.sweep))
        if len(self.pending) >= BY_ID:
            await self.flush(following)

    async def flush(self, following: str | None) -> None:
        while self.pending:
            chunk, self.pending = self.pending[:BY_ID], self.pending[BY_ID:]
            rows = []
            params = {"id": ",".join(chunk), "body-format": "storage", "limit": LIMIT}
            async for page in cursor_pages(self.ctx.client, "confluence", f"{V2}/{self.kind}s", params):
                rows += [content_row(item, self.kind) for item in page.items]
            state = self.chain.checkpoint(following, mode=self.mode) if not self.pending and following else {}
            await self.ctx.emit(Batch(self.table, seen(rows, self.chain.sweep), state=state, sweep=self.chain.sweep))


# -- comments -------------------------------------------------------------------------------------------
async def sync_comments(ctx: SyncContext, kind: str) -> None:
    mark_stream = f"confluence:comments:{kind}:mark"
    mark = None if ctx.settings.full else ctx.saved(mark_stream).get("mark")
    newest = await recent_comments(ctx, kind, mark) if mark else None
    await ctx.flush()  # the id listing below compares versions with what the recent listing stored
    chain = ctx.chain(f"confluence:comments:{kind}")
    # the listing that notices deletions: ids and versions only on later runs, everything the first time
    with_bodies = mark is None
    params = {"limit": LIMIT, **({"body-format": "storage"} if with_bodies else {})}
    newest = max(filter(None, [newest, mark]), default=None)
    async for page in chain_pages(ctx, chain, f"{V2}/{kind}-comments", params):
        rows = scoped(ctx, [comment_row(item, kind) for item in page.items])
        newest = max([newest or "", *(r["updated_at"] or "" for r in rows)]) or None
        if with_bodies:
            await ctx.emit(
                Batch(
                    "confluence_comments", seen(rows, chain.sweep), state=chain.checkpoint(page.next), sweep=chain.sweep
                )
            )
        else:
            await touch_or_fetch_comments(ctx, kind, rows, chain, page.next)
    scope, params_ = container_scope(ctx)
    close = Sweep("confluence_comments", chain.sweep, f"kind = ? AND {scope}", (kind, *params_))
    state = {chain.stream: None, mark_stream: dumps({"mark": newest}) if newest else None}
    await ctx.emit(Batch("confluence_comments", close=close, state=state))


async def recent_comments(ctx: SyncContext, kind: str, mark: str) -> str | None:
    """Comments modified since the mark (less the overlap), newest first, with their bodies."""
    since = (datetime.fromisoformat(mark) - timedelta(minutes=ctx.settings.jira_overlap_minutes)).astimezone(UTC)
    threshold = since.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    newest = None
    params = {"limit": LIMIT, "body-format": "storage", "sort": "-modified-date"}
    async for page in cursor_pages(ctx.client, "confluence", f"{V2}/{kind}-comments", params):
        rows = scoped(ctx, [comment_row(item, kind) for item in page.items])
        fresh = [r for r in rows if (r["updated_at"] or "") >= threshold]
        newest = max([newest or "", *(r["updated_at"] or "" for r in fresh)]) or None
        if fresh:
            await ctx.emit(Batch("confluence_comments", fresh))
        if len(fresh) < len(page.items):
            break  # the rest is older than the mark
    return newest


async def touch_or_fetch_comments(
    ctx: SyncContext, kind: str, rows: list[Row], chain: Chain, following: str | None
) -> None:
    """On the id listing: touch comments stored at this version; fetch the few the recent listing missed."""
    stored = dict(
        ctx.lookup("SELECT id, version FROM confluence_comments WHERE id IN ({marks})", [r["id"] for r in rows])
    )
    touch = [r["id"] for r in rows if stored.get(r["id"]) == r["version"]]
    fetched = []
    for row in rows:
        if stored.get(row["id"]) != row["version"]:
            response = await ctx.client.get(
                "confluence", f"{V2}/{kind}-comments/{row['id']}", {"body-format": "storage"}
            )
            fetched.append({**comment_row(response.data, kind), "seen_sweep": chain.sweep})
    await ctx.emit(
        Batch("confluence_comments", fetched, touch=touch, sweep=chain.sweep, state=chain.checkpoint(following))
    )


# -- attachments --------------------------------------------------------------------------------------
async def sync_attachments(ctx: SyncContext) -> None:
    chain = ctx.chain("confluence:attachments")
    async for page in chain_pages(ctx, chain, f"{V2}/attachments", {"limit": LIMIT}):
        rows = scoped(ctx, [attachment_row(item) for item in page.items])
        await ctx.emit(
            Batch(
                "confluence_attachments", seen(rows, chain.sweep), state=chain.checkpoint(page.next), sweep=chain.sweep
            )
        )
        await queue_downloads(ctx, [r["id"] for r in rows])
    scope, params = container_scope(ctx)
    close = Sweep("confluence_attachments", chain.sweep, scope, params)
    await ctx.emit(Batch("confluence_attachments", close=close, state={chain.stream: None}))
    await ctx.flush()
    await queue_downloads(ctx, None)  # anything an earlier, interrupted run listed but never downloaded


async def queue_downloads(ctx: SyncContext, ids: list[str] | None) -> None:
    """Queue bytes for attachments whose stored bytes are missing or of another version."""
    if ids is None:
        scope, params = container_scope(ctx)
        rows = ctx.db.execute(
            f"SELECT id, container_id, version, file_size, sha256, sha256_version FROM confluence_attachments "
            f"WHERE deleted_at IS NULL AND {scope}",
            params,
        ).fetchall()
    else:
        rows = ctx.lookup(
            "SELECT id, container_id, version, file_size, sha256, sha256_version "
            "FROM confluence_attachments WHERE id IN ({marks})",
            ids,
        )
    for attachment_id, container, version, size, sha, sha_version in rows:
        if sha and sha_version == version and ctx.blobs.has(sha):
            continue
        if ("confluence", attachment_id) in ctx.queued_downloads:
            continue
        ctx.queued_downloads.add(("confluence", attachment_id))
        await ctx.fetch_bytes(
            DownloadJob(
                "confluence",
                download_path(container, attachment_id),
                "confluence_attachments",
                attachment_id,
                version,
                size,
                f"attachment {attachment_id}",
            )
        )


# -- labels ---------------------------------------------------------------------------------------------
async def sync_labels(ctx: SyncContext) -> None:
    """Labels of the pages and blog posts whose labels are older than their version (new or changed)."""
    labels: list[Row] = []
    async for page in cursor_pages(ctx.client, "confluence", f"{V2}/labels", {"limit": LIMIT}):
        labels.extend(page.items)
        await ctx.emit(Batch("confluence_labels", [label_row(lab) for lab in page.items]))
    scope, params = container_scope(ctx, "id")
    stale = {
        kind: ctx.db.execute(
            f"SELECT id, version FROM {table} WHERE deleted_at IS NULL AND labels_version IS NOT version AND {scope}",
            params,
        ).fetchall()
        for kind, table in TABLES.items()
    }
    if not any(stale.values()):
        return
    if label_listing_cost(ctx, labels) < sum(map(len, stale.values())):
        await labels_by_label(ctx, labels, stale)
    else:
        await labels_per_container(ctx, stale)


def label_listing_cost(ctx: SyncContext, labels: list[Row]) -> int:
    """Requests to list every label's pages and blog posts, judged from the pairs stored last time."""
    stored = {
        label: (pages, blogs)
        for label, pages, blogs in ctx.db.execute(
            "SELECT label_id, SUM(content_type = 'page'), SUM(content_type = 'blogpost') "
            "FROM confluence_content_labels GROUP BY label_id"
        )
    }
    return sum(sum(max(1, -(-count // LIMIT)) for count in stored.get(str(label["id"]), (0, 0))) for label in labels)


async def labels_by_label(ctx: SyncContext, labels: list[Row], stale: dict[str, list[tuple]]) -> None:
    """Many containers to refresh: list each label's pages and blog posts, two requests a label."""
    wanted = {cid for rows in stale.values() for cid, _ in rows}
    pairs: list[Row] = []
    for label in labels:
        for kind in TABLES:
            async for page in cursor_pages(
                ctx.client, "confluence", f"{V2}/labels/{label['id']}/{kind}s", {"limit": LIMIT}
            ):
                pairs += [
                    {"content_id": str(i["id"]), "label_id": str(label["id"]), "content_type": kind}
                    for i in page.items
                    if str(i["id"]) in wanted
                ]
    await replace_labels(ctx, stale, pairs)


async def labels_per_container(ctx: SyncContext, stale: dict[str, list[tuple]]) -> None:
    """Few containers to refresh: ask each one, a request apiece."""
    for kind, rows in stale.items():
        for start in range(0, len(rows), 100):
            chunk = rows[start : start + 100]
            pairs = []
            for content_id, _ in chunk:
                async for page in cursor_pages(
                    ctx.client, "confluence", f"{V2}/{kind}s/{content_id}/labels", {"limit": LIMIT}
                ):
                    await ctx.emit(Batch("confluence_labels", [label_row(lab) for lab in page.items]))
                    pairs += [
                        {"content_id": content_id, "label_id": str(lab["id"]), "content_type": kind}
                        for lab in page.items
                    ]
            await replace_labels(ctx, {kind: chunk}, pairs)


async def replace_labels(ctx: SyncContext, stale: dict[str, list[tuple]], pairs: list[Row]) -> None:
    """New label pairs for these containers, and their labels marked current, in one transaction."""
    ids = [cid for rows in stale.values() for cid, _ in rows]
    batches = [Batch("confluence_content_labels", pairs, replace_for=ids)]
    for kind, rows in stale.items():
        if rows:
            versions = [{"id": cid, "labels_version": version} for cid, version in rows]
            batches.append(Batch(TABLES[kind], versions, update_only=True))
    await ctx.emit_together(batches)
