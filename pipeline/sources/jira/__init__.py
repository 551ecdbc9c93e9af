"""Jira: which endpoints, in what order, mapped to which rows; full on the first run, incremental after.

1. fields, projects (live, then archived), and the site-wide dimensions (statuses, priorities, resolutions,
   issue and link types), together;
2. per live project, in parallel: issue ids through search/jql with `fields=id` (thousands a page): all of
   them the first time; after that, only those updated since the project's mark, in epoch milliseconds
   (JQL reads date literals in the account's time zone; milliseconds have none) less an overlap for
   Jira's eventually consistent search, then all ids again (cheap) to notice deleted issues (an unseen
   issue is asked for by id before it is called deleted: search can drop an issue that still exists);
   meanwhile each project's versions and components, and the boards and sprints of the agile API;
3. those ids 100 at a time through issue/bulkfetch (every field): the issues, their comments (inline when
   the inline list is complete, which stops at 20, else fetched in full), attachments (bytes queued only
   when not yet stored), links, sprints (from the Sprint field); their field history through
   changelog/bulkfetch, 1,000 issues a request;
4. worklogs site-wide (changed and deleted since the last run), then people: every listed account and
   every account id the stored rows name.

An issue's children are swept per fetched issue: a comment or attachment gone from it gets `deleted_at`.
A run killed part way resumes in the same sweep and skips the issues that sweep already fetched.

Parts: rows (API objects -> rows, pure), projects (fields and projects), lookups (dimensions), issues
(listing, bulkfetch, sweeps), vanished (the by-id check before a deletion), children (comments,
attachments, links, issue sprints), attachments (bytes), history and changelogs (field history), sprints
(Sprint field and agile API), worklogs, people.
"""

from __future__ import annotations

from functools import partial

import anyio

from ...context import SyncContext
from ..downloads import pay_download_debts
from . import history
from .attachments import catch_up, queue_downloads
from .issues import pay_issue_debts, sync_known_projects, sync_new_project
from .lookups import sync_lookups, sync_project_parts
from .people import sync_people
from .projects import sync_fields, sync_projects
from .rows import GROUP, Row
from .sprints import sync_boards
from .worklogs import sync_worklogs


async def sync(ctx: SyncContext) -> None:
    projects: list[Row] = []
    archived: list[Row] = []
    async with anyio.create_task_group() as group:
        group.start_soon(ctx.guarded, "jira fields", sync_fields, ctx)
        group.start_soon(ctx.guarded, "jira projects", sync_projects, ctx, projects, archived)
        group.start_soon(ctx.guarded, "jira dimensions", sync_lookups, ctx)
    await pay_debts(ctx, projects)  # what earlier runs failed to fetch comes first
    bulk = anyio.Semaphore(ctx.settings.concurrency)  # bulkfetches in flight, all projects together
    saved = {p["id"]: ({} if ctx.settings.full else ctx.saved(f"jira:issues:{p['id']}")) for p in projects}
    known = [p for p in projects if saved[p["id"]].get("mark") and not saved[p["id"]].get("pending")]
    async with anyio.create_task_group() as group:
        for project in projects + archived:
            name = f"jira versions and components of {project['key']}"
            group.start_soon(ctx.guarded, name, sync_project_parts, ctx, project, project in archived)
        group.start_soon(ctx.guarded, "jira boards", sync_boards, ctx, projects + archived)
        for project in projects:
            if project not in known:
                group.start_soon(ctx.guarded, f"jira issues of {project['key']}", sync_new_project, ctx, project, bulk)
        for start in range(0, len(known), GROUP):
            chunk = known[start : start + GROUP]
            marks = [int(saved[p["id"]]["mark"]) for p in chunk]
            owes = [f"jira issues of {p['key']}" for p in chunk]  # the same debts as a project's first listing
            guard = partial(ctx.guarded, owes=owes)
            group.start_soon(guard, "jira issues", sync_known_projects, ctx, chunk, min(marks), bulk)
    await history.drain_all(ctx)  # history still queued: for issues owed, or a resumed sweep
    if ctx.settings.jira_worklogs:
        await ctx.flush()  # with --projects, worklogs are kept for the stored issues
        await ctx.guarded("jira worklogs", sync_worklogs, ctx, projects)
    await ctx.flush()
    await ctx.guarded("jira people", sync_people, ctx)
    await catch_up(ctx)  # anything an earlier, interrupted run stored but never downloaded


async def pay_debts(ctx: SyncContext, projects: list[Row]) -> None:
    await pay_download_debts(ctx, "jira_attachments", queue_downloads)
    await pay_issue_debts(ctx, projects)
