"""The fake Confluence Cloud REST API (v2, plus the v1 attachment download) behind the gateway."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from .confluence_content import LISTED_BY_DEFAULT, ConfluenceContent
from .media import MediaSigner
from .responses import confluence_error, cursor_page, int_param, invalid_parameter, json_response, multi

Record = dict[str, Any]
PAGE_SORTS = {"id", "created-date", "modified-date", "title"}
DATED_SORTS = {"created-date", "modified-date"}
BODY_FORMATS = {"storage", "atlas_doc_format"}
LIST_STATUSES = {"current", "archived", "deleted", "trashed"}
# the spec's status enums and defaults of the content listings: blog posts cannot be archived
CONTENT_STATUSES = {"page": LIST_STATUSES, "blogpost": {"current", "deleted", "trashed"}}
CONTENT_DEFAULTS = {"page": LISTED_BY_DEFAULT, "blogpost": ("current",)}


def sort_records(records: list[Record], sort: str | None, allowed: set[str]) -> list[Record]:
    if not sort:
        return records
    name = sort.lstrip("-")
    if name not in allowed:
        raise web.HTTPBadRequest(text=f"Invalid sort '{sort}'")
    keys: dict[str, Callable[[Record], Any]] = {
        "id": lambda r: int(r["id"].removeprefix("att")),
        "created-date": lambda r: (instant(r.get("createdAt") or r["version"]["createdAt"]), r["id"]),
        "modified-date": lambda r: (instant(r["version"]["createdAt"]), r["id"]),
        "title": lambda r: (r.get("title", ""), r["id"]),
    }
    return sorted(records, key=keys[name], reverse=sort.startswith("-"))


def instant(stamp: str) -> datetime:
    """Times sort as instants: `...12Z` (no milliseconds) is earlier than `...12.345Z`, not later as a string."""
    return datetime.fromisoformat(stamp)


class ConfluenceApi:
    def __init__(self, content: ConfluenceContent, site_url: str, signer: MediaSigner) -> None:
        self.content, self.site_url, self.signer = content, site_url, signer
        self.replies_listed: Callable[[], bool] = lambda: True
        self.bodiless_versions: set[str] = set()  # "content id:number" whose old body comes back empty

    # -- shapes ---------------------------------------------------------------------------------
    def _body(self, request: web.Request, record: Record) -> Record:
        fmt = request.query.get("body-format")
        if fmt is None:
            return {}
        if fmt not in BODY_FORMATS:
            raise web.HTTPBadRequest(text=f"Invalid body-format '{fmt}'")
        if fmt == "storage":
            return {"storage": {"representation": "storage", "value": record["_body"]}}
        adf = {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": record["_body"]}]}],
        }
        return {"atlas_doc_format": {"representation": "atlas_doc_format", "value": orjson.dumps(adf).decode()}}

    def shape_content(self, request: web.Request) -> Callable[[Record], Record]:
        def shape(record: Record) -> Record:
            kind = self.content.kind_of(record["id"])
            out = {k: v for k, v in record.items() if not k.startswith("_") and v is not None}
            out["body"] = self._body(request, record)
            webui = f"/spaces/{record['spaceId']}/{'pages' if kind == 'page' else 'blog'}/{record['id']}"
            out["_links"] = {
                "webui": webui,
                "editui": f"/pages/resumedraft.action?draftId={record['id']}",
                "tinyui": f"/x/{record['id'][-6:]}",
            }
            if kind == "page" and record.get("position") is None:
                out["position"] = None
            return out

        return shape

    def shape_comment(self, request: web.Request) -> Callable[[Record], Record]:
        def shape(record: Record) -> Record:
            container = record["_container"]
            key = "pageId" if self.content.kind_of(container) == "page" else "blogPostId"
            out = {k: v for k, v in record.items() if not k.startswith("_") and v is not None}
            out[key] = container
            out["body"] = self._body(request, record)
            if record["_kind"] == "inline":
                out["properties"] = {"inlineMarkerRef": record["_marker"], "inlineOriginalSelection": "selected text"}
            out["_links"] = {"webui": f"/pages/viewpage.action?pageId={container}&focusedCommentId={record['id']}"}
            return out

        return shape

    def shape_attachment(self, record: Record) -> Record:
        container = record["_container"]
        key = "pageId" if self.content.kind_of(container) == "page" else "blogPostId"
        out = {k: v for k, v in record.items() if not k.startswith("_")}
        if not record.get("_container_unnamed"):  # the schema: "only returned if the container is a page" ...
            out[key] = container
        download = f"/download/attachments/{container}/{record['title']}?version={record['version']['number']}&api=v2"
        out["downloadLink"] = download
        out["webuiLink"] = f"/pages/viewpageattachments.action?pageId={container}&preview={record['id']}"
        out["_links"] = {"download": download, "webui": out["webuiLink"]}
        return out

    @staticmethod
    def shape_space(record: Record) -> Record:
        out = {k: v for k, v in record.items() if k != "description"}
        out["_links"] = {"webui": f"/spaces/{record['key']}"}
        return out

    # -- listings -------------------------------------------------------------------------------
    def _statuses(self, request: web.Request, default=LISTED_BY_DEFAULT, allowed=LIST_STATUSES) -> set[str]:
        wanted = set(multi(request, "status"))
        unknown = wanted - allowed
        if unknown:
            raise invalid_parameter(f"Invalid status {sorted(unknown)}")  # `draft` among them, as on a real site
        return wanted or set(default)

    def _contents(self, request: web.Request, kind: str, space_id: str | None) -> web.Response:
        statuses = self._statuses(request, CONTENT_DEFAULTS[kind], CONTENT_STATUSES[kind])
        ids = set(multi(request, "id"))
        spaces = set(multi(request, "space-id"))
        title = request.query.get("title")
        sort = request.query.get("sort")
        if not space_id and not ids and title is None and sort in (None, "id"):
            return self._site_wide_by_id(request, kind, statuses, spaces)
        source = self.content.contents(kind, space_id) if space_id else self._site_wide(kind, ids)
        records = [
            r
            for r in source
            if r["status"] in statuses
            and (not ids or r["id"] in ids)
            and (not spaces or r["spaceId"] in spaces)
            and (title is None or r["title"] == title)
        ]
        records = sort_records(records, request.query.get("sort"), PAGE_SORTS)
        return cursor_page(request, records, self.shape_content(request), self.site_url)

    def _site_wide_by_id(self, request: web.Request, kind: str, statuses: set[str], spaces: set[str]) -> web.Response:
        """The whole site in id order, judged by id and status alone: a large site is never built whole."""
        entries = [
            {"id": cid}
            for cid in self.content.all_content_ids(kind)
            if self.content.status(cid) in statuses and (not spaces or self.content.space_of(cid) in spaces)
        ]
        return cursor_page(
            request, entries, self.shape_content(request), self.site_url, load=lambda e: self.content.content(e["id"])
        )

    def _site_wide(self, kind: str, ids: set[str]):
        if ids:  # fetching named items must not walk the whole site
            return (
                r
                for r in map(self.content.content, sorted(ids, key=int))
                if r and self.content.kind_of(r["id"]) == kind
            )
        return self.content.contents(kind)

    async def spaces(self, request: web.Request) -> web.Response:
        ids, keys = set(multi(request, "ids")), set(multi(request, "keys"))
        status, kind = request.query.get("status"), request.query.get("type")
        records = [
            s
            for s in map(self.content.space, self.content.space_ids())
            if s
            and (not ids or s["id"] in ids)
            and (not keys or s["key"] in keys)
            and (not status or s["status"] == status)
            and (not kind or s["type"] == kind)
        ]
        return cursor_page(request, records, self.shape_space, self.site_url)

    async def space_pages(self, request: web.Request) -> web.Response:
        return self._contents(request, "page", self._space_id(request))

    async def space_blogposts(self, request: web.Request) -> web.Response:
        return self._contents(request, "blogpost", self._space_id(request))

    async def pages(self, request: web.Request) -> web.Response:
        return self._contents(request, "page", None)

    async def blogposts(self, request: web.Request) -> web.Response:
        return self._contents(request, "blogpost", None)

    def _space_id(self, request: web.Request) -> str:
        space_id = request.match_info["id"]
        if not space_id.isdigit() or self.content.space(space_id) is None:
            raise web.HTTPNotFound()
        return space_id

    def _container(self, request: web.Request, kind: str) -> Record:
        content_id = request.match_info["id"]
        record = self.content.content(content_id) if content_id.isdigit() else None
        if record is None or self.content.kind_of(content_id) != kind:
            raise web.HTTPNotFound()
        return record

    async def page(self, request: web.Request) -> web.Response:
        return self._single(request, "page")

    async def blogpost(self, request: web.Request) -> web.Response:
        return self._single(request, "blogpost")

    def _single(self, request: web.Request, kind: str) -> web.Response:
        record = self._container(request, kind)
        allowed = set(multi(request, "status")) or {"current", "archived", "draft"}
        if record["status"] not in allowed:
            return confluence_error(404, "Not Found", "No content found with id")
        if "version" in request.query:  # an earlier version: its own version object and body
            number = int_param(request, "version", 0, low=1)
            body = self.content.version_body(record, number)
            if body is None:
                return confluence_error(404, "Not Found", f"No version {number} of this content")
            old = next(v for v in self.content.versions(record["id"]) if v["number"] == number)
            record = {**record, "version": old, "_body": body}
            if number != self.content.versions(record["id"])[-1]["number"]:
                record["status"] = "historical"
        body = self.shape_content(request)(record)
        if f"{record['id']}:{request.query.get('version')}" in self.bodiless_versions:
            body["body"] = {}  # an old version whose body comes back empty
        body["_links"]["base"] = f"{self.site_url}/wiki"
        return json_response(body)

    async def versions(self, request: web.Request) -> web.Response:
        kind = "page" if "/pages/" in request.path else "blogpost"
        page = self._container(request, kind)
        versions = self.content.versions(page["id"])  # oldest first
        sort = request.query.get("sort", "-modified-date")
        if sort not in ("modified-date", "-modified-date"):
            raise invalid_parameter(f"Invalid sort '{sort}'")
        if sort.startswith("-"):
            versions.reverse()
        entity = {"id": page["id"], "title": page["title"]}
        items = [{"id": str(v["number"]), **v, kind: entity} for v in versions]
        return cursor_page(request, items, lambda v: {k: x for k, x in v.items() if k != "id"}, self.site_url)

    async def labels_of(self, request: web.Request) -> web.Response:
        kind = "page" if "/pages/" in request.path else "blogpost"
        record = self._container(request, kind)
        labels = self.content.labels_of(record["id"])
        prefix = request.query.get("prefix")
        return cursor_page(
            request, [lab for lab in labels if not prefix or lab["prefix"] == prefix], dict, self.site_url
        )

    async def labels(self, request: web.Request) -> web.Response:
        ids = set(multi(request, "label-id"))
        labels = [lab for lab in self.content.all_labels() if not ids or lab["id"] in ids]
        return cursor_page(request, labels, dict, self.site_url)

    async def label_contents(self, request: web.Request) -> web.Response:
        kind = "page" if request.path.endswith("/pages") else "blogpost"
        label_id = request.match_info["id"]
        if label_id not in {lab["id"] for lab in self.content.all_labels()}:
            raise web.HTTPNotFound()
        spaces = set(multi(request, "space-id"))
        records = [
            r
            for r in self.content.containers_with_label(kind, label_id)
            if r["status"] in LISTED_BY_DEFAULT and (not spaces or r["spaceId"] in spaces)
        ]
        records = sort_records(records, request.query.get("sort"), PAGE_SORTS)
        load = lambda r: self.content.content(r["id"])  # noqa: E731 - the index holds light entries
        return cursor_page(request, records, self.shape_content(request), self.site_url, load=load)

    # -- attachments ------------------------------------------------------------------------------
    def _attachment_filter(self, request: web.Request, records: list[Record], load=None) -> web.Response:
        statuses = self._statuses(request, default=("current",))
        media_type, filename = request.query.get("mediaType"), request.query.get("filename")
        records = [
            r
            for r in records
            if r["status"] in statuses
            and (not media_type or r["mediaType"] == media_type)
            and (not filename or r["title"] == filename)
        ]
        records = sort_records(records, request.query.get("sort"), DATED_SORTS)
        return cursor_page(request, records, self.shape_attachment, self.site_url, default_limit=50, load=load)

    async def attachments(self, request: web.Request) -> web.Response:
        load = lambda r: self.content.attachment(r["id"])  # noqa: E731 - the site-wide index holds light entries
        return self._attachment_filter(request, self.content.all_attachments(), load)

    async def attachment(self, request: web.Request) -> web.Response:
        record = self.content.attachment(request.match_info["id"])
        if record is None or record["status"] not in ("current", "archived"):
            return confluence_error(404, "Not Found", "No attachment found")
        return json_response(self.shape_attachment(record))

    async def container_attachments(self, request: web.Request) -> web.Response:
        kind = "page" if "/pages/" in request.path else "blogpost"
        record = self._container(request, kind)
        return self._attachment_filter(request, self.content.attachments_of(record["id"]))

    async def download(self, request: web.Request) -> web.StreamResponse:
        """v1 download: 302 to a signed URL on the media host, which must get no Authorization."""
        container_id, attachment_id = request.match_info["id"], request.match_info["attachmentId"]
        record = self.content.attachment(attachment_id)
        if record is None or record["_container"] != container_id:
            return confluence_error(404, "Not Found", "No attachment found")
        version = request.query.get("version")
        if version is not None and (not version.isdigit() or int(version) > record["version"]["number"]):
            return confluence_error(400, "Bad Request", "version is greater than the attachment's latest version")
        location = self.signer.sign("confluence", attachment_id, record["version"]["number"], record["title"])
        raise web.HTTPFound(location)

    async def legacy_download(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "code": 401,
                "message": "Unauthorized; token-based auth is not accepted here. "
                "Use /wiki/rest/api/content/{id}/child/attachment/{attachmentId}/download",
            },
            401,
        )

    # -- comments -------------------------------------------------------------------------------
    def _comments(self, request: web.Request, records: list[Record], load=None) -> web.Response:
        statuses = self._statuses(request, default=("current",))
        records = [r for r in records if r["status"] in statuses]
        records = sort_records(records, request.query.get("sort"), DATED_SORTS)
        return cursor_page(request, records, self.shape_comment(request), self.site_url, load=load)

    async def all_comments(self, request: web.Request) -> web.Response:
        kind = "footer" if "/footer-comments" in request.path else "inline"
        load = lambda r: self.content.comment(r["id"])  # noqa: E731 - the site-wide index holds light entries
        records = self.content.all_comments(kind)
        if not self.replies_listed():  # the other way a live site might behave: roots only, as per page
            records = [r for r in records if not r.get("parentCommentId")]
        return self._comments(request, records, load)

    async def container_comments(self, request: web.Request) -> web.Response:
        kind = "footer" if request.path.endswith("/footer-comments") else "inline"
        container = self._container(request, "page" if "/pages/" in request.path else "blogpost")
        roots = [c for c in self.content.comments(container["id"]) if c["_kind"] == kind and not c["parentCommentId"]]
        return self._comments(request, roots)

    async def comment(self, request: web.Request) -> web.Response:
        kind = "footer" if request.path.split("/")[-2] == "footer-comments" else "inline"
        comment_id = request.match_info["comment_id"]
        record = self.content.comment(comment_id) if comment_id.isdigit() else None
        if record is None or record["_kind"] != kind:
            return confluence_error(404, "Not Found", "No comment found")
        return json_response(self.shape_comment(request)(record))

    async def comment_children(self, request: web.Request) -> web.Response:
        kind = "footer" if "/footer-comments/" in request.path else "inline"
        comment_id = request.match_info["id"]
        parent = self.content.comment(comment_id) if comment_id.isdigit() else None
        if parent is None or parent["_kind"] != kind:
            raise web.HTTPNotFound()
        children = [c for c in self.content.comments(parent["_container"]) if c["parentCommentId"] == comment_id]
        statuses = self._statuses(request, default=("current",))
        children = [c for c in children if c["status"] in statuses]
        children = sort_records(children, request.query.get("sort"), DATED_SORTS)
        shape = self.shape_comment(request)
        # ChildrenCommentModel / InlineCommentChildrenModel name no container: no pageId, no blogPostId
        unnamed = lambda r: {k: v for k, v in shape(r).items() if k not in ("pageId", "blogPostId")}  # noqa: E731
        return cursor_page(request, children, unnamed, self.site_url)

    def routes(self) -> list[tuple[str, str, Callable]]:
        """(method, spec path, handler); the spec path names the operation for scope checks."""
        v2 = "/wiki/api/v2"
        pairs = [
            ("/spaces", self.spaces),
            ("/spaces/{id}/pages", self.space_pages),
            ("/spaces/{id}/blogposts", self.space_blogposts),
            ("/pages", self.pages),
            ("/pages/{id}", self.page),
            ("/blogposts", self.blogposts),
            ("/blogposts/{id}", self.blogpost),
            ("/pages/{id}/versions", self.versions),
            ("/blogposts/{id}/versions", self.versions),
            ("/pages/{id}/labels", self.labels_of),
            ("/blogposts/{id}/labels", self.labels_of),
            ("/labels", self.labels),
            ("/labels/{id}/pages", self.label_contents),
            ("/labels/{id}/blogposts", self.label_contents),
            ("/attachments", self.attachments),
            ("/attachments/{id}", self.attachment),
            ("/pages/{id}/attachments", self.container_attachments),
            ("/blogposts/{id}/attachments", self.container_attachments),
            ("/footer-comments", self.all_comments),
            ("/inline-comments", self.all_comments),
            ("/pages/{id}/footer-comments", self.container_comments),
            ("/pages/{id}/inline-comments", self.container_comments),
            ("/blogposts/{id}/footer-comments", self.container_comments),
            ("/blogposts/{id}/inline-comments", self.container_comments),
            ("/footer-comments/{comment-id}", self.comment),
            ("/inline-comments/{comment-id}", self.comment),
            ("/footer-comments/{id}/children", self.comment_children),
            ("/inline-comments/{id}/children", self.comment_children),
        ]
        routes = [("GET", v2 + path, handler) for path, handler in pairs]
        routes.append(("GET", "/wiki/rest/api/content/{id}/child/attachment/{attachmentId}/download", self.download))
        routes.append(("GET", "/wiki/download/attachments/{tail:.*}", self.legacy_download))
        return routes
