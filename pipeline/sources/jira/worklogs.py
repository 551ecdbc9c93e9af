"""Worklogs site-wide, not one request per issue: worklog/updated?since= gives the ids changed since the
last run (1,000 a page), POST worklog/list fetches them (1,000 a request), worklog/deleted?since= names
the ones deleted. Each page commits with its `until` as the next run's `since`.

Jira leaves out the last minute's changes (they may still settle); `until` is where it stopped, so the
next run starts there and misses nothing. On a first run `since` is 0: every worklog on the site.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ...context import SyncContext
from ...errors import UnexpectedResponse
from ...store import Batch, Sweep, dumps
from .rows import API, Row, worklog_row

STREAM = "jira:worklogs"
LIST_IDS = 1000  # worklog/list takes at most 1,000 ids


async def changed_pages(ctx: SyncContext, path: str, since: int) -> AsyncIterator[tuple[list[int], int]]:
    """(worklog ids, the `until` to resume from) for each page of worklog/updated or worklog/deleted."""
    while True:
        response = await ctx.client.get("jira", f"{API}/{path}", {"since": since})
        data = response.data if isinstance(response.data, dict) else None
        if data is None or not isinstance(data.get("values"), list):
            raise UnexpectedResponse(f"{API}/{path} answered without a 'values' list")
        ids = [int(v["worklogId"]) for v in data["values"] if isinstance(v, dict) and "worklogId" in v]
        until = int(data.get("until") or since)
        yield ids, until
        if data.get("lastPage", True) or until <= since:  # no progress would loop forever
            return
        since = until


async def sync_worklogs(ctx: SyncContext, projects: list[Row]) -> None:
    """A run limited by --projects keeps only its projects' worklogs, so it saves no cursor: moving the
    site-wide cursor past the other projects' worklogs would lose them for the next full run."""
    prior = ctx.saved(STREAM)
    started = {} if ctx.settings.full else prior
    saved = dict(started)
    keep = _project_filter(ctx, projects)
    keeps_cursor = not ctx.settings.projects

    def state() -> dict[str, str | None]:
        return {STREAM: dumps(saved)} if keeps_cursor else {}

    async for ids, until in changed_pages(ctx, "worklog/updated", int(started.get("updated", 0))):
        rows: list[Row] = []
        for start in range(0, len(ids), LIST_IDS):
            response = await ctx.client.post("jira", f"{API}/worklog/list", {"ids": ids[start : start + LIST_IDS]})
            if not isinstance(response.data, list):
                raise UnexpectedResponse(f"{API}/worklog/list did not answer a list")
            rows += [worklog_row(w, str(w.get("issueId"))) for w in response.data if isinstance(w, dict)]
        saved["updated"] = until
        await ctx.emit(Batch("jira_worklogs", [r for r in rows if keep(r)], state=state()))
    # deletions since the last run's deletion cursor, even with --full (a full relisting of what exists does not
    # name what was deleted); without one, since this run began: nothing deleted earlier was stored
    deleted_since = int(prior.get("deleted") or ctx.started_ms)
    async for ids, until in changed_pages(ctx, "worklog/deleted", deleted_since):
        saved["deleted"] = until
        closes = [
            Batch("jira_worklogs", close=Sweep("jira_worklogs", -1, f"id IN ({', '.join('?' * len(chunk))})", chunk))
            for chunk in (tuple(str(i) for i in ids[k : k + 500]) for k in range(0, len(ids), 500))
        ]
        await ctx.emit_together([*closes, Batch("jira_worklogs", state=state())])


def _project_filter(ctx: SyncContext, projects: list[Row]) -> Any:
    """With --projects, keep the worklogs of stored issues only (the listing is site-wide)."""
    if not ctx.settings.projects:
        return lambda row: True
    ids = tuple(p["id"] for p in projects)
    marks = ", ".join("?" * len(ids))
    issues = {r[0] for r in ctx.db.execute(f"SELECT id FROM jira_issues WHERE project_id IN ({marks})", ids)}
    return lambda row: row["issue_id"] in issues
