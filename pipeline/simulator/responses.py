"""Response shapes shared by the fake APIs: JSON bodies, Atlassian's error forms, cursor pages."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

Record = dict[str, Any]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def confluence_error(status: int, title: str, detail: str | None = None) -> web.Response:
    error = {"status": status, "code": title.upper().replace(" ", "_"), "title": title, "detail": detail}
    return json_response({"errors": [error]}, status)


def jira_error(status: int, *messages: str, errors: dict[str, str] | None = None) -> web.Response:
    return json_response({"errorMessages": list(messages), "errors": errors or {}}, status)


def http_error(kind: type[web.HTTPException], body: Any) -> web.HTTPException:
    """An HTTP error to raise from deep inside a handler, with a JSON body of Atlassian's shape."""
    return kind(text=orjson.dumps(body).decode(), content_type="application/json")


def invalid_parameter(title: str) -> web.HTTPException:
    error = {"status": 400, "code": "INVALID_REQUEST_PARAMETER", "title": title, "detail": None}
    return http_error(web.HTTPBadRequest, {"errors": [error]})


def multi(request: web.Request, name: str) -> list[str]:
    """An array parameter, sent repeated (status=a&status=b) or comma-separated (status=a,b)."""
    return [v for raw in request.query.getall(name, []) for v in raw.split(",") if v]


def int_param(request: web.Request, name: str, default: int, low: int = 0) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_parameter(f"'{name}' must be a number") from None
    if value < low:
        raise web.HTTPBadRequest(text=f"'{name}' must be at least {low}")
    return value


def encode_cursor(position: int, last_id: str) -> str:
    return base64.urlsafe_b64encode(f"{position}|{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        position, _, last_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("|")
        return int(position), last_id
    except (ValueError, UnicodeDecodeError):
        raise invalid_parameter("Invalid cursor") from None


def cursor_page(
    request: web.Request,
    items: Sequence[Record],
    shape: Callable[[Record], Record],
    site_url: str,
    default_limit: int = 25,
    max_limit: int = 250,
    load: Callable[[Record], Record | None] | None = None,
) -> web.Response:
    """One page of a Confluence v2 listing, with `_links.next` and `Link` as the real API sends them.

    The next link is site-relative (/wiki/api/v2/...), the cursor is opaque and deliberately not the last
    query parameter, and both are absent on the last page. `limit` above the maximum is capped.
    """
    limit = min(int_param(request, "limit", default_limit, low=1), max_limit)
    start = 0
    if "cursor" in request.query:
        position, last_id = decode_cursor(request.query["cursor"])
        start = position
        # resume after the last item seen even when items before it were added or removed since
        for index in range(max(0, position - 5), min(len(items), position + 5)):
            if items[index]["id"] == last_id:
                start = index + 1
                break
    chunk = items[start : start + limit]
    links: Record = {"base": f"{site_url}/wiki"}
    headers = {}
    if start + limit < len(items) and chunk:
        params = [(k, v) for k, v in request.query.items() if k != "cursor"]
        cursor = ("cursor", encode_cursor(start + len(chunk), chunk[-1]["id"]))
        params.insert(max(0, len(params) - 1), cursor)
        path = request.path.split("/wiki/", 1)[1]
        links["next"] = f"/wiki/{path}?{urlencode(params)}"
        headers["Link"] = f'<{links["next"]}>; rel="next"'
    if load is not None:  # light entries: only this page's items are built in full
        chunk = [full for full in map(load, chunk) if full is not None]
    return json_response({"results": [shape(item) for item in chunk], "_links": links}, headers=headers)
