"""The fake Confluence's tree endpoints: folders, whiteboards, databases, embeds by id, direct children,
and the v1 CQL search that is the only index of those nodes.

The search behaves as API_NOTES §7 records a real one does: `start` is ignored (cursor only), pages
come back short before the end, `totalSize` is an estimate, the next link is relative to /wiki
(`/rest/api/search?next=true&cursor=...`), new content shows only after the index lag, and archived
content is invisible.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from .confluence_tree import NODE_TYPES, TreeContent
from .dataset import iso
from .responses import confluence_error, cursor_page, decode_cursor, encode_cursor, int_param, json_response

Record = dict[str, Any]
SEARCH_MAX = 100
CLAUSE = re.compile(r'^\s*(type|space)\s*(=|in)\s*(\(([^)]*)\)|"?([^"\s()]+)"?)\s*$', re.IGNORECASE)


def epoch_ms(stamp: str) -> int:
    return round(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def parse_cql(cql: str, known: tuple[str, ...] = NODE_TYPES) -> dict[str, set[str]]:
    """The few CQL clauses the simulator understands (`type`, `space`, joined by AND)."""
    wanted: dict[str, set[str]] = {}
    for clause in re.split(r"\s+and\s+", cql.strip(), flags=re.IGNORECASE):
        match = CLAUSE.match(clause)
        if not match:
            raise web.HTTPBadRequest(text=f"Could not parse cql : {cql}")
        field, values = match.group(1).lower(), match.group(4) if match.group(4) is not None else match.group(5)
        wanted[field] = {v.strip().strip('"').replace('\\"', '"') for v in values.split(",") if v.strip()}
    if wanted.get("type", set()) - set(known) & set(NODE_TYPES):
        raise web.HTTPBadRequest(text=f"Could not parse cql : {cql} (unknown type)")
    unknown = wanted.get("type", set()) - set(NODE_TYPES)
    if unknown:
        raise web.HTTPBadRequest(text=f"the simulator's CQL serves only {', '.join(NODE_TYPES)}, not {sorted(unknown)}")
    return wanted


class TreeApi:
    def __init__(self, tree: TreeContent, site_url: str, now: Callable[[], float], lag_s: Callable[[], float]) -> None:
        self.tree, self.site_url, self.now, self.lag_s = tree, site_url, now, lag_s
        self.known_types: Callable[[], tuple[str, ...]] = lambda: NODE_TYPES

    def shape(self, record: Record) -> Record:
        out = {k: v for k, v in record.items() if v is not None}
        out["position"] = record.get("position")
        if record["type"] == "folder":  # a live site sends a folder's createdAt as epoch milliseconds (md2conf #290)
            out["createdAt"] = epoch_ms(record["createdAt"])
        out["_links"] = {"webui": f"/spaces/{record['spaceId']}/{record['type']}/{record['id']}"}
        return out

    async def node(self, request: web.Request) -> web.Response:
        kind = request.path.split("/")[-2].removesuffix("s")
        record = self.tree.node(request.match_info["id"])
        if record is None or record["type"] != kind:
            return confluence_error(404, "Not Found", f"No {kind} found with id")
        body = self.shape(record)
        body["_links"]["base"] = f"{self.site_url}/wiki"
        return json_response(body)

    async def direct_children(self, request: web.Request) -> web.Response:
        kind = request.path.split("/")[-3].removesuffix("s")
        parent_id = request.match_info["id"]
        if self.tree.kind_of_any(parent_id) != kind:
            return confluence_error(404, "Not Found", f"No {kind} found with id")
        children = sorted(self.tree.children(parent_id), key=lambda c: (c["childPosition"] or 0, int(c["id"])))
        return cursor_page(request, children, dict, self.site_url)

    # -- CQL ------------------------------------------------------------------------------------
    async def search(self, request: web.Request) -> web.Response:
        cql = request.query.get("cql")
        if not cql:
            return confluence_error(400, "Bad Request", "cql is required")
        wanted = parse_cql(cql, self.known_types())
        limit = min(int_param(request, "limit", 25, low=1), SEARCH_MAX)
        # content of archived spaces is left out unless asked for (the spec's default is false)
        items = self._indexed(wanted, request.query.get("includeArchivedSpaces", "false").lower() == "true")
        start, page_number = 0, 0  # `start` is ignored, as on a real site: only the cursor moves
        if "cursor" in request.query:
            position, last_id = decode_cursor(request.query["cursor"])
            page_number, start = divmod(position, 1 << 20)[0], position % (1 << 20)
            for index in range(max(0, start - 5), min(len(items), start + 5)):
                if items[index]["id"] == last_id:
                    start = index + 1
                    break
        size = limit - 3 if page_number % 2 == 1 and limit > 3 else limit  # short pages before the end
        chunk = items[start : start + size]
        links: Record = {"base": f"{self.site_url}/wiki", "context": "/wiki"}
        if start + len(chunk) < len(items) and chunk:
            cursor = encode_cursor(((page_number + 1) << 20) + start + len(chunk), chunk[-1]["id"])
            # no recorded answer says whether includeArchivedSpaces survives into the next link: it does not
            # here, the harder case for a client
            links["next"] = "/rest/api/search?" + urlencode(
                {"next": "true", "cursor": cursor, "cql": cql, "limit": limit}
            )
        body = {
            "results": [self._result(r) for r in chunk],
            "start": start,
            "limit": limit,
            "size": len(chunk),
            "totalSize": len(items) + len(items) // 7,  # an estimate, not a count
            "cqlQuery": cql,
            "searchDuration": 17,
            "_links": links,
        }
        return json_response(body)

    def _indexed(self, wanted: dict[str, set[str]], archived_spaces: bool = False) -> list[Record]:
        """What the index holds: current nodes older than the lag, of the asked types and spaces (archived
        spaces only when asked)."""
        types = wanted.get("type") or set(NODE_TYPES)
        keys = wanted.get("space")
        horizon = iso(self.now() - self.lag_s())
        found = []
        for record in self.tree.nodes():
            if record["status"] != "current" or record["type"] not in types or record["createdAt"] > horizon:
                continue
            space = self.tree.content.space(record["spaceId"]) or {}
            if keys and space.get("key") not in keys:
                continue
            if space.get("status") == "archived" and not archived_spaces:
                continue
            found.append(record)
        return found

    def _result(self, record: Record) -> Record:
        space = self.tree.content.space(record["spaceId"]) or {}
        webui = f"/spaces/{space.get('key')}/{record['type']}/{record['id']}"
        return {
            "content": {
                "id": record["id"],
                "type": record["type"],
                "status": record["status"],
                "title": record["title"],
                "childTypes": {},
                "macroRenderedOutput": {},
                "restrictions": {},
                "_expandable": {"space": f"/rest/api/space/{space.get('key')}", "history": "", "version": ""},
                "_links": {"webui": webui, "self": f"{self.site_url}/wiki/rest/api/content/{record['id']}"},
            },
            "title": record["title"],
            "excerpt": "",
            "url": webui,
            "resultGlobalContainer": {"title": space.get("name", ""), "displayUrl": f"/spaces/{space.get('key')}"},
            "breadcrumbs": [],
            "entityType": "content",
            "iconCssClass": f"aui-icon content-type-{record['type']}",
            "lastModified": record["version"]["createdAt"],
            "friendlyLastModified": "a while ago",
            "score": 1.0,
        }

    def routes(self) -> list[tuple[str, str, Callable]]:
        v2 = "/wiki/api/v2"
        routes = [("GET", f"{v2}/{kind}s/{{id}}", self.node) for kind in NODE_TYPES]
        routes += [
            ("GET", f"{v2}/{kind}s/{{id}}/direct-children", self.direct_children) for kind in ("page", *NODE_TYPES)
        ]
        routes.append(("GET", "/wiki/rest/api/search", self.search))
        return routes
