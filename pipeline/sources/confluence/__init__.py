"""Confluence: which endpoints, in what order, mapped to which rows; full on the first run, incremental after.

1. spaces (one listing, a sweep for deletions);
2. pages and blog posts, one cursor chain per space, chains in parallel. The first time a space is
   seen, the listing carries the storage bodies. After that the listing carries only metadata, the
   version numbers are compared with the store, and bodies are fetched for what changed, 100 ids a request;
3. at once: footer and inline comments (site-wide, newest-modified first, down to the saved mark, then a
   listing of ids to notice deletions), attachments (site-wide metadata; bytes only for a new version),
   and labels for the pages and blog posts whose version changed, and the rest of the page tree (folders,
   whiteboards, databases, embeds: a CQL listing, then by id what changed, then any parent still missing),
   the new versions of the pages and blog posts whose version moved, inline tasks, content properties (of
   the pages and blog posts whose version moved, and of every space), space permissions, and page
   restrictions when switched on;
4. people: names for the account ids not yet known (or not refreshed for a week).

Every listing is a sweep: rows it sees are stamped with the sweep's id, and when it completes, the rows in
its scope it did not see get `deleted_at`. A listing's cursor commits with its rows, so a killed run
resumes where it stopped, in the same sweep.

Parts: rows (API objects -> rows, pure), scope (--spaces), listing (resumable cursor chains), spaces,
contents (pages and blog posts), comments, attachments, labels, history (versions), tree (the nodes that
are not pages), tasks, people.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio

from ...context import SyncContext
from ..downloads import pay_download_debts
from .attachments import queue_downloads, sync_attachments
from .comments import sync_comments
from .contents import site_wide, sync_all_contents, sync_contents
from .history import sync_versions
from .labels import sync_labels
from .people import sync_people
from .restore import sync_content_properties, sync_restrictions, sync_space_settings
from .spaces import sync_spaces
from .tasks import sync_tasks
from .tree import sync_tree


async def sync(ctx: SyncContext) -> None:
    await pay_download_debts(ctx, "confluence_attachments", queue_downloads)  # owed bytes come first
    spaces = await sync_spaces(ctx)
    limiter = anyio.CapacityLimiter(ctx.settings.concurrency)
    async with anyio.create_task_group() as group:
        for kind in ("page", "blogpost"):
            if site_wide(ctx, kind):
                stream = f"confluence {kind}s"
                per_space = [f"confluence {kind}s of {space['key']}" for space in spaces]  # it covers them all
                group.start_soon(
                    partial(ctx.guarded, owes=[stream], pays=[stream, *per_space]),
                    stream,
                    sync_all_contents,
                    ctx,
                    kind,
                    spaces,
                )
                continue
            for space in spaces:
                stream = f"confluence {kind}s of {space['key']}"
                group.start_soon(_limited, limiter, ctx, stream, sync_contents, ctx, space, kind)
    await ctx.flush()  # comments, attachments and labels are matched against the pages just committed
    async with anyio.create_task_group() as group:
        for kind in ("footer", "inline"):
            group.start_soon(ctx.guarded, f"confluence {kind} comments", sync_comments, ctx, kind)
        group.start_soon(ctx.guarded, "confluence attachments", sync_attachments, ctx)
        group.start_soon(ctx.guarded, "confluence labels", sync_labels, ctx)
        group.start_soon(ctx.guarded, "confluence versions", sync_versions, ctx)
        group.start_soon(sync_tree, ctx)  # guards its own parts: a type the token cannot read stops only itself
        group.start_soon(ctx.guarded, "confluence tasks", sync_tasks, ctx)
        group.start_soon(ctx.guarded, "confluence content properties", sync_content_properties, ctx)
        group.start_soon(ctx.guarded, "confluence space permissions", sync_space_settings, ctx, spaces)
        group.start_soon(ctx.guarded, "confluence restrictions", sync_restrictions, ctx)
    await ctx.flush()  # people are named from every account id the tables above now hold
    await ctx.guarded("confluence people", sync_people, ctx)


async def _limited(limiter: anyio.CapacityLimiter, ctx: SyncContext, stream: str, work, *args: Any) -> None:
    async with limiter:
        await ctx.guarded(stream, work, *args)
