"""Confluence API objects -> table rows: pure, tested without a network."""

from __future__ import annotations

from typing import Any

from ...store import dumps
from ...text import from_storage
from ...times import utc

V2 = "/wiki/api/v2"
LIMIT = 250
BY_ID = 100  # ids per GET /pages?id=... (keeps URLs short)
TABLES = {"page": "confluence_pages", "blogpost": "confluence_blogposts"}
# Pages: current and archived, asked for explicitly though it is the spec's default (archived content is
# content). Blog posts cannot be archived: their listings' status enum is current, deleted, trashed (an
# unknown value is a 400), so they are asked for with the default, current. Drafts are not listable (v2
# answers 400) and trashed content is a deletion, noticed by the sweep.
STATUSES: dict[str, dict[str, list[str]]] = {"page": {"status": ["current", "archived"]}, "blogpost": {}}
Row = dict[str, Any]


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
        "created_at": utc(item.get("createdAt")),
        "raw": dumps(item),
    }


def content_row(item: Row, kind: str) -> Row:
    """A page or blog post. The body goes to its own column; `raw` keeps everything else."""
    version = version_of(item)
    raw = {k: v for k, v in item.items() if k != "body"}
    body = body_of(item)
    row = {
        "id": str(item["id"]),
        "space_id": item.get("spaceId"),
        "title": item.get("title"),
        "status": item.get("status"),
        "version": version.get("number"),
        "created_at": utc(item.get("createdAt")),
        "updated_at": utc(version.get("createdAt")),
        "author_id": item.get("authorId"),
        "body_storage": body,
        "body_text": from_storage(body),
        "raw": dumps(raw),
    }
    if kind == "page":
        row["parent_id"] = item.get("parentId")
        row["parent_type"] = item.get("parentType") or ("page" if item.get("parentId") else None)
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
    body = body_of(item)
    return {
        "id": str(item["id"]),
        "container_id": container,
        "container_type": container_type,
        "parent_comment_id": item.get("parentCommentId"),
        "kind": kind,
        "status": item.get("status"),
        "version": version.get("number"),
        "updated_at": utc(version.get("createdAt")),
        "author_id": version.get("authorId"),
        "body_storage": body,
        "body_text": from_storage(body),
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
        "created_at": utc(item.get("createdAt")),
        "file_id": item.get("fileId"),
        "raw": dumps(item),
    }


def label_row(label: Row) -> Row:
    return {"id": str(label["id"]), "name": label.get("name"), "prefix": label.get("prefix"), "raw": dumps(label)}


def download_path(container_id: str | None, attachment_id: str) -> str | None:
    """The v1 download, which accepts token auth (the servlet behind downloadLink answers 401 to it).

    None without a container: that route is the only one for the bytes that takes a token (v1's
    `/content/{id}` there is "the content that the attachment is attached to"; v2 has no download, only
    `downloadLink`, whose servlet answers 401 to tokens, and a thumbnail), and the v2 listing names the
    container only when it is a page, blog post or custom content. Guessing would send `content/None/...`.
    """
    if not container_id:
        return None
    return f"/wiki/rest/api/content/{container_id}/child/attachment/{attachment_id}/download"


def seen(rows: list[Row], sweep: int) -> list[Row]:
    return [{**row, "seen_sweep": sweep} for row in rows]
