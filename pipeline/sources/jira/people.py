"""People: every account the site lists (users/search, offset), then the accounts that appear in the
stored issues, comments, worklogs, changelogs and components but were not listed (user/bulk, by id).

Email addresses are kept only where the API gives them (people can hide theirs). Accounts are never
marked deleted: Jira keeps closed accounts, with `active` false.
"""

from __future__ import annotations

from ...context import SyncContext
from ...errors import MissingScope, UnexpectedResponse
from ...store import Batch, dumps
from .gaps import closed, record_gap
from .rows import API, Row

USERS_PAGE = 1000  # asked for; Jira may serve fewer, so paging stops at an empty page only
BULK_IDS = 50  # account ids a user/bulk request names (Jira takes up to 90)
REFERENCED = """
SELECT json_extract(fields, '$.assignee.accountId') FROM jira_issues
UNION SELECT json_extract(fields, '$.reporter.accountId') FROM jira_issues
UNION SELECT json_extract(fields, '$.creator.accountId') FROM jira_issues
UNION SELECT author_id FROM jira_comments
UNION SELECT author_id FROM jira_worklogs
UNION SELECT author_id FROM jira_changelogs
UNION SELECT lead_account_id FROM jira_components
UNION SELECT from_value FROM jira_issue_field_history WHERE field_id IN ('assignee', 'reporter')
UNION SELECT to_value FROM jira_issue_field_history WHERE field_id IN ('assignee', 'reporter')
"""


def user_row(item: Row) -> Row:
    return {
        "id": str(item["accountId"]),
        "account_id": str(item["accountId"]),  # the contract's name; `id` keys it like every other table
        "display_name": item.get("displayName"),
        "email_address": item.get("emailAddress") or None,
        "active": None if item.get("active") is None else int(bool(item["active"])),
        "account_type": item.get("accountType"),
        "time_zone": item.get("timeZone"),
        "raw": dumps(item),
    }


async def sync_people(ctx: SyncContext) -> None:
    """People need `read:jira-user` (or its granular set), which older tokens made for issues lack: without
    it the run goes on, and says so (a gap, not a failure)."""
    try:
        listed = await list_users(ctx)
    except MissingScope as refusal:
        message = f"people could not be listed ({refusal}); jira_users stays as it was"
        await record_gap(ctx, "people", "jira_users", message)
        return
    stored = {r[0] for r in ctx.db.execute("SELECT id FROM jira_users")}
    wanted = sorted(
        {r[0] for r in ctx.db.execute(REFERENCED) if r[0]} - stored - listed - {"-1"}  # -1: "unassigned" in history
    )
    for start in range(0, len(wanted), BULK_IDS):
        await fetch_by_id(ctx, wanted[start : start + BULK_IDS])
    await ctx.emit(Batch("jira_users", state=closed("people")))


async def list_users(ctx: SyncContext) -> set[str]:
    seen: set[str] = set()
    start = 0
    while True:
        response = await ctx.client.get("jira", f"{API}/users/search", {"startAt": start, "maxResults": USERS_PAGE})
        if not isinstance(response.data, list):
            raise UnexpectedResponse(f"{API}/users/search did not answer a list")
        users = [u for u in response.data if isinstance(u, dict) and u.get("accountId")]
        if not response.data:
            return seen
        seen.update(str(u["accountId"]) for u in users)
        await ctx.emit(Batch("jira_users", [user_row(u) for u in users]))
        start += len(response.data)


async def fetch_by_id(ctx: SyncContext, ids: list[str]) -> None:
    start = 0
    while True:
        params = {"accountId": ids, "startAt": start, "maxResults": len(ids)}  # sent repeated
        response = await ctx.client.get("jira", f"{API}/user/bulk", params)
        values = response.data.get("values") if isinstance(response.data, dict) else None
        if not isinstance(values, list):
            raise UnexpectedResponse(f"{API}/user/bulk answered without a 'values' list")
        await ctx.emit(Batch("jira_users", [user_row(u) for u in values if isinstance(u, dict) and u.get("accountId")]))
        start += len(values)
        if not values or response.data.get("isLast", True):
            return
