"""The three ways Atlassian pages a listing, each on its own.

- cursor (Confluence v2): follow `_links.next` (or the `Link` header) until it is absent.
- offset (Jira projects, comments, worklogs): page 1 tells `total`; the rest can be fetched at once.
- token (Jira search/jql, changelog bulkfetch): send back `nextPageToken` until it is absent.

Paginators are plain async generators (no task group inside, so cancellation stays simple); offset
fan-out is a function that runs its page fetches in a task group and hands each page to a callback.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from .errors import UnexpectedResponse
from .http import ApiResponse, GatewayClient

LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next: str | None  # the link (cursor) or token that fetches the following page; None on the last


def next_link(response: ApiResponse) -> str | None:
    """Confluence's next link: `_links.next` in the body, else the `Link` header."""
    links = response.data.get("_links") if isinstance(response.data, dict) else None
    if isinstance(links, dict) and links.get("next"):
        return str(links["next"])
    match = LINK_NEXT.search(response.headers.get("Link", ""))
    return match.group(1) if match else None


def items_of(response: ApiResponse, key: str) -> list[dict[str, Any]]:
    data = response.data
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise UnexpectedResponse(f"{response.url.split('?')[0]} answered without a '{key}' list")
    return data[key]


async def cursor_pages(
    client: GatewayClient, product: str, path: str, params: dict[str, Any] | None = None
) -> AsyncIterator[Page]:
    """Pages of a cursor listing. `path` may also be a saved next link, to resume where a run stopped."""
    link: str | None = path
    while link:
        response = await client.get(product, link, params)
        params = None  # the next link carries every parameter itself
        following = next_link(response)
        if following == link:
            raise UnexpectedResponse(f"{path} returned the same next link twice; stopping rather than looping")
        page = Page(items_of(response, "results"), following)
        response = None  # nothing of this page is held here while the next one is fetched
        yield page
        page = None
        link = following


async def token_pages(
    client: GatewayClient, product: str, path: str, body: dict[str, Any], items_key: str = "issues"
) -> AsyncIterator[Page]:
    """Pages of a POST listing paged by nextPageToken (Jira search/jql, changelog bulkfetch)."""
    token = body.get("nextPageToken")
    while True:
        response = await client.post(product, path, {**body, "nextPageToken": token} if token else body)
        data = response.data if isinstance(response.data, dict) else {}
        following = data.get("nextPageToken") or None
        if data.get("isLast") is True:
            following = None
        if following is not None and following == token:
            raise UnexpectedResponse(f"{path} returned the same nextPageToken twice; stopping rather than looping")
        yield Page(items_of(response, items_key), following)
        if following is None:
            return
        token = following


async def offset_all(
    client: GatewayClient,
    product: str,
    path: str,
    items_key: str,
    on_page: Callable[[list[dict[str, Any]]], Awaitable[None]],
    params: dict[str, Any] | None = None,
    page_size: int = 100,
    parallel: int = 4,
) -> int:
    """Every item of an offset listing, fetching the pages after the first at once. Returns the total.

    The server may serve fewer items than asked (Jira does): the stride is what page 1 actually held,
    and a page that comes back short is topped up from where it stopped.
    """
    base = {**(params or {}), "maxResults": page_size}
    first = await client.get(product, path, {**base, "startAt": 0})
    items = items_of(first, items_key)
    await on_page(items)
    total = first.data.get("total")
    if not isinstance(total, int) or first.data.get("isLast") is True or len(items) >= (total or 0):
        return await _sequential_rest(client, product, path, items_key, on_page, base, first, len(items))
    stride = len(items)
    if stride == 0:
        return 0
    limiter = anyio.CapacityLimiter(parallel)

    async def fetch_window(start: int, end: int) -> None:
        async with limiter:
            while start < end:
                window = {**base, "startAt": start, "maxResults": min(page_size, end - start)}
                page = items_of(await client.get(product, path, window), items_key)
                if not page:
                    return
                await on_page(page)
                start += len(page)

    async with anyio.create_task_group() as group:
        for start in range(stride, total, stride):
            group.start_soon(fetch_window, start, min(start + stride, total))
    return total


async def _sequential_rest(client, product, path, items_key, on_page, base, first, seen) -> int:
    """For listings without a usable total: follow isLast (or a short page) one page at a time."""
    response = first
    while response.data.get("isLast") is False or (
        "isLast" not in response.data and isinstance(response.data.get("total"), int) and seen < response.data["total"]
    ):
        response = await client.get(product, path, {**base, "startAt": seen})
        page = items_of(response, items_key)
        if not page:
            break
        await on_page(page)
        seen += len(page)
    return seen
