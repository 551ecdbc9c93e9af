"""Every past state of every stored row, and what the store held at a given time.

One shared table, `history`, holds time spans: (table_name, id, valid_from, valid_to, row, run_id).
A row's current span has valid_to NULL and no `row` (its content is the live row itself); every closed
span carries the row as it was then, as a JSON object of its columns. So an unchanged row costs one small
span, and only a change costs a copy of the row as it was.

SQLite triggers keep it, so every writer (the sync, a download marking an attachment gone, a hand edit)
is covered, and no code path can forget. They are derived from the schema on every open: every table whose
primary key is `id` (other than sync_* bookkeeping and full-text shadow tables) gets them, including tables
added later, with no list to keep. A change is a change of content: the columns the sync keeps for itself
(which sweep saw a row, stored bytes' hash) are left out, so a night in which nothing changed writes nothing.

Times are the wall-clock time of the write, in UTC, in the same format as every other time the sync writes;
as-of asks "what did the store hold at that moment", so a time between two nights gives the earlier night's
state. run_id is the run that wrote the span, or later stored or refused its bytes (KEPT columns: no new
state, but incremental exports must pass them on); the latest run in sync_runs; NULL for rows stored before
history was kept, whose valid_from is '' (since before history began)).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import orjson

from .store import BOOKKEEPING_COLUMNS
from .times import stamp

HISTORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
    table_name TEXT NOT NULL, id TEXT NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT, row TEXT, run_id INTEGER);
CREATE UNIQUE INDEX IF NOT EXISTS idx_history_span ON history(table_name, id, valid_from);
CREATE INDEX IF NOT EXISTS idx_history_run ON history(run_id) WHERE valid_to IS NULL;
"""
NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
RUN = "(SELECT MAX(id) FROM sync_runs)"
# Bookkeeping facts about a row's stored bytes, kept in its past states: an old version's sha256 names its
# bytes in the attachments folder. The rest of the bookkeeping (which sweep saw a row, ...) is left out.
KEPT = {"sha256", "sha256_version", "download_refused"}
TRIGGER_PREFIX = "history_"


def left_out() -> set[str]:
    """Columns a state does not show: bookkeeping that changes without the row changing."""
    return BOOKKEEPING_COLUMNS - KEPT


SEPARATOR = "/"  # between the parts of a key of several columns: a label pair's id is content_id/label_id


def key_sql(keys: tuple[str, ...], prefix: str = "") -> str:
    """The SQL expression of a row's id in history: its key column, or its key columns joined by SEPARATOR
    (a page's label pair: 123/456; a page version: 123/7). `prefix` is OLD. or NEW. in a trigger."""
    return f" || '{SEPARATOR}' || ".join(f"{prefix}[{k}]" for k in keys)


def tracked_tables(conn: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    """Tables with a primary key, and its columns (`id`; `account_id`; `content_id, label_id`): the content,
    whatever tables later versions add. A key of several columns is kept as one id, its parts joined."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%' "
            "AND name NOT LIKE 'sync\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "AND name != 'history' ORDER BY name"
        )
    ]
    virtual = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL%'")]
    tables = {}
    for name in names:
        if any(name.startswith(v + "_") for v in virtual):
            continue  # a full-text index's shadow table
        keys = tuple(r[1] for r in sorted(conn.execute(f"PRAGMA table_info([{name}])"), key=lambda r: r[5]) if r[5])
        if keys:
            tables[name] = keys
    return tables


def wanted(conn: sqlite3.Connection) -> dict[str, str]:
    """The triggers the current schema calls for: name -> CREATE statement."""
    found = {}
    for table, keys in tracked_tables(conn).items():
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
        found.update(triggers(table, keys, columns))
    return found


def present(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(
        conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'history\\_%' ESCAPE '\\'"
        ).fetchall()
    )


def up_to_date(conn: sqlite3.Connection) -> bool:
    """Whether history is kept as the schema calls for already: then opening the store writes nothing (and
    does not wait for a sync that holds the write lock)."""
    has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'history'").fetchone()
    return bool(has_table) and present(conn) == wanted(conn)


def install(conn: sqlite3.Connection) -> None:
    """(Re)create the history table's triggers from the current schema; call inside a transaction."""
    for statement in HISTORY_SCHEMA.strip().split(";\n"):
        conn.execute(statement)
    have = present(conn)
    for table, keys in tracked_tables(conn).items():
        if f"{TRIGGER_PREFIX}{table}_insert" not in have:
            # rows stored before history was kept: their current span starts "since before history"
            key = key_sql(keys)
            conn.execute(
                f"INSERT OR IGNORE INTO history(table_name, id, valid_from) SELECT ?, {key}, '' FROM [{table}] "
                f"WHERE {key} NOT IN (SELECT id FROM history WHERE table_name = ? AND valid_to IS NULL)",
                (table, table),
            )
    want = wanted(conn)
    for name, sql in have.items():
        if want.get(name) != sql:  # a table gone, or its columns changed
            conn.execute(f"DROP TRIGGER [{name}]")
    for name, sql in want.items():
        if have.get(name) != sql:
            conn.execute(sql)


def triggers(table: str, keys: tuple[str, ...], columns: list[str]) -> dict[str, str]:
    """A change of any content column (not bookkeeping) closes the row's current span with a copy of the row
    as it was, and opens a new one; a change of a KEPT column alone marks the current span as this run's."""
    old, new = key_sql(keys, "OLD."), key_sql(keys, "NEW.")
    content = [c for c in columns if c not in keys and c not in BOOKKEEPING_COLUMNS]
    copied = ", ".join(f"'{c}', OLD.[{c}]" for c in columns if c not in left_out())
    changed = " OR ".join(f"OLD.[{c}] IS NOT NEW.[{c}]" for c in content) or "0"
    name = f"{TRIGGER_PREFIX}{table}"
    close = (
        f"UPDATE history SET valid_to = {NOW}, row = json_object({copied}) "
        f"WHERE table_name = '{table}' AND id = {old} AND valid_to IS NULL;"
    )
    # a state that lasted no time (two changes in one millisecond) is not a past state
    instant = f"DELETE FROM history WHERE table_name = '{table}' AND id = {old} AND valid_from = valid_to;"
    open_span = (
        f"INSERT OR REPLACE INTO history(table_name, id, valid_from, run_id) VALUES ('{table}', {new}, {NOW}, {RUN});"
    )
    made = {
        f"{name}_insert": f"CREATE TRIGGER [{name}_insert] AFTER INSERT ON [{table}] BEGIN {open_span} END",
        f"{name}_update": f"CREATE TRIGGER [{name}_update] AFTER UPDATE ON [{table}] WHEN {changed} "
        f"BEGIN {close} {instant} {open_span} END",
        f"{name}_delete": f"CREATE TRIGGER [{name}_delete] AFTER DELETE ON [{table}] BEGIN {close} {instant} END",
    }
    kept = [c for c in columns if c in KEPT]
    if kept:
        # bytes stored or refused a run later are no new state, but an incremental export (which takes the rows
        # whose current span a later run wrote) must pass them on: the current span is marked as this run's
        moved = " OR ".join(f"OLD.[{c}] IS NOT NEW.[{c}]" for c in kept)
        made[f"{name}_kept"] = (
            f"CREATE TRIGGER [{name}_kept] AFTER UPDATE ON [{table}] WHEN ({moved}) AND NOT ({changed}) "
            f"BEGIN UPDATE history SET run_id = {RUN} WHERE table_name = '{table}' AND id = {new} "
            "AND valid_to IS NULL; END"
        )
    return made


# -- reading -----------------------------------------------------------------------------------------
KINDS = {  # what `show` calls things, and the table each lives in
    "space": "confluence_spaces",
    "page": "confluence_pages",
    "blogpost": "confluence_blogposts",
    "comment": "confluence_comments",
    "attachment": "confluence_attachments",
    "project": "jira_projects",
    "issue": "jira_issues",
    "jira-comment": "jira_comments",
    "jira-attachment": "jira_attachments",
}
KEYS = {"jira_issues": "key", "jira_projects": "key", "confluence_spaces": "key"}  # also found by these


@dataclass(frozen=True)
class State:
    """A row as the store held it during [valid_from, valid_to); valid_to None: it still holds it."""

    table: str
    id: str
    row: dict[str, Any]
    valid_from: str
    valid_to: str | None
    run_id: int | None

    @property
    def deleted(self) -> bool:
        return bool(self.row.get("deleted_at"))


def parse_when(text: str) -> str:
    """A time as the store writes them (UTC, milliseconds, Z). A date alone means the end of that day (UTC),
    so `--as-of 2026-11-24` is the state after that day's nightly run; a time without a zone is UTC."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            moment = datetime.combine(date.fromisoformat(text), time(23, 59, 59, 999000), UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        raise ValueError(f"{text!r} is not a date or time: use 2026-11-24 or 2026-11-24T09:30:00Z") from None
    return stamp(moment)


def resolve(conn: sqlite3.Connection, table: str, ident: str) -> str | None:
    """The id of `ident` in `table`: an id, or a key (OPS-42), also one an issue had before it moved."""
    if conn.execute(f"SELECT 1 FROM [{table}] WHERE {key_of(conn, table)} = ?", (ident,)).fetchone():
        return ident
    key = KEYS.get(table)
    if key is None:
        return ident if has_history(conn, table, ident) else None
    found = conn.execute(f"SELECT {key_of(conn, table)} FROM [{table}] WHERE [{key}] = ?", (ident,)).fetchone()
    if found is None:
        found = conn.execute(
            f"SELECT id FROM history WHERE table_name = ? AND json_extract(row, '$.{key}') = ? LIMIT 1",
            (table, ident),
        ).fetchone()
    return found[0] if found else (ident if has_history(conn, table, ident) else None)


def key_of(conn: sqlite3.Connection, table: str) -> str:
    """The SQL expression of a row's id in history (see key_sql)."""
    keys = tuple(r[1] for r in sorted(conn.execute(f"PRAGMA table_info([{table}])"), key=lambda r: r[5]) if r[5])
    return key_sql(keys or ("id",))


def has_history(conn: sqlite3.Connection, table: str, row_id: str) -> bool:
    return conn.execute("SELECT 1 FROM history WHERE table_name = ? AND id = ?", (table, row_id)).fetchone() is not None


def state_at(conn: sqlite3.Connection, table: str, row_id: str, when: str | None = None) -> State | None:
    """The row as the store held it at `when` (a time from parse_when; None: now), or None if it held none."""
    if when is None:
        sql = (
            "SELECT valid_from, valid_to, row, run_id FROM history WHERE table_name = ? AND id = ? AND valid_to IS NULL"
        )
        span = conn.execute(sql, (table, row_id)).fetchone()
    else:
        span = conn.execute(
            "SELECT valid_from, valid_to, row, run_id FROM history WHERE table_name = ? AND id = ? "
            "AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?) ORDER BY valid_from DESC LIMIT 1",
            (table, row_id, when, when),
        ).fetchone()
    if span is None:
        return None
    valid_from, valid_to, copy, run_id = span
    row = orjson.loads(copy) if copy is not None else live_row(conn, table, row_id)
    if row is None:
        return None
    return State(table, row_id, row, valid_from, valid_to, run_id)


def live_row(conn: sqlite3.Connection, table: str, row_id: str) -> dict[str, Any] | None:
    cursor = conn.execute(f"SELECT * FROM [{table}] WHERE {key_of(conn, table)} = ?", (row_id,))
    found = cursor.fetchone()
    if found is None:
        return None
    return {d[0]: v for d, v in zip(cursor.description, found, strict=True) if d[0] not in left_out()}


def versions(conn: sqlite3.Connection, table: str, row_id: str) -> list[State]:
    """Every state the store held of one row, oldest first."""
    spans = conn.execute(
        "SELECT valid_from FROM history WHERE table_name = ? AND id = ? ORDER BY valid_from", (table, row_id)
    ).fetchall()
    found = []
    for (valid_from,) in spans:
        sql = "SELECT valid_from, valid_to, row, run_id FROM history WHERE table_name = ? AND id = ? AND valid_from = ?"
        start, end, copy, run_id = conn.execute(sql, (table, row_id, valid_from)).fetchone()
        row = orjson.loads(copy) if copy is not None else live_row(conn, table, row_id)
        if row is not None:
            found.append(State(table, row_id, row, start, end, run_id))
    return found


LABELLED = {"confluence_pages", "confluence_blogposts", "confluence_attachments", "confluence_spaces"}


def labels_at(conn: sqlite3.Connection, content_id: str, when: str | None = None) -> list[str]:
    """The names of the labels `content_id` had at `when` (None: now), from the label pairs' history (ids
    content_id/label_id, so a range of the history index finds them), named as each label was then."""
    prefix = content_id + SEPARATOR
    held = "valid_to IS NULL" if when is None else "valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"
    spans = conn.execute(
        f"SELECT id FROM history WHERE table_name = 'confluence_content_labels' AND id > ? AND id < ? AND {held}",
        (prefix, content_id + chr(ord(SEPARATOR) + 1), *(() if when is None else (when, when))),
    )
    names = []
    for (pair,) in spans.fetchall():
        label_id = pair[len(prefix) :]
        label = state_at(conn, "confluence_labels", label_id, when) or state_at(conn, "confluence_labels", label_id)
        names.append(str(label.row.get("name") or label_id) if label else label_id)
    return sorted(names)


# -- showing -----------------------------------------------------------------------------------------
TEXT_COLUMNS = ("body_text", "description_text")  # the readable body, where a table has one
LONG = {"raw", "fields", "body_storage", "body", *TEXT_COLUMNS}  # shown as text below, or not at all
WIDTH = 200
ISSUE_FIELDS = ("priority", "assignee", "reporter", "labels")


def describe(state: State) -> list[str]:
    """A state as lines a person reads: when it held, the headline columns, the body text."""
    row = state.row
    until = state.valid_to or "now"
    since = state.valid_from or "before history was kept"
    out = [f"{state.table} {state.id}: held from {since} until {until}" + (" (DELETED)" if state.deleted else "")]
    out += [f"  {c}: {str(v)[:WIDTH]}" for c, v in row.items() if c not in LONG and v not in (None, "")]
    if state.table == "jira_issues" and row.get("fields"):
        fields = orjson.loads(row["fields"])
        for name in ISSUE_FIELDS:
            value = fields.get(name)
            if isinstance(value, dict):
                value = value.get("displayName") or value.get("name") or value.get("value")
            if value not in (None, "", []):
                out.append(f"  {name}: {value}")
    text = next((row[c] for c in TEXT_COLUMNS if row.get(c)), None)
    if text:
        out += ["", *text.splitlines()]
    return out
