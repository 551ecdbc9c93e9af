"""A listing chain resumed from its saved cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ...context import Chain, SyncContext
from ...errors import ApiError
from ...paginate import Page, cursor_pages, items_of, next_link
from .rows import Row


async def chain_pages(ctx: SyncContext, chain: Chain, path: str, params: Row) -> AsyncIterator[Page]:
    """The pages of a listing chain, from its saved cursor when a killed run left one. A cursor the
    server no longer accepts (it may be days old) restarts the listing from the top, in a new sweep."""
    if chain.resume:
        try:
            response = await ctx.client.get("confluence", chain.resume)
        except ApiError as error:
            if error.status not in (400, 404, 410):
                raise
            chain.resume, chain.sweep = None, ctx.run_id
        else:
            page = Page(items_of(response, "results"), next_link(response))
            following, response = page.next, None
            yield page
            page = None  # pages are let go of before the next is fetched: memory holds one a chain
            if following:
                async for more in cursor_pages(ctx.client, "confluence", following):
                    yield more
                    more = None
            return
    async for page in cursor_pages(ctx.client, "confluence", path, params):
        yield page
        page = None
