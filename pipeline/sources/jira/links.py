"""Issue links from `fields.issuelinks`: each link shows on both of its issues, with only the other end
named (under inwardIssue or outwardIssue), so the issue it was read from is the missing end."""

from __future__ import annotations

from .rows import Row


def link_row(link: Row, issue_id: str) -> Row | None:
    if not isinstance(link, dict) or link.get("id") is None:
        return None
    inward, outward = link.get("inwardIssue"), link.get("outwardIssue")
    if isinstance(outward, dict) and not isinstance(inward, dict):
        inward_id, outward_id = issue_id, outward.get("id")
    elif isinstance(inward, dict) and not isinstance(outward, dict):
        inward_id, outward_id = inward.get("id"), issue_id
    elif isinstance(inward, dict) and isinstance(outward, dict):  # a link read on its own names both
        inward_id, outward_id = inward.get("id"), outward.get("id")
    else:
        return None
    return {
        "id": str(link["id"]),
        "link_type_id": (link.get("type") or {}).get("id"),
        "inward_issue_id": str(inward_id) if inward_id is not None else None,
        "outward_issue_id": str(outward_id) if outward_id is not None else None,
    }
