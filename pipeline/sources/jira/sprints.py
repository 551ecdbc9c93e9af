"""Sprints and boards.

From the Sprint custom field, which every issue fetch carries and `read:jira-work` covers: the field is
found by its schema (`com.pyxis.greenhopper.jira:gh-sprint`), never by its name, which sites translate and
rename. That gives each issue's sprints and the sprints that have issues, as they were when an issue in
them was last fetched (closing a sprint does not change its issues' `updated`).

From Jira Software's agile API (/rest/agile/1.0), when the token reaches it: boards, and every board's
sprints, future and closed ones without issues included, current every run and swept. Scoped tokens are
often refused there (401): that is recorded as a named gap (`sync_state` stream `jira:gaps:agile`,
shown by `report` and on stderr), not a failure: the run's exit status stays 0.
"""

from __future__ import annotations

from typing import Any

import anyio

from ...context import SyncContext
from ...errors import ApiError, MissingScope, Unauthorized
from ...paginate import offset_all
from ...store import Batch, Sweep, dumps
from .gaps import closed, record_gap
from .rows import Row, utc

AGILE = "/rest/agile/1.0"
SPRINT_SCHEMA = "com.pyxis.greenhopper.jira:gh-sprint"


def sprint_fields(fields: list[Row]) -> list[str]:
    return [
        str(f["id"]) for f in fields if isinstance(f, dict) and (f.get("schema") or {}).get("custom") == SPRINT_SCHEMA
    ]


def sprint_row(item: Row, board_id: Any = None) -> Row:
    board = item.get("originBoardId", item.get("boardId", board_id))
    return {
        "id": str(item["id"]),
        "board_id": str(board) if board is not None else None,
        "name": item.get("name"),
        "state": item.get("state"),
        "start_date": utc(item.get("startDate")),
        "end_date": utc(item.get("endDate")),
        "complete_date": utc(item.get("completeDate")),
        "goal": item.get("goal") or None,
    }


def issue_sprint_rows(fields: Row, issue_id: str, field_ids: list[str]) -> tuple[list[Row], list[Row]]:
    """(the sprints an issue's Sprint field names, the issue-sprint pairs)."""
    sprints: list[Row] = []
    for field_id in field_ids:
        value = fields.get(field_id)
        sprints += [sprint_row(s) for s in value or [] if isinstance(s, dict) and s.get("id") is not None]
    pairs = [{"id": f"{issue_id}:{s['id']}", "issue_id": issue_id, "sprint_id": s["id"]} for s in sprints]
    return sprints, pairs


def board_row(item: Row) -> Row:
    location = item.get("location") or {}
    project = location.get("projectId")
    return {
        "id": str(item["id"]),
        "name": item.get("name"),
        "type": item.get("type"),
        "project_id": str(project) if project is not None else None,
        "raw": dumps(item),
    }


async def sync_boards(ctx: SyncContext, projects: list[Row]) -> None:
    """Every board and each one's sprints; a refused agile API is a gap, not a failure. With --projects,
    only the boards located in those projects."""
    sweep = ctx.run_id
    boards: list[Row] = []
    wanted = {str(p["id"]) for p in projects} if ctx.settings.projects else None

    async def save(items: list[Row]) -> None:
        rows = [board_row(b) for b in items]
        kept = [(b, r) for b, r in zip(items, rows, strict=True) if wanted is None or r["project_id"] in wanted]
        boards.extend(b for b, _ in kept)
        await ctx.emit(Batch("jira_boards", [{**r, "seen_sweep": sweep} for _, r in kept]))

    try:
        await offset_all(ctx.client, "jira", f"{AGILE}/board", "values", save, page_size=50)
    except ApiError as refusal:
        if not isinstance(refusal, MissingScope | Unauthorized) and refusal.status not in (403, 404):
            raise
        message = (
            f"the agile API (boards, every board's sprints) refused the token ({refusal}); sprints come from "
            "the issues' Sprint field only. Add read:board-scope:jira-software, read:project:jira and "
            "read:sprint:jira-software to the token to fill jira_boards and every sprint"
        )
        await record_gap(ctx, "agile", "jira_boards", message)
        return
    scope = Sweep("jira_boards", sweep)
    if wanted is not None:
        ids = tuple(sorted(wanted))
        scope = Sweep("jira_boards", sweep, f"project_id IN ({', '.join('?' * len(ids))})", ids)
    await ctx.emit(Batch("jira_boards", close=scope, state=closed("agile")))
    async with anyio.create_task_group() as group:
        for board in boards:
            group.start_soon(ctx.guarded, f"jira sprints of board {board['id']}", sync_board_sprints, ctx, board)


async def sync_board_sprints(ctx: SyncContext, board: Row) -> None:
    board_id = str(board["id"])
    sweep = ctx.run_id

    async def save(items: list[Row]) -> None:
        rows = [{**sprint_row(s, board_id), "seen_sweep": sweep} for s in items]
        await ctx.emit(Batch("jira_sprints", rows))

    try:
        await offset_all(ctx.client, "jira", f"{AGILE}/board/{board_id}/sprint", "values", save, page_size=50)
    except MissingScope as refusal:  # boards readable, sprints not: the same gap, narrower
        message = f"the agile API lists boards but refused their sprints ({refusal}): add read:sprint:jira-software"
        await record_gap(ctx, "agile", "jira_sprints", message)
        return
    except ApiError as error:
        if error.status != 400:
            raise
        return  # a kanban board (or a team-managed one with sprints off): "does not support sprints"
    await ctx.emit(Batch("jira_sprints", close=Sweep("jira_sprints", sweep, "board_id = ?", (board_id,))))
