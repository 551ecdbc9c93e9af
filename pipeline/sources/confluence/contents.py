"""Pages and blog posts: per space with bodies the first time; then site-wide metadata, and bodies by id for
what changed."""

from __future__ import annotations

import orjson

from ...context import Chain, SyncContext
from ...paginate import cursor_pages
from ...store import Batch, Sweep
from .listing import chain_pages
from .rows import BY_ID, LIMIT, STATUSES, TABLES, V2, Row, content_row, seen, version_of


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
    async for page in chain_pages(ctx, chain, f"{V2}/{kind}s", {"limit": LIMIT, **STATUSES[kind]}):
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
    params = {"limit": LIMIT, **STATUSES[kind], **({"body-format": "storage"} if with_bodies else {})}
    changed = ChangedContent(ctx, kind, chain, mode)
    pages = chain_pages(ctx, chain, f"{V2}/spaces/{space['id']}/{kind}s", params)
    async for page in ctx.listings.pages(pages, LIMIT) if with_bodies else pages:
        if with_bodies:
            rows = seen(await ctx.rows_of(content_row, page.items, kind), chain.sweep)
            await ctx.emit(Batch(table, rows, state=chain.checkpoint(page.next, mode=mode), sweep=chain.sweep))
            rows = None
        else:
            await changed.compare(page.items, page.next)
        page = None  # let go before the next page is fetched: the listing gate counts one page a chain
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
            params = {"id": ",".join(chunk), **STATUSES[self.kind], "body-format": "storage", "limit": LIMIT}
            pages = cursor_pages(self.ctx.client, "confluence", f"{V2}/{self.kind}s", params)
            async for page in self.ctx.listings.pages(pages, len(chunk)):
                rows += await self.ctx.rows_of(content_row, page.items, self.kind)
            state = self.chain.checkpoint(following, mode=self.mode) if not self.pending and following else {}
            await self.ctx.emit(Batch(self.table, seen(rows, self.chain.sweep), state=state, sweep=self.chain.sweep))
