"""Jira API objects -> table rows: pure, tested without a network."""

from __future__ import annotations

from typing import Any

from ...store import dumps
from ...text import from_adf
from ...times import utc

API = "/rest/api/3"
BULK = 100  # issue/bulkfetch takes at most 100 ids
ID_PAGE = 5000  # search/jql serves up to 5000 ids a page when only ids are asked for
GROUP = 50  # projects listed together once they are known
CHILD_KEYS = ("comment", "worklog")  # stored in their own tables, not twice inside `fields`
Row = dict[str, Any]


def name_of(value: Any) -> Any:
    return value.get("name") if isinstance(value, dict) else value


def account_of(value: Any) -> str | None:
    return value.get("accountId") if isinstance(value, dict) else None


def project_row(item: Row) -> Row:
    return {
        "id": str(item["id"]),
        "key": item.get("key"),
        "name": item.get("name"),
        "project_type": item.get("projectTypeKey"),
        "raw": dumps(item),
    }


def field_row(item: Row) -> Row:
    return {
        "id": str(item["id"]),
        "name": item.get("name"),
        "custom": int(bool(item.get("custom"))),
        "raw": dumps(item),
    }


def issue_row(item: Row) -> Row:
    fields = item.get("fields") or {}
    kept = {k: v for k, v in fields.items() if k not in CHILD_KEYS}
    return {
        "id": str(item["id"]),
        "key": item.get("key"),
        "project_id": (fields.get("project") or {}).get("id"),
        "summary": fields.get("summary"),
        "status": name_of(fields.get("status")),
        "issue_type": name_of(fields.get("issuetype")),
        "created": utc(fields.get("created")),
        "updated": utc(fields.get("updated")),
        "fields": dumps(kept),
        "description_text": from_adf(fields.get("description")),
    }


def comment_row(item: Row, issue_id: str) -> Row:
    return {
        "id": str(item["id"]),
        "issue_id": issue_id,
        "author_id": account_of(item.get("author")),
        "created": utc(item.get("created")),
        "updated": utc(item.get("updated")),
        "body": dumps(item.get("body")),
        "body_text": from_adf(item.get("body")),
        "raw": dumps(item),
    }


def attachment_row(item: Row, issue_id: str) -> Row:
    return {
        "id": str(item["id"]),
        "issue_id": issue_id,
        "filename": item.get("filename"),
        "mime_type": item.get("mimeType"),
        "size": item.get("size"),
        "created": utc(item.get("created")),
        "raw": dumps(item),
    }


def worklog_row(item: Row, issue_id: str) -> Row:
    return {
        "id": str(item["id"]),
        "issue_id": issue_id,
        "started": utc(item.get("started")),
        "time_spent_seconds": item.get("timeSpentSeconds"),
        "updated": utc(item.get("updated")),
        "author_id": account_of(item.get("author")),
        "raw": dumps(item),
    }


def changelog_row(item: Row, issue_id: str) -> Row:
    return {
        "id": str(item["id"]),
        "issue_id": issue_id,
        "created": utc(item.get("created")),
        "author_id": account_of(item.get("author")),
        "raw": dumps(item),
    }


def complete(listing: Any, key: str) -> list[Row] | None:
    """The inline list when it holds everything (total <= its length), else None."""
    if not isinstance(listing, dict) or not isinstance(listing.get(key), list):
        return None
    items = listing[key]
    total = listing.get("total")
    return items if isinstance(total, int) and total <= len(items) else None
