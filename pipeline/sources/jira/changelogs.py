"""Changelogs through changelog/bulkfetch (up to 1,000 issues a request, paged by nextPageToken, so an
issue's history is never cut at 100), stored whole and flattened into one row per changed item."""

from __future__ import annotations

from ...context import SyncContext
from ...paginate import token_pages
from ...store import Batch
from .rows import API, Row, account_of, changelog_row, utc

CHANGELOG_IDS = 1000  # issue ids changelog/bulkfetch takes in one request


def field_history_rows(history: Row, issue_id: str) -> list[Row]:
    """One row per changed item: "when did this issue enter In Progress" becomes one query."""
    changed_at = utc(history.get("created"))
    author = account_of(history.get("author"))
    return [
        {
            "id": f"{history['id']}:{n}",
            "changelog_id": str(history["id"]),
            "issue_id": issue_id,
            "field_id": item.get("fieldId") or item.get("field"),  # older entries carry only the name
            "field": item.get("field"),
            "field_type": item.get("fieldtype"),
            "changed_at": changed_at,
            "author_id": author,
            "from_value": _text(item.get("from")),
            "from_string": item.get("fromString"),
            "to_value": _text(item.get("to")),
            "to_string": item.get("toString"),
        }
        for n, item in enumerate(history.get("items") or [])
    ]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


async def sync_changelogs(ctx: SyncContext, ids: list[str]) -> None:
    """Every history of these issues (at most CHANGELOG_IDS), page by page."""
    body = {"issueIdsOrKeys": ids, "maxResults": 10000}
    async for page in token_pages(ctx.client, "jira", f"{API}/changelog/bulkfetch", body, "issueChangeLogs"):
        logs = [(str(log["issueId"]), h) for log in page.items for h in log.get("changeHistories") or []]
        if logs:
            await ctx.emit_together(
                [
                    Batch("jira_changelogs", [changelog_row(h, issue_id) for issue_id, h in logs]),
                    Batch("jira_issue_field_history", [r for i, h in logs for r in field_history_rows(h, i)]),
                ]
            )
