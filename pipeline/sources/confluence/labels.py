"""Labels of the pages and blog posts whose labels are older than their version."""

from __future__ import annotations

from ...context import SyncContext
from ...errors import NotFound
from ...paginate import cursor_pages
from ...store import Batch
from .rows import LIMIT, TABLES, V2, Row, label_row
from .scope import container_scope


async def sync_labels(ctx: SyncContext) -> None:
    """Labels of the pages and blog posts whose labels are older than their version (new or changed), or of
    every one with --full (labelling a page does not give it a new version, so only --full sees that)."""
    labels: list[Row] = []
    async for page in cursor_pages(ctx.client, "confluence", f"{V2}/labels", {"limit": LIMIT}):
        labels.extend(page.items)
        await ctx.emit(Batch("confluence_labels", [label_row(lab) for lab in page.items]))
    scope, params = container_scope(ctx, "id")
    stale = {
        kind: ctx.db.execute(
            f"SELECT id, version FROM {table} WHERE deleted_at IS NULL AND {scope} "
            "AND (labels_version IS NOT version OR ?)",  # a label added or removed keeps the version: --full asks all
            (*params, ctx.settings.full),
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
            pairs, asked = [], []
            for content_id, version in chunk:
                try:
                    async for page in cursor_pages(
                        ctx.client, "confluence", f"{V2}/{kind}s/{content_id}/labels", {"limit": LIMIT}
                    ):
                        await ctx.emit(Batch("confluence_labels", [label_row(lab) for lab in page.items]))
                        pairs += [
                            {"content_id": content_id, "label_id": str(lab["id"]), "content_type": kind}
                            for lab in page.items
                        ]
                except NotFound:  # deleted since it was listed: the next sweep marks it
                    continue
                asked.append((content_id, version))
            await replace_labels(ctx, {kind: asked}, pairs)


async def replace_labels(ctx: SyncContext, stale: dict[str, list[tuple]], pairs: list[Row]) -> None:
    """New label pairs for these containers, and their labels marked current, in one transaction."""
    ids = [cid for rows in stale.values() for cid, _ in rows]
    batches = [Batch("confluence_content_labels", pairs, replace_for=ids)]
    for kind, rows in stale.items():
        if rows:
            versions = [{"id": cid, "labels_version": version} for cid, version in rows]
            batches.append(Batch(TABLES[kind], versions, update_only=True))
    await ctx.emit_together(batches)
