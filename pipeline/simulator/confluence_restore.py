"""The fake Confluence's "what a restore needs": content properties of pages, blog posts and spaces, and
space permissions.

A content property changes without a new page version (apps write them), as on a real site.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .dataset import PAGE_BASE, PEOPLE, SPACE_BASE, WORDS, iso, moment, rng_for
from .responses import cursor_page, int_param, json_response

if TYPE_CHECKING:
    from .confluence_content import ConfluenceContent

PERMISSION_BASE = 800_000_000
RESTRICTION_PAGE = 100  # users (and groups) per operation per answer: the default limit, and the most
OPERATIONS = [
    ("read", "space"),
    ("create", "page"),
    ("create", "blogpost"),
    ("delete", "comment"),
    ("administer", "space"),
    ("export", "space"),
    ("create", "attachment"),
    ("archive", "page"),
]
Record = dict[str, Any]


class RestoreContent:
    def __init__(self, content: ConfluenceContent) -> None:
        self.content = content
        self.seed, self.overlay = content.seed, content.overlay

    # -- content properties -------------------------------------------------------------------------
    def properties(self, owner_id: str) -> list[Record]:
        """A page's, blog post's or space's properties (owner ids do not overlap)."""
        key = f"properties:{owner_id}"
        if key in self.overlay.changed:
            return self.overlay.changed[key] or []
        is_space = int(owner_id) < PAGE_BASE
        if not is_space and self.content._added(owner_id):
            return []
        rng = rng_for(self.seed, "properties", owner_id)
        if rng.random() > (0.9 if is_space else 0.3):
            return []
        found = []
        for k in range(rng.randint(1, 2)):
            created = moment(rng)
            name = rng.choice(("editor", "app-state", "ℹ️ meta", "content-appearance-published"))
            found.append(
                {
                    "id": str(int(owner_id) * 100 + k),
                    "key": f"{name}-{k}",
                    "value": {"flag": rng.random() < 0.5, "words": rng.sample(WORDS, 2), "n": rng.randint(0, 99)},
                    "version": {
                        "number": rng.randint(1, 4),
                        "createdAt": iso(created),
                        "message": "",
                        "minorEdit": False,
                        "authorId": rng.choice(PEOPLE),
                    },
                }
            )
        return found

    def set_property(self, owner_id: str, key: str, value: Any) -> None:
        """An app writes a property: the owner's own version does not move."""
        current = [dict(p) for p in self.properties(owner_id)]
        mine = next((p for p in current if p["key"] == key), None)
        now = iso(self.overlay.now())
        if mine is None:
            mine = {"id": str(int(owner_id) * 100 + 50 + len(current)), "key": key, "version": {"number": 0}}
            current.append(mine)
        mine["value"] = value
        mine["version"] = {
            "number": mine["version"]["number"] + 1,
            "createdAt": now,
            "message": "",
            "minorEdit": False,
            "authorId": PEOPLE[4],
        }
        self.overlay.put(f"properties:{owner_id}", current)

    # -- space permissions --------------------------------------------------------------------------
    def permissions(self, space_id: str) -> list[Record]:
        key = f"permissions:{space_id}"
        if key in self.overlay.changed:
            return self.overlay.changed[key] or []
        rng = rng_for(self.seed, "permissions", space_id)
        base = PERMISSION_BASE + (int(space_id) - SPACE_BASE) * 1000
        found = []
        for k, (operation, target) in enumerate(OPERATIONS[: rng.randint(3, len(OPERATIONS))]):
            kind = rng.choice(("user", "group", "group", "role"))
            principal = rng.choice(PEOPLE) if kind == "user" else f"{kind}-{rng.choice(WORDS)}"
            found.append(
                {
                    "id": str(base + k),
                    "principal": {"type": kind, "id": principal},
                    "operation": {"key": operation, "targetType": target},
                }
            )
        return found

    def restrict(self, content_id: str, operation: str, principals: list[tuple[str, str]]) -> None:
        """Restrictions change without a new version of the page."""
        current = dict(restrictions(self.seed, self.overlay, content_id))
        current[operation] = principals
        self.overlay.put(f"restrictions:{content_id}", {k: v for k, v in current.items() if v})

    def revoke(self, space_id: str, permission_id: str) -> None:
        self.overlay.put(f"permissions:{space_id}", [p for p in self.permissions(space_id) if p["id"] != permission_id])


def restrictions(seed: int, overlay, content_id: str) -> dict[str, list[tuple[str, str]]]:
    """operation -> [(principal type, principal id)]: most content has none; some is read- or edit-restricted."""
    key = f"restrictions:{content_id}"
    if key in overlay.changed:
        return overlay.changed[key] or {}
    rng = rng_for(seed, "restrictions", content_id)
    if rng.random() > 0.15:
        return {}
    found: dict[str, list[tuple[str, str]]] = {}
    for operation in ("read", "update"):
        if rng.random() < 0.6:
            found[operation] = [("user", rng.choice(PEOPLE))] + (
                [("group", f"group-{rng.choice(WORDS)}")] if rng.random() < 0.5 else []
            )
    return found


class RestoreApi:
    def __init__(self, restore: RestoreContent, site_url: str) -> None:
        self.restore, self.site_url = restore, site_url

    async def content_properties(self, request: web.Request) -> web.Response:
        kind = "page" if "/pages/" in request.path else "blogpost"
        owner = request.match_info.get("page_id") or request.match_info.get("blogpost_id") or ""
        record = self.restore.content.content(owner) if owner.isdigit() else None
        if record is None or self.restore.content.kind_of(owner) != kind:
            raise web.HTTPNotFound()
        return self._listing(request, self.restore.properties(owner))

    async def space_properties(self, request: web.Request) -> web.Response:
        space_id = request.match_info["space_id"]
        if not space_id.isdigit() or self.restore.content.space(space_id) is None:
            raise web.HTTPNotFound()
        props = [
            {
                "id": p["id"],
                "key": p["key"],
                "value": p["value"],
                "createdAt": p["version"]["createdAt"],
                "createdBy": p["version"]["authorId"],
                "version": {
                    "createdAt": p["version"]["createdAt"],
                    "createdBy": p["version"]["authorId"],
                    "message": "",
                    "number": p["version"]["number"],
                },
            }
            for p in self.restore.properties(space_id)
        ]
        return self._listing(request, props)

    async def space_permissions(self, request: web.Request) -> web.Response:
        space_id = request.match_info["id"]
        if not space_id.isdigit() or self.restore.content.space(space_id) is None:
            raise web.HTTPNotFound()
        return cursor_page(request, self.restore.permissions(space_id), dict, self.site_url)

    async def restriction(self, request: web.Request) -> web.Response:
        """v1: who may read and update a page or blog post (users and groups); one request per content."""
        content_id = request.match_info["id"]
        record = self.restore.content.content(content_id) if content_id.isdigit() else None
        if record is None:
            return json_response({"statusCode": 404, "message": "No content found with id"}, 404)
        found = restrictions(self.restore.seed, self.restore.overlay, content_id)
        base = f"{self.site_url}/wiki/rest/api/content/{content_id}/restriction"
        # start and limit page the users and the groups of every operation alike (the spec: "the maximum
        # number of users and the maximum number of groups ... to return per page")
        start = int_param(request, "start", 0)
        limit = min(int_param(request, "limit", RESTRICTION_PAGE, low=1), RESTRICTION_PAGE)
        results = []
        for operation in ("read", "update"):
            principals = found.get(operation, [])
            users = [
                {"type": "known", "accountId": pid, "accountType": "atlassian", "displayName": pid[-4:]}
                for kind, pid in principals
                if kind == "user"
            ]
            groups = [{"type": "group", "name": pid, "id": f"id-{pid}"} for kind, pid in principals if kind == "group"]
            results.append(
                {
                    "operation": operation,
                    "restrictions": {
                        kind: {"results": part, "start": start, "limit": limit, "size": len(part)}
                        for kind, everyone in (("user", users), ("group", groups))
                        for part in [everyone[start : start + limit]]
                    },
                    "_expandable": {"content": f"/rest/api/content/{content_id}"},
                    "_links": {"self": f"{base}/byOperation/{operation}"},
                }
            )
        body = {
            "results": results,
            "start": start,
            "limit": limit,
            "size": len(results),
            "restrictionsHash": hashlib.sha1(str(sorted(found.items())).encode()).hexdigest(),
            "_links": {"base": f"{self.site_url}/wiki", "context": "/wiki"},
        }
        return json_response(body)

    def _listing(self, request: web.Request, items: list[Record]) -> web.Response:
        wanted = request.query.get("key")
        return cursor_page(request, [p for p in items if not wanted or p["key"] == wanted], dict, self.site_url)

    def routes(self) -> list[tuple[str, str, Callable]]:
        v2 = "/wiki/api/v2"
        return [
            ("GET", f"{v2}/pages/{{page-id}}/properties", self.content_properties),
            ("GET", f"{v2}/blogposts/{{blogpost-id}}/properties", self.content_properties),
            ("GET", f"{v2}/spaces/{{space-id}}/properties", self.space_properties),
            ("GET", f"{v2}/spaces/{{id}}/permissions", self.space_permissions),
            ("GET", "/wiki/rest/api/content/{id}/restriction", self.restriction),
        ]
