"""Labels of the pages and blog posts whose labels are older than their version."""

from __future__ import annotations

import anyio

from ...context import SyncContext
from ...errors import DiskFull, NotFound
from ...paginate import cursor_pages
from ...store import Batch, Sweep, dumps
from .rows import LIMIT, TABLES, V2, Row, label_row
from .scope import container_scope

BY_LABEL = "confluence:labels:by-label"  # the checkpoint of an unfinished labels-by-label pass


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
    if ctx.saved(BY_LABEL).get("next") or label_listing_cost(ctx, labels) < sum(map(len, stale.values())):
        await labels_by_label(ctx, labels, stale)  # an unfinished pass is finished first
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
    """Many containers to refresh: every label's pages and blog posts, labels in parallel. Each listing page's
    pairs commit as they come, stamped with the pass's sweep, with a checkpoint (the first label not yet done):
    a killed run resumes there. At the end, pairs the pass did not see are deleted and the stale containers'
    labels marked current, in one transaction. Memory holds one listing page, not every pair of the site."""
    saved = {} if ctx.settings.full else ctx.saved(BY_LABEL)
    sweep = int(saved["sweep"]) if saved.get("sweep") else ctx.run_id
    ordered = sorted({str(label["id"]) for label in labels}, key=label_order)
    resume = saved.get("next")
    todo = [label for label in ordered if resume is None or label_order(label) >= label_order(resume)]
    marks = LowWaterMark(todo)
    room = anyio.Semaphore(ctx.settings.concurrency)
    failures: list[Exception] = []
    async with anyio.create_task_group() as group:
        for label_id in todo:
            await room.acquire()  # tasks are started as room frees up, not ten thousand at once
            if failures:  # the pass stops at its first failure; what the others listed is kept
                room.release()
                break
            group.start_soon(pairs_of_label, ctx, label_id, sweep, marks, room, failures)
    if failures:
        raise failures[0]
    scope, params = container_scope(ctx, "content_id")
    close = Sweep("confluence_content_labels", sweep, scope, params, delete=True)
    batches = [Batch("confluence_content_labels", close=close, state={BY_LABEL: None})]
    for kind, rows in stale.items():
        if rows:
            versions = [{"id": cid, "labels_version": version} for cid, version in rows]
            batches.append(Batch(TABLES[kind], versions, update_only=True))
    await ctx.emit_together(batches)


async def pairs_of_label(
    ctx: SyncContext, label_id: str, sweep: int, marks: LowWaterMark, room: anyio.Semaphore, failures: list
) -> None:
    try:
        scope, params = container_scope(ctx, "id")
        for kind, table in TABLES.items():
            path = f"{V2}/labels/{label_id}/{kind}s"
            async for page in cursor_pages(ctx.client, "confluence", path, {"limit": LIMIT}):
                listed = [str(item["id"]) for item in page.items]
                sql = f"SELECT id FROM {table} WHERE id IN ({{marks}}) AND deleted_at IS NULL AND {scope}"
                known = {r[0] for r in ctx.lookup(sql, listed, *params)}  # stored and in scope
                pairs = [
                    {"content_id": cid, "label_id": label_id, "content_type": kind, "seen_sweep": sweep}
                    for cid in listed
                    if cid in known
                ]
                if pairs:
                    await ctx.emit(Batch("confluence_content_labels", pairs))
        following = marks.done(label_id)
        await ctx.emit(Batch("confluence_content_labels", state={BY_LABEL: dumps({"sweep": sweep, "next": following})}))
    except DiskFull:
        raise
    except Exception as error:  # labels in flight finish and commit; no new one starts
        failures.append(error)
    finally:
        room.release()


class LowWaterMark:
    """Labels finish out of order; the checkpoint is the first one not yet done (all before it are)."""

    def __init__(self, todo: list[str]) -> None:
        self.todo, self.finished, self.at = todo, set(), 0

    def done(self, label_id: str) -> str | None:
        self.finished.add(label_id)
        while self.at < len(self.todo) and self.todo[self.at] in self.finished:
            self.finished.discard(self.todo[self.at])
            self.at += 1
        return self.todo[self.at] if self.at < len(self.todo) else None


def label_order(label_id: str) -> tuple[int, int, str]:
    """Label ids are numbers: 10 comes after 9."""
    return (0, int(label_id), "") if label_id.isdigit() else (1, 0, label_id)


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
