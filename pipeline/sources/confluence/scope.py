"""What a run covers: every space, or with --spaces only some; the SQL that keeps site-wide listings in scope."""

from __future__ import annotations

from ...context import SyncContext
from .rows import TABLES, Row


def selected_spaces(ctx: SyncContext) -> tuple[str, ...]:
    return ctx.notes.get("confluence_space_ids", ())


def container_scope(ctx: SyncContext, column: str = "container_id") -> tuple[str, tuple]:
    """The SQL scope of site-wide listings: everything, or with --spaces only those spaces' content."""
    spaces = selected_spaces(ctx)
    if not ctx.settings.spaces:
        return "1 = 1", ()
    marks = ", ".join("?" * len(spaces)) or "NULL"
    sql = (
        f"{column} IN (SELECT id FROM confluence_pages WHERE space_id IN ({marks}) "
        f"UNION SELECT id FROM confluence_blogposts WHERE space_id IN ({marks}))"
    )
    return sql, (*spaces, *spaces)


def scoped(ctx: SyncContext, rows: list[Row]) -> list[Row]:
    """Rows whose container is in the selected spaces (all rows without --spaces)."""
    if not ctx.settings.spaces:
        return rows
    spaces = selected_spaces(ctx)
    marks = ", ".join("?" * len(spaces)) or "NULL"
    containers = [r["container_id"] for r in rows if r["container_id"]]
    found: set[str] = set()
    for table in TABLES.values():
        sql = f"SELECT id FROM {table} WHERE id IN ({{marks}}) AND space_id IN ({marks})"
        found |= {r[0] for r in ctx.lookup(sql, containers, *spaces)}
    return [r for r in rows if r["container_id"] in found]
