"""Replies, verified on each site: do the site-wide comment listings include them?

Per-page comment listings return root comments only (users of Atlassian's own tools report it). That
`/footer-comments` and `/inline-comments` include replies rests on the spec's "Returns all" and on no
recorded answer. So every run checks, at little cost:
- a listing that showed a reply settles it: replies are listed;
- a listing without a single reply asks `/{kind}-comments/{id}/children` for the ten most recently
  changed root comments (of both kinds: both listings are one API's), at most ten requests. None has a
  child: the site has no replies (asked again next run). One has: the listing leaves replies out, and
  from then on replies are walked through the children endpoints, a request per comment (every run: a
  reply makes no version of anything). The verdict is kept, so later runs walk at once.
Walked replies are stamped by the listing's sweep before it closes, so they are not taken for deleted.
"""

from __future__ import annotations

from functools import partial

from ...context import SyncContext
from ...errors import ApiError, MissingScope
from ...paginate import cursor_pages
from ...store import Batch, dumps
from .history import at_once
from .rows import LIMIT, V2, Row, comment_row
from .scope import container_scope, scoped

SAMPLE = 10
AT_ONCE = 100

Parent = tuple[str, str | None, str | None]  # a comment id with its root's container id and type


def verdict_key(kind: str) -> str:
    return f"confluence:comments:{kind}:replies"


async def complete_replies(ctx: SyncContext, kind: str, sweep: int, saw_reply: bool) -> None:
    """After the id listing of one kind, before its sweep closes."""
    key = verdict_key(kind)
    verdict = ctx.saved(key).get("verdict")
    if saw_reply:
        if verdict != "listed":
            await ctx.emit(Batch("sync_state", state={key: dumps({"verdict": "listed"})}))
        return
    await ctx.flush()  # the listing's rows, to sample from
    if verdict != "missing" and not await replies_exist(ctx):
        return
    await walk_replies(ctx, kind, sweep)
    await ctx.emit(Batch("sync_state", state={key: dumps({"verdict": "missing"})}))


async def replies_exist(ctx: SyncContext) -> bool:
    """Whether any of a few recently changed root comments (of either kind: both listings are one API's)
    has a reply."""
    scope, params = container_scope(ctx)
    sample = ctx.db.execute(
        f"SELECT id, kind FROM confluence_comments WHERE deleted_at IS NULL AND parent_comment_id IS NULL "
        f"AND {scope} ORDER BY updated_at DESC LIMIT {SAMPLE}",
        params,
    ).fetchall()
    for comment_id, kind in sample:
        try:
            response = await ctx.client.get("confluence", f"{V2}/{kind}-comments/{comment_id}/children", {"limit": 1})
        except ApiError as error:
            if error.status == 404 and not isinstance(error, MissingScope):
                continue  # deleted since it was stored: the sweep will say so
            raise
        if (response.data or {}).get("results"):
            return True
    return False


async def children(ctx: SyncContext, kind: str, parent: Parent) -> list[Row]:
    """A comment's direct replies. Their models (ChildrenCommentModel, InlineCommentChildrenModel) name no
    page or blog post: a reply lives where its root does, so the root's container is carried down."""
    comment_id, container_id, container_type = parent
    found: list[Row] = []
    params = {"limit": LIMIT, "body-format": "storage"}
    try:
        async for page in cursor_pages(ctx.client, "confluence", f"{V2}/{kind}-comments/{comment_id}/children", params):
            for item in page.items:
                row = comment_row(item, kind)
                if row["container_id"] is None:
                    row = {**row, "container_id": container_id, "container_type": container_type}
                found.append(row)
    except ApiError as error:
        if error.status == 404 and not isinstance(error, MissingScope):
            return []  # deleted since it was stored: the sweep will say so
        raise
    return found


async def walk_replies(ctx: SyncContext, kind: str, sweep: int) -> None:
    """Every reply under every root comment, level by level."""
    scope, params = container_scope(ctx)
    frontier: list[Parent] = ctx.db.execute(
        f"SELECT id, container_id, container_type FROM confluence_comments WHERE kind = ? AND deleted_at IS NULL "
        f"AND parent_comment_id IS NULL AND {scope}",
        (kind, *params),
    ).fetchall()
    while frontier:
        following: list[Parent] = []
        for start in range(0, len(frontier), AT_ONCE):
            chunk = frontier[start : start + AT_ONCE]
            found = await at_once(ctx, [partial(children, ctx, kind, cid) for cid in chunk])
            rows = scoped(ctx, [row for rows in found for row in rows])
            if rows:
                await ctx.emit(Batch("confluence_comments", [{**r, "seen_sweep": sweep} for r in rows], sweep=sweep))
            following += [(r["id"], r["container_id"], r["container_type"]) for r in rows]
        frontier = following
