"""The fake Jira's dimensions: people, statuses, priorities, resolutions, issue and link types, versions,
components, boards and sprints. Small and fixed per project, so plain functions of the project index."""

from __future__ import annotations

from typing import Any

from .dataset import EPOCH_START, PEOPLE, PROJECT_BASE

Record = dict[str, Any]

# (id, name, category key): the ids the issues' `status` carry
STATUSES = [
    ("10000", "To Do", "new"),
    ("10001", "In Progress", "indeterminate"),
    ("10002", "In Review", "indeterminate"),
    ("10003", "Done", "done"),
    ("10004", "Blocked", "indeterminate"),  # in a workflow, used by no issue yet
]
CATEGORIES = {
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}
PRIORITIES = [("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest")]
RESOLUTIONS = [("10000", "Done"), ("10001", "Won't Do"), ("10002", "Duplicate"), ("10003", "Cannot Reproduce")]
# (id, name, subtask, hierarchy level)
ISSUE_TYPES = [
    ("10001", "Task", False, 0),
    ("10002", "Bug", False, 0),
    ("10003", "Story", False, 0),
    ("10004", "Epic", False, 1),
    ("10005", "Subtask", True, -1),
]
LINK_TYPES = [
    ("10000", "Blocks", "is blocked by", "blocks"),
    ("10001", "Cloners", "is cloned by", "clones"),
    ("10002", "Duplicate", "is duplicated by", "duplicates"),
    ("10003", "Relates", "relates to", "relates to"),
]
SPRINT_FIELD = "customfield_10021"  # found by its schema, as clients must: sites number it differently
SPRINT_SCHEMA = "com.pyxis.greenhopper.jira:gh-sprint"
LISTED_PEOPLE = PEOPLE[:10]  # the rest are only reachable by id (user/bulk), like deactivated accounts
SPRINTS_PER_BOARD = 5  # three closed, one active, one future (no issues yet)
WEEK = 7 * 24 * 3600


def status_by_name(name: str) -> tuple[str, str, str]:
    return next(s for s in STATUSES if s[1] == name)


def has_email(account_id: str) -> bool:
    """Some people hide their email (profile visibility): the API then leaves the field out."""
    return int(account_id[-4:], 16) % 3 != 1


def user_shape(site_url: str, account_id: str, zone: str, full: bool = False) -> Record:
    index = int(account_id[-4:], 16)
    out: Record = {
        "self": f"{site_url}/rest/api/3/user?accountId={account_id}",
        "accountId": account_id,
        "displayName": f"User {account_id[-4:]}",
        "active": index < 11,
        "timeZone": zone,
        "accountType": "atlassian" if index != 9 else "app",
    }
    if full and has_email(account_id):
        out["emailAddress"] = f"user{index}@example.com"
    return out


def project_index(project_id: str) -> int:
    return int(project_id) - PROJECT_BASE


def board_id(index: int) -> int | None:
    """Software projects have a scrum board; the others have none."""
    return index + 1 if index % 3 == 0 else None


def sprint_ids(index: int) -> list[int]:
    board = board_id(index)
    return [] if board is None else [board * 100 + k for k in range(SPRINTS_PER_BOARD)]


def sprint_record(sprint_id: int) -> Record:
    board, k = divmod(sprint_id, 100)
    start = EPOCH_START.timestamp() + (40 + k * 2) * WEEK + board * 3600
    state = "closed" if k < 3 else "active" if k == 3 else "future"
    record: Record = {
        "id": sprint_id,
        "boardId": board,
        "name": f"Board {board} Sprint {k + 1}",
        "state": state,
        "goal": "Ship it 🚀" if k == 1 else "",
    }
    if state != "future":
        record.update(_start=start, _end=start + 2 * WEEK)
    if state == "closed":
        record["_complete"] = start + 2 * WEEK + 600
    return record


def versions(index: int) -> list[Record]:
    project_id = PROJECT_BASE + index
    return [
        {
            "id": str(20000 + index * 10 + k),
            "name": f"v{k + 1}.0",
            "archived": k == 0,
            "released": k < 2,
            "releaseDate": f"2025-0{k + 1}-15" if k < 2 else None,
            "projectId": project_id,
        }
        for k in range(3)
    ]


def components(index: int) -> list[Record]:
    project_id = PROJECT_BASE + index
    return [
        {
            "id": str(30000 + index * 10 + k),
            "name": name,
            "leadAccountId": PEOPLE[(index + k) % len(PEOPLE)] if k == 0 else None,
            "projectId": project_id,
        }
        for k, name in enumerate(("Backend", "Web app"))
    ]
