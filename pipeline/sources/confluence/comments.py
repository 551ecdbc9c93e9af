"""Footer and inline comments: site-wide, newest-modified first down to the mark, then ids to notice deletions."""

from __future__ import annotations

from datetime import timedelta

import anyio

from ...context import Chain, SyncContext
from ...errors import NotFound
from ...paginate import cursor_pages
from ...store import Batch, Sweep, dumps
from ...times import parse, stamp, utc
from .listing import chain_pages
from .replies import complete_replies
from .rows import LIMIT, V2, Row, comment_row, seen
from .scope import container_scope, scoped


async def sync_comments(ctx: SyncContext, kind: str) -> None:
    mark_stream = f"confluence:comments:{kind}:mark"
    # in the stored form, whatever an older version saved; a mark that cannot be read means: list everything
    mark = None if ctx.settings.full else utc(ctx.saved(mark_stream).get("mark"))
    newest = await recent_comments(ctx, kind, mark) if mark else None
    await ctx.flush()  # the id listing below compares versions with what the recent listing stored
    chain = ctx.chain(f"confluence:comments:{kind}")
    # the listing that notices deletions: ids and versions only on later runs, everything the first time
    with_bodies = mark is None
    params = {"limit": LIMIT, **({"body-format": "storage"} if with_bodies else {})}
    newest = max(filter(None, [newest, mark]), default=None)
    saw_reply = False
    pages = chain_pages(ctx, chain, f"{V2}/{kind}-comments", params)
    async for page in ctx.listings.pages(pages, LIMIT) if with_bodies else pages:
        rows = scoped(ctx, await ctx.rows_of(comment_row, page.items, kind))
        saw_reply = saw_reply or any(item.get("parentCommentId") for item in page.items)
        newest = max([newest or "", *(r["updated_at"] or "" for r in rows)]) or None
        if with_bodies:
            await ctx.emit(
                Batch(
                    "confluence_comments", seen(rows, chain.sweep), state=chain.checkpoint(page.next), sweep=chain.sweep
                )
            )
        else:
            await touch_or_fetch_comments(ctx, kind, rows, chain, page.next)
        page = rows = None  # let go before the next page is fetched: the listing gate counts one page a chain
    await complete_replies(ctx, kind, chain.sweep, saw_reply)  # replies the listing may leave out
    scope, params_ = container_scope(ctx)
    close = Sweep("confluence_comments", chain.sweep, f"kind = ? AND {scope}", (kind, *params_))
    state = {chain.stream: None, mark_stream: dumps({"mark": newest}) if newest else None}
    await ctx.emit(Batch("confluence_comments", close=close, state=state))


async def recent_comments(ctx: SyncContext, kind: str, mark: str) -> str | None:
    """Comments modified since the mark (less the overlap), newest first, with their bodies.

    Stored times are all in one form (pipeline.times), so the threshold compares with them as strings.
    """
    threshold = stamp(parse(mark) - timedelta(minutes=ctx.settings.jira_overlap_minutes))
    newest = None
    params = {"limit": LIMIT, "body-format": "storage", "sort": "-modified-date"}
    async for page in cursor_pages(ctx.client, "confluence", f"{V2}/{kind}-comments", params):
        listed = await ctx.rows_of(comment_row, page.items, kind)
        fresh = [r for r in listed if (r["updated_at"] or "") >= threshold]
        newest = max([newest or "", *(r["updated_at"] or "" for r in fresh)]) or None
        kept = scoped(ctx, fresh)  # with --spaces, only those spaces' comments are stored
        if kept:
            await ctx.emit(Batch("confluence_comments", kept))
        if len(fresh) < len(listed):
            break  # the rest is older than the mark (judged on every comment listed, in scope or not)
    return newest


async def touch_or_fetch_comments(
    ctx: SyncContext, kind: str, rows: list[Row], chain: Chain, following: str | None
) -> None:
    """On the id listing: touch comments stored at this version; fetch the few the recent listing missed."""
    stored = dict(
        ctx.lookup("SELECT id, version FROM confluence_comments WHERE id IN ({marks})", [r["id"] for r in rows])
    )
    touch = [r["id"] for r in rows if stored.get(r["id"]) == r["version"]]
    missed = [r["id"] for r in rows if stored.get(r["id"]) != r["version"]]
    fetched: list[Row] = []

    async def fetch(comment_id: str) -> None:
        try:
            path = f"{V2}/{kind}-comments/{comment_id}"
            response = await ctx.client.get("confluence", path, {"body-format": "storage"})
        except NotFound:  # deleted since it was listed: unseen, so this listing's sweep marks it
            return
        fetched.append({**comment_row(response.data, kind), "seen_sweep": chain.sweep})

    async with anyio.create_task_group() as group:  # at most a page's worth, limited by the client per family
        for comment_id in missed:
            group.start_soon(fetch, comment_id)
    await ctx.emit(
        Batch("confluence_comments", fetched, touch=touch, sweep=chain.sweep, state=chain.checkpoint(following))
    )
