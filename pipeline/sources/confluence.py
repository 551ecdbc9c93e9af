"""Confluence: which endpoints, in what order, mapped to which rows.

Order of a full sync, chosen for the fewest requests (see the README's request formula):
1. spaces (one listing);
2. pages and blog posts with their storage bodies, one cursor chain per space, chains in parallel;
3. at once: every footer and inline comment (site-wide listings, replies included), every attachment
   (site-wide listing) with its bytes queued for download, and labels (by label when there are fewer
   labels than containers, else per container).
"""

from __future__ import annotations

from typing import Any

import anyio

from ..context import DownloadJob, SyncContext
from ..paginate import cursor_pages
from ..store import Batch, dumps

V2 = "/wiki/api/v2"
LIMIT = 250
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


def download_path(item: Row) -> str:
    """The v1 download, which accepts token auth (the servlet behind downloadLink answers 401 to it)."""
    container, _ = container_of(item)
    return f"/wiki/rest/api/content/{container}/child/attachment/{item['id']}/download"


# -- streams ----------------------------------------------------------------------------------------
async def sync(ctx: SyncContext) -> None:
    spaces = await sync_spaces(ctx)
    if ctx.settings.spaces:
        ctx.selected_containers = set()
        missing = set(ctx.settings.spaces) - {s["key"] for s in spaces}
        if missing:
            ctx.fail("confluence spaces", LookupError(f"no space with key {', '.join(sorted(missing))} is visible"))
    limiter = anyio.CapacityLimiter(ctx.settings.concurrency)
    async with anyio.create_task_group() as group:
        for space in spaces:
            for kind in ("page", "blogpost"):
                group.start_soon(
                    _limited, limiter, ctx, f"confluence {kind}s of {space['key']}", sync_contents, ctx, space, kind
                )
    async with anyio.create_task_group() as group:
        for kind in ("footer", "inline"):
            group.start_soon(ctx.guarded, f"confluence {kind} comments", sync_comments, ctx, kind)
        group.start_soon(ctx.guarded, "confluence attachments", sync_attachments, ctx)
        group.start_soon(ctx.guarded, "confluence labels", sync_labels, ctx)


async def _limited(limiter: anyio.CapacityLimiter, ctx: SyncContext, stream: str, work, *args: Any) -> None:
    async with limiter:
        await ctx.guarded(stream, work, *args)


async def sync_spaces(ctx: SyncContext) -> list[Row]:
    params: Row = {"limit": LIMIT}
    if ctx.settings.spaces:
        params["keys"] = ",".join(ctx.settings.spaces)
    spaces: list[Row] = []
    async for page in cursor_pages(ctx.client, "confluence", f"{V2}/spaces", params):
        await ctx.emit(Batch("confluence_spaces", [space_row(s) for s in page.items]))
        spaces.extend({"id": str(s["id"]), "key": s.get("key")} for s in page.items)
    return spaces


async def sync_contents(ctx: SyncContext, space: Row, kind: str) -> None:
    table = "confluence_pages" if kind == "page" else "confluence_blogposts"
    path = f"{V2}/spaces/{space['id']}/{kind}s"
    async for page in cursor_pages(ctx.client, "confluence", path, {"limit": LIMIT, "body-format": "storage"}):
        rows = [content_row(item, kind) for item in page.items]
        if ctx.selected_containers is not None:
            ctx.selected_containers.update(row["id"] for row in rows)
        await ctx.emit(Batch(table, rows))


def in_scope(ctx: SyncContext, row: Row) -> bool:
    return ctx.selected_containers is None or row["container_id"] in ctx.selected_containers


async def sync_comments(ctx: SyncContext, kind: str) -> None:
    path = f"{V2}/{kind}-comments"
    async for page in cursor_pages(ctx.client, "confluence", path, {"limit": LIMIT, "body-format": "storage"}):
        rows = [r for r in (comment_row(item, kind) for item in page.items) if in_scope(ctx, r)]
        if rows:
            await ctx.emit(Batch("confluence_comments", rows))


async def sync_attachments(ctx: SyncContext) -> None:
    async for page in cursor_pages(ctx.client, "confluence", f"{V2}/attachments", {"limit": LIMIT}):
        items = [item for item in page.items if in_scope(ctx, attachment_row(item))]
        if not items:
            continue
        await ctx.emit(Batch("confluence_attachments", [attachment_row(item) for item in items]))
        for item in items:
            await ctx.fetch_bytes(
                DownloadJob(
                    "confluence",
                    download_path(item),
                    "confluence_attachments",
                    str(item["id"]),
                    version_of(item).get("number"),
                    item.get("fileSize"),
                    f"attachment {item['id']}",
                )
            )


async def sync_labels(ctx: SyncContext) -> None:
    labels: list[Row] = []
    async for page in cursor_pages(ctx.client, "confluence", f"{V2}/labels", {"limit": LIMIT}):
        labels.extend(page.items)
        await ctx.emit(
            Batch(
                "confluence_labels",
                [
                    {"id": str(lab["id"]), "name": lab.get("name"), "prefix": lab.get("prefix"), "raw": dumps(lab)}
                    for lab in page.items
                ],
            )
        )
    containers = ctx.progress.counts["confluence_pages"] + ctx.progress.counts["confluence_blogposts"]
    if 2 * len(labels) <= containers:
        for label in labels:
            for kind in ("page", "blogpost"):
                await _labelled(ctx, str(label["id"]), kind)
    else:
        await _labels_per_container(ctx)


async def _labelled(ctx: SyncContext, label_id: str, kind: str) -> None:
    path = f"{V2}/labels/{label_id}/{kind}s"
    async for page in cursor_pages(ctx.client, "confluence", path, {"limit": LIMIT}):
        rows = [{"content_id": str(item["id"]), "label_id": label_id, "content_type": kind} for item in page.items]
        rows = [r for r in rows if ctx.selected_containers is None or r["content_id"] in ctx.selected_containers]
        if rows:
            await ctx.emit(Batch("confluence_content_labels", rows))


async def _labels_per_container(ctx: SyncContext) -> None:
    """Few containers and many labels: asking each page and blog post is cheaper."""
    await ctx.flush()  # the ids are read back from the store, so everything listed must be committed
    for table, kind in (("confluence_pages", "page"), ("confluence_blogposts", "blogpost")):
        ids = [row[0] for row in ctx.store.reader().execute(f"SELECT id FROM {table} WHERE deleted_at IS NULL")]
        for content_id in ids:
            if ctx.selected_containers is not None and content_id not in ctx.selected_containers:
                continue
            async for page in cursor_pages(
                ctx.client, "confluence", f"{V2}/{kind}s/{content_id}/labels", {"limit": LIMIT}
            ):
                rows = [
                    {"content_id": content_id, "label_id": str(lab["id"]), "content_type": kind} for lab in page.items
                ]
                if rows:
                    await ctx.emit(
                        Batch(
                            "confluence_labels",
                            [
                                {
                                    "id": str(lab["id"]),
                                    "name": lab.get("name"),
                                    "prefix": lab.get("prefix"),
                                    "raw": dumps(lab),
                                }
                                for lab in page.items
                            ],
                        )
                    )
                    await ctx.emit(Batch("confluence_content_labels", rows))
