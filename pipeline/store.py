"""The SQLite store: schema, the single writer, checkpoints, run history, and a lock.

One connection writes (from one worker thread, so the event loop keeps fetching meanwhile). Each batch
of rows and the checkpoint that covers it commit in one transaction, in WAL mode: a crash at any
moment leaves either both or neither. A lock file keeps a second sync off the same database.

Schema versions. `PRAGMA user_version` holds how many steps of MIGRATIONS a database has been through.
`open()` runs the steps it has not had, in order, each in one transaction with its version bump, so an
upgrade that fails or is killed leaves the database at the version before. A database whose version is
higher than this code knows (written by a newer release) is refused, untouched.

To change the schema, append a step: a function `def _vN_what_it_does(conn)` that creates or alters what
it needs (`add_columns` and `run_script` help) and fills in what rows stored before it need (a backfill,
as `_v3_plain_text` does), then add it at the end of MIGRATIONS. Never edit, reorder or remove a step that
has shipped: databases in the field have run it already (tests/data/schema-v5.sql pins what steps 1-5
make), and a fresh database runs every step, so the last step's result is the schema. Databases from
before versions were recorded (user_version 0, tables present) also run every step, which is why steps
1-5 tolerate what is already there. Views are derived: they are dropped before pending steps run and
rebuilt from VIEWS on any open that finds them different, so editing a view needs no step. `_upsert`
refuses a row with a column its table lacks (UnknownColumn): add the column by a step.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from .errors import ConfigError, DiskFull
from .text import from_adf, from_storage

# The first release's tables (step 1). Frozen: a later change is a new step, never an edit here.
SCHEMA = """
CREATE TABLE IF NOT EXISTS confluence_spaces (
    id TEXT PRIMARY KEY, key TEXT, name TEXT, type TEXT, status TEXT, homepage_id TEXT, created_at TEXT,
    raw TEXT, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS confluence_pages (
    id TEXT PRIMARY KEY, space_id TEXT REFERENCES confluence_spaces(id), parent_id TEXT, title TEXT, status TEXT,
    version INTEGER, created_at TEXT, updated_at TEXT, author_id TEXT, body_storage TEXT, raw TEXT, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS confluence_blogposts (
    id TEXT PRIMARY KEY, space_id TEXT REFERENCES confluence_spaces(id), title TEXT, status TEXT, version INTEGER,
    created_at TEXT, updated_at TEXT, author_id TEXT, body_storage TEXT, raw TEXT, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS confluence_comments (
    id TEXT PRIMARY KEY, container_id TEXT, container_type TEXT, parent_comment_id TEXT, kind TEXT, status TEXT,
    version INTEGER, updated_at TEXT, author_id TEXT, body_storage TEXT, raw TEXT, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS confluence_attachments (
    id TEXT PRIMARY KEY, container_id TEXT, container_type TEXT, title TEXT, media_type TEXT, file_size INTEGER,
    version INTEGER, created_at TEXT, file_id TEXT, sha256 TEXT, sha256_version INTEGER, raw TEXT, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS confluence_labels (id TEXT PRIMARY KEY, name TEXT, prefix TEXT, raw TEXT);
CREATE TABLE IF NOT EXISTS confluence_content_labels (
    content_id TEXT, label_id TEXT REFERENCES confluence_labels(id), content_type TEXT,
    PRIMARY KEY (content_id, label_id));
CREATE TABLE IF NOT EXISTS jira_projects (
    id TEXT PRIMARY KEY, key TEXT, name TEXT, project_type TEXT, raw TEXT, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_fields (id TEXT PRIMARY KEY, name TEXT, custom INTEGER, raw TEXT);
CREATE TABLE IF NOT EXISTS jira_issues (
    id TEXT PRIMARY KEY, key TEXT, project_id TEXT REFERENCES jira_projects(id), summary TEXT, status TEXT,
    issue_type TEXT, created TEXT, updated TEXT, fields TEXT, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_comments (
    id TEXT PRIMARY KEY, issue_id TEXT REFERENCES jira_issues(id), author_id TEXT, created TEXT, updated TEXT,
    body TEXT, raw TEXT, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_attachments (
    id TEXT PRIMARY KEY, issue_id TEXT REFERENCES jira_issues(id), filename TEXT, mime_type TEXT, size INTEGER,
    created TEXT, sha256 TEXT, raw TEXT, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_worklogs (
    id TEXT PRIMARY KEY, issue_id TEXT REFERENCES jira_issues(id), started TEXT, time_spent_seconds INTEGER,
    updated TEXT, raw TEXT, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_changelogs (
    id TEXT PRIMARY KEY, issue_id TEXT REFERENCES jira_issues(id), created TEXT, raw TEXT);
CREATE TABLE IF NOT EXISTS sync_state (stream TEXT PRIMARY KEY, value TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS sync_runs (
    id INTEGER PRIMARY KEY, started_at TEXT, finished_at TEXT, status TEXT, requests INTEGER DEFAULT 0,
    retries INTEGER DEFAULT 0, rate_limited INTEGER DEFAULT 0, rows_written INTEGER DEFAULT 0,
    bytes_downloaded INTEGER DEFAULT 0, downloads INTEGER DEFAULT 0, errors TEXT, counts TEXT, options TEXT);
CREATE INDEX IF NOT EXISTS idx_pages_space ON confluence_pages(space_id);
CREATE INDEX IF NOT EXISTS idx_pages_parent ON confluence_pages(parent_id);
CREATE INDEX IF NOT EXISTS idx_blogposts_space ON confluence_blogposts(space_id);
CREATE INDEX IF NOT EXISTS idx_comments_container ON confluence_comments(container_id);
CREATE INDEX IF NOT EXISTS idx_attachments_container ON confluence_attachments(container_id);
CREATE INDEX IF NOT EXISTS idx_attachments_sha ON confluence_attachments(sha256);
CREATE INDEX IF NOT EXISTS idx_issues_project ON jira_issues(project_id);
CREATE INDEX IF NOT EXISTS idx_issues_updated ON jira_issues(updated);
CREATE INDEX IF NOT EXISTS idx_jira_comments_issue ON jira_comments(issue_id);
CREATE INDEX IF NOT EXISTS idx_jira_attachments_issue ON jira_attachments(issue_id);
CREATE INDEX IF NOT EXISTS idx_jira_worklogs_issue ON jira_worklogs(issue_id);
CREATE INDEX IF NOT EXISTS idx_jira_changelogs_issue ON jira_changelogs(issue_id);
"""
# Columns the sync keeps for itself: which sweep last saw a row (deletions), which sweep fetched an issue
# (resume), which version's labels are stored (step 2).
BOOKKEEPING = {
    "confluence_spaces": ("seen_sweep INTEGER",),
    "confluence_pages": ("seen_sweep INTEGER", "labels_version INTEGER"),
    "confluence_blogposts": ("seen_sweep INTEGER", "labels_version INTEGER"),
    "confluence_comments": ("seen_sweep INTEGER",),
    "confluence_attachments": ("seen_sweep INTEGER",),
    "jira_projects": ("seen_sweep INTEGER",),
    "jira_issues": ("seen_sweep INTEGER", "fetched_sweep INTEGER"),
    "jira_comments": ("seen_sweep INTEGER",),
    "jira_attachments": ("seen_sweep INTEGER",),
    "jira_worklogs": ("seen_sweep INTEGER",),
}
# Plain text for search and reading, from the stored bodies (step 3).
PLAIN_TEXT = {
    "confluence_pages": ("body_text TEXT",),
    "confluence_blogposts": ("body_text TEXT",),
    "confluence_comments": ("body_text TEXT",),
    "jira_issues": ("description_text TEXT",),
    "jira_comments": ("body_text TEXT",),
}
SEARCH = {  # full-text search, kept current by triggers
    "confluence_pages": ["title", "body_text"],
    "confluence_blogposts": ["title", "body_text"],
    "confluence_comments": ["body_text"],
    "jira_issues": ["key", "summary", "description_text"],
    "jira_comments": ["body_text"],
}
VIEWS = """
CREATE VIEW IF NOT EXISTS confluence_pages_view AS
SELECT p.id, s.key AS space_key, s.name AS space_name, p.title, parent.title AS parent_title, p.status, p.version,
       p.created_at, p.updated_at, p.author_id, u.display_name AS author, p.body_text, p.deleted_at
FROM confluence_pages p LEFT JOIN confluence_spaces s ON s.id = p.space_id
LEFT JOIN confluence_pages parent ON parent.id = p.parent_id
LEFT JOIN confluence_users u ON u.account_id = p.author_id;
CREATE VIEW IF NOT EXISTS confluence_blogposts_view AS
SELECT b.id, s.key AS space_key, s.name AS space_name, b.title, b.status, b.version, b.created_at, b.updated_at,
       b.author_id, u.display_name AS author, b.body_text, b.deleted_at
FROM confluence_blogposts b LEFT JOIN confluence_spaces s ON s.id = b.space_id
LEFT JOIN confluence_users u ON u.account_id = b.author_id;
CREATE VIEW IF NOT EXISTS confluence_comments_view AS
SELECT c.id, c.kind, COALESCE(p.title, b.title) AS container_title, s.key AS space_key, c.parent_comment_id,
       c.version, c.updated_at, c.author_id, u.display_name AS author, c.body_text, c.deleted_at
FROM confluence_comments c LEFT JOIN confluence_pages p ON p.id = c.container_id
LEFT JOIN confluence_blogposts b ON b.id = c.container_id
LEFT JOIN confluence_spaces s ON s.id = COALESCE(p.space_id, b.space_id)
LEFT JOIN confluence_users u ON u.account_id = c.author_id;
CREATE VIEW IF NOT EXISTS confluence_attachments_view AS
SELECT a.id, a.title, a.media_type, a.file_size, a.version, COALESCE(p.title, b.title) AS container_title,
       s.key AS space_key, a.sha256, substr(a.sha256, 1, 2) || '/' || a.sha256 AS blob_path, a.deleted_at
FROM confluence_attachments a LEFT JOIN confluence_pages p ON p.id = a.container_id
LEFT JOIN confluence_blogposts b ON b.id = a.container_id
LEFT JOIN confluence_spaces s ON s.id = COALESCE(p.space_id, b.space_id);
CREATE VIEW IF NOT EXISTS confluence_tasks_view AS
SELECT t.id, s.key AS space_key, COALESCE(p.title, b.title) AS container_title, t.container_type, t.status,
       t.created_at, t.due_at, t.completed_at, assignee.display_name AS assignee, creator.display_name AS creator,
       t.body_storage, t.deleted_at
FROM confluence_tasks t LEFT JOIN confluence_spaces s ON s.id = t.space_id
LEFT JOIN confluence_pages p ON p.id = t.container_id LEFT JOIN confluence_blogposts b ON b.id = t.container_id
LEFT JOIN confluence_users assignee ON assignee.account_id = t.assigned_to
LEFT JOIN confluence_users creator ON creator.account_id = t.created_by;
CREATE VIEW IF NOT EXISTS confluence_versions_view AS
SELECT v.container_id, v.container_type, COALESCE(p.title, b.title) AS title, v.number, v.created_at,
       u.display_name AS author, v.message, v.minor_edit, v.body_storage IS NOT NULL AS has_body
FROM confluence_versions v LEFT JOIN confluence_pages p ON p.id = v.container_id
LEFT JOIN confluence_blogposts b ON b.id = v.container_id LEFT JOIN confluence_users u ON u.account_id = v.author_id;
CREATE VIEW IF NOT EXISTS confluence_tree AS
WITH RECURSIVE node(id, type, title, space_id, parent_id, parent_type) AS (
    SELECT id, 'page', title, space_id, parent_id,
           COALESCE(parent_type, json_extract(raw, '$.parentType'), CASE WHEN parent_id IS NOT NULL THEN 'page' END)
    FROM confluence_pages WHERE deleted_at IS NULL
    UNION ALL SELECT id, 'folder', title, space_id, parent_id, parent_type
    FROM confluence_folders WHERE deleted_at IS NULL
    UNION ALL SELECT id, 'whiteboard', title, space_id, parent_id, parent_type
    FROM confluence_whiteboards WHERE deleted_at IS NULL
    UNION ALL SELECT id, 'database', title, space_id, parent_id, parent_type
    FROM confluence_databases WHERE deleted_at IS NULL
    UNION ALL SELECT id, 'embed', title, space_id, parent_id, parent_type
    FROM confluence_embeds WHERE deleted_at IS NULL),
linked(id, type, title, space_id, parent_id, parent_type) AS (  -- a parent outside the store counts as the root
    SELECT n.id, n.type, n.title, n.space_id, p.id, CASE WHEN p.id IS NOT NULL THEN n.parent_type END
    FROM node n LEFT JOIN node p ON p.id = n.parent_id),
walk(id, type, title, space_id, parent_id, parent_type, depth, path, trail) AS (
    SELECT id, type, title, space_id, parent_id, parent_type, 0, title, '/' || id || '/' FROM linked
    WHERE parent_id IS NULL
    UNION ALL
    SELECT c.id, c.type, c.title, c.space_id, c.parent_id, c.parent_type, w.depth + 1, w.path || ' / ' || c.title,
           w.trail || c.id || '/'
    FROM linked c JOIN walk w ON c.parent_id = w.id WHERE instr(w.trail, '/' || c.id || '/') = 0)
SELECT id, type, title, space_id, parent_id, parent_type, depth, path FROM walk;
CREATE VIEW IF NOT EXISTS jira_issues_view AS
SELECT i.id, i.key, pr.key AS project_key, pr.name AS project_name, i.summary,
       COALESCE(st.name, i.status) AS status, st.category_key AS status_category,
       COALESCE(ty.name, i.issue_type) AS issue_type,
       COALESCE(pri.name, json_extract(i.fields, '$.priority.name')) AS priority,
       COALESCE(res.name, json_extract(i.fields, '$.resolution.name')) AS resolution,
       COALESCE(a.display_name, json_extract(i.fields, '$.assignee.displayName')) AS assignee,
       COALESCE(r.display_name, json_extract(i.fields, '$.reporter.displayName')) AS reporter,
       (SELECT s.name FROM jira_issue_sprints x JOIN jira_sprints s ON s.id = x.sprint_id
        WHERE x.issue_id = i.id AND x.deleted_at IS NULL
        ORDER BY COALESCE(s.start_date, '9999') DESC, CAST(s.id AS INTEGER) DESC LIMIT 1) AS sprint,
       (SELECT group_concat(COALESCE(v.name, json_extract(f.value, '$.name')), ', ')
        FROM json_each(i.fields, '$.fixVersions') f LEFT JOIN jira_versions v ON v.id = json_extract(f.value, '$.id'))
        AS fix_versions,
       json_extract(i.fields, '$.assignee.accountId') AS assignee_id,
       json_extract(i.fields, '$.reporter.accountId') AS reporter_id,
       i.created, i.updated, json_extract(i.fields, '$.resolutiondate') AS resolved, i.description_text, i.deleted_at
FROM jira_issues i LEFT JOIN jira_projects pr ON pr.id = i.project_id
LEFT JOIN jira_statuses st ON st.id = json_extract(i.fields, '$.status.id')
LEFT JOIN jira_issue_types ty ON ty.id = json_extract(i.fields, '$.issuetype.id')
LEFT JOIN jira_priorities pri ON pri.id = json_extract(i.fields, '$.priority.id')
LEFT JOIN jira_resolutions res ON res.id = json_extract(i.fields, '$.resolution.id')
LEFT JOIN jira_users a ON a.id = json_extract(i.fields, '$.assignee.accountId')
LEFT JOIN jira_users r ON r.id = json_extract(i.fields, '$.reporter.accountId');
CREATE VIEW IF NOT EXISTS jira_issue_status_durations AS
WITH changes AS (
    SELECT issue_id, changelog_id, changed_at, from_value, from_string, to_value, to_string,
           ROW_NUMBER() OVER (PARTITION BY issue_id ORDER BY changed_at, CAST(changelog_id AS INTEGER)) AS n
    FROM jira_issue_field_history WHERE field_id = 'status'),
spans AS (
    SELECT issue_id, to_value AS status_id, to_string AS status, changed_at AS entered_at,
           LEAD(changed_at) OVER (PARTITION BY issue_id ORDER BY n) AS left_at
    FROM changes
    UNION ALL  -- the status an issue was created in, until its first change
    SELECT c.issue_id, c.from_value, c.from_string, i.created, c.changed_at
    FROM changes c JOIN jira_issues i ON i.id = c.issue_id WHERE c.n = 1
    UNION ALL  -- issues that never changed status: in it since they were created
    SELECT i.id, json_extract(i.fields, '$.status.id'), i.status, i.created, NULL
    FROM jira_issues i WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.issue_id = i.id))
SELECT s.issue_id, i.key AS issue_key, s.status_id, s.status, COUNT(*) AS times_entered,
       MIN(s.entered_at) AS first_entered_at, MAX(s.left_at IS NULL) AS is_current,
       ROUND(SUM(julianday(COALESCE(s.left_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - julianday(s.entered_at))
             * 86400) AS seconds
FROM spans s JOIN jira_issues i ON i.id = s.issue_id
WHERE i.deleted_at IS NULL
GROUP BY s.issue_id, s.status_id, s.status;
CREATE VIEW IF NOT EXISTS jira_comments_view AS
SELECT c.id, i.key AS issue_key, pr.key AS project_key, json_extract(c.raw, '$.author.displayName') AS author,
       c.created, c.updated, c.body_text, c.deleted_at
FROM jira_comments c LEFT JOIN jira_issues i ON i.id = c.issue_id LEFT JOIN jira_projects pr ON pr.id = i.project_id;
CREATE VIEW IF NOT EXISTS jira_attachments_view AS
SELECT a.id, i.key AS issue_key, pr.key AS project_key, a.filename, a.mime_type, a.size, a.created, a.sha256,
       substr(a.sha256, 1, 2) || '/' || a.sha256 AS blob_path, a.deleted_at
FROM jira_attachments a LEFT JOIN jira_issues i ON i.id = a.issue_id LEFT JOIN jira_projects pr ON pr.id = i.project_id;
"""
BOOKKEEPING_COLUMNS = {
    "seen_sweep",
    "fetched_sweep",
    "labels_version",
    "sha256",
    "sha256_version",
    "download_refused",
    "listed_modified",
    "history_version",
    "tasks_version",
    "properties_version",
    "refreshed_at",  # when a person's name was last asked for (people.py): a refresh is no change of the person
}
# tables whose rows are keyed by something other than `id`: the upsert's conflict target
CONFLICT_KEYS = {"confluence_versions": "container_id, number", "confluence_users": "account_id"}
CONTENT_TABLES = (
    "confluence_spaces",
    "confluence_pages",
    "confluence_blogposts",
    "confluence_comments",
    "confluence_attachments",
    "jira_projects",
    "jira_issues",
    "jira_comments",
    "jira_attachments",
    "jira_worklogs",
    "jira_statuses",
    "jira_priorities",
    "jira_resolutions",
    "jira_issue_types",
    "jira_issue_link_types",
    "jira_versions",
    "jira_components",
    "jira_issue_links",
    "jira_boards",
    "jira_sprints",
    "jira_issue_sprints",
)


def statements(script: str) -> Iterator[str]:
    """The complete SQL statements of a script, one at a time."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement.strip()
            statement = ""
    if statement.strip():
        raise ValueError(f"an incomplete SQL statement: {statement.strip()[:80]}")


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run statements one by one: unlike executescript, this stays inside the caller's transaction."""
    for statement in statements(script):
        conn.execute(statement)


def wanted_views() -> dict[str, str]:
    """VIEWS as sqlite_master keeps them (without IF NOT EXISTS and the semicolon), by name."""
    views = {}
    for statement in statements(VIEWS):
        sql = statement.rstrip(";").replace("CREATE VIEW IF NOT EXISTS ", "CREATE VIEW ", 1)
        views[sql.split()[2]] = sql
    return views


def add_columns(conn: sqlite3.Connection, table: str, *columns: str) -> None:
    """ALTER TABLE ADD COLUMN for each `name TYPE` the table does not have yet."""
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    for column in columns:
        if column.split()[0] not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def _v1_tables(conn: sqlite3.Connection) -> None:
    run_script(conn, SCHEMA)


def _v2_sweep_columns(conn: sqlite3.Connection) -> None:
    for table, columns in BOOKKEEPING.items():
        add_columns(conn, table, *columns)


def _v3_plain_text(conn: sqlite3.Connection) -> None:
    """Plain-text columns, filled in for rows stored before they existed (a sync rewrites only what changed)."""
    for table, columns in PLAIN_TEXT.items():
        add_columns(conn, table, *columns)
    conn.create_function("plain_from_storage", 1, from_storage, deterministic=True)
    conn.create_function("plain_from_adf", 1, from_adf, deterministic=True)
    for table in ("confluence_pages", "confluence_blogposts", "confluence_comments"):
        conn.execute(
            f"UPDATE {table} SET body_text = plain_from_storage(body_storage) "
            "WHERE body_text IS NULL AND body_storage IS NOT NULL"
        )
    conn.execute(
        "UPDATE jira_issues SET description_text = plain_from_adf(json_extract(fields, '$.description')) "
        "WHERE description_text IS NULL AND json_extract(fields, '$.description') IS NOT NULL"
    )
    conn.execute(
        "UPDATE jira_comments SET body_text = plain_from_adf(body) WHERE body_text IS NULL AND body IS NOT NULL"
    )


def _v4_full_text_search(conn: sqlite3.Connection) -> None:
    """FTS5 tables over SEARCH, filled from what is stored and kept current by triggers (as sqlite-utils makes
    them, so Datasette finds them); databases that got them before versions existed keep theirs."""
    for table, columns in SEARCH.items():
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (f"{table}_fts",)).fetchone():
            continue
        cols = ", ".join(f"[{c}]" for c in columns)
        old = ", ".join(f"old.[{c}]" for c in columns)
        new = ", ".join(f"new.[{c}]" for c in columns)
        fts = f"[{table}_fts]"
        run_script(
            conn,
            f"""
CREATE VIRTUAL TABLE {fts} USING FTS5 ({cols}, tokenize='porter', content=[{table}]);
INSERT INTO {fts} (rowid, {cols}) SELECT rowid, {cols} FROM [{table}];
CREATE TRIGGER [{table}_ai] AFTER INSERT ON [{table}] BEGIN
  INSERT INTO {fts} (rowid, {cols}) VALUES (new.rowid, {new});
END;
CREATE TRIGGER [{table}_ad] AFTER DELETE ON [{table}] BEGIN
  INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES('delete', old.rowid, {old});
END;
CREATE TRIGGER [{table}_au] AFTER UPDATE ON [{table}] BEGIN
  INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES('delete', old.rowid, {old});
  INSERT INTO {fts} (rowid, {cols}) VALUES (new.rowid, {new});
END;
""",
        )


def _v5_debts(conn: sqlite3.Connection) -> None:
    """Parts that failed and are owed (store.Debt), and why an attachment's bytes were refused for good (403:
    the row stays, sha256 NULL)."""
    run_script(
        conn,
        """
CREATE TABLE IF NOT EXISTS sync_debts (
    kind TEXT NOT NULL, key TEXT NOT NULL, detail TEXT, first_failed_at TEXT, last_failed_at TEXT,
    attempts INTEGER DEFAULT 1, last_error TEXT, run_id INTEGER, PRIMARY KEY (kind, key));
""",
    )
    add_columns(conn, "confluence_attachments", "download_refused TEXT")
    add_columns(conn, "jira_attachments", "download_refused TEXT")


def _v6_history(conn: sqlite3.Connection) -> None:
    """Every past state of every row (pipeline.history); its triggers follow the schema and are remade on open."""
    from .history import HISTORY_SCHEMA

    run_script(conn, HISTORY_SCHEMA)


TIMED_BEFORE_V7 = {  # the time columns of the tables as they were before one format was kept everywhere
    "confluence_spaces": ("created_at",),
    "confluence_pages": ("created_at", "updated_at"),
    "confluence_blogposts": ("created_at", "updated_at"),
    "confluence_comments": ("updated_at",),
    "confluence_attachments": ("created_at",),
    "jira_issues": ("created", "updated"),
    "jira_comments": ("created", "updated"),
    "jira_attachments": ("created",),
    "jira_worklogs": ("started", "updated"),
    "jira_changelogs": ("created",),
}


def _v7_one_time_format(conn: sqlite3.Connection) -> None:
    """Times stored by older versions as received (Confluence's `...:12Z` without milliseconds, an unreadable
    Jira time kept as text) in the one format `pipeline.times` writes, so that they sort and compare as text;
    what cannot be read becomes NULL (the row's raw JSON keeps it). Unchanged rows are never rewritten by a
    sync, so only this step mends them. A restamp is no change of content: history's triggers are dropped
    for it (the store makes them again on open)."""
    from .times import utc

    conn.create_function("one_time_format", 1, utc, deterministic=True)
    triggers = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'history%'")
    for (name,) in triggers.fetchall():
        conn.execute(f"DROP TRIGGER [{name}]")
    for table, columns in TIMED_BEFORE_V7.items():
        for column in columns:
            conn.execute(
                f"UPDATE {table} SET {column} = one_time_format({column}) "
                f"WHERE {column} IS NOT NULL AND {column} IS NOT one_time_format({column})"
            )


# The whole 2026 Confluence (step 8): the tree's other nodes, versions, tasks, people, properties, permissions,
# restrictions; pages' parent_type; what each container's versions, tasks and properties were last read at.
CONFLUENCE_2026 = """
CREATE TABLE IF NOT EXISTS confluence_folders (
    id TEXT PRIMARY KEY, space_id TEXT, parent_id TEXT, parent_type TEXT, title TEXT, status TEXT, position INTEGER,
    version INTEGER, created_at TEXT, updated_at TEXT, author_id TEXT, owner_id TEXT, raw TEXT, deleted_at TEXT,
    seen_sweep INTEGER, listed_modified TEXT);
CREATE TABLE IF NOT EXISTS confluence_whiteboards (
    id TEXT PRIMARY KEY, space_id TEXT, parent_id TEXT, parent_type TEXT, title TEXT, status TEXT, position INTEGER,
    version INTEGER, created_at TEXT, updated_at TEXT, author_id TEXT, owner_id TEXT, raw TEXT, deleted_at TEXT,
    seen_sweep INTEGER, listed_modified TEXT);
CREATE TABLE IF NOT EXISTS confluence_databases (
    id TEXT PRIMARY KEY, space_id TEXT, parent_id TEXT, parent_type TEXT, title TEXT, status TEXT, position INTEGER,
    version INTEGER, created_at TEXT, updated_at TEXT, author_id TEXT, owner_id TEXT, raw TEXT, deleted_at TEXT,
    seen_sweep INTEGER, listed_modified TEXT);
CREATE TABLE IF NOT EXISTS confluence_embeds (
    id TEXT PRIMARY KEY, space_id TEXT, parent_id TEXT, parent_type TEXT, title TEXT, status TEXT, position INTEGER,
    version INTEGER, created_at TEXT, updated_at TEXT, author_id TEXT, owner_id TEXT, raw TEXT, deleted_at TEXT,
    seen_sweep INTEGER, listed_modified TEXT);
CREATE TABLE IF NOT EXISTS confluence_versions (
    container_id TEXT, container_type TEXT, number INTEGER, created_at TEXT, author_id TEXT, message TEXT,
    minor_edit INTEGER, body_storage TEXT, raw TEXT, PRIMARY KEY (container_id, number));
CREATE TABLE IF NOT EXISTS confluence_tasks (
    id TEXT PRIMARY KEY, local_id TEXT, space_id TEXT, container_id TEXT, container_type TEXT, status TEXT,
    created_at TEXT, updated_at TEXT, due_at TEXT, completed_at TEXT, assigned_to TEXT, created_by TEXT,
    completed_by TEXT, body_storage TEXT, raw TEXT, deleted_at TEXT, seen_sweep INTEGER);
CREATE TABLE IF NOT EXISTS confluence_users (
    account_id TEXT PRIMARY KEY, display_name TEXT, account_type TEXT, public_name TEXT, email TEXT,
    account_status TEXT, time_zone TEXT, raw TEXT, refreshed_at TEXT);
CREATE TABLE IF NOT EXISTS confluence_content_properties (
    id TEXT PRIMARY KEY, container_id TEXT, container_type TEXT, key TEXT, value TEXT, version INTEGER, raw TEXT,
    deleted_at TEXT, seen_sweep INTEGER);
CREATE TABLE IF NOT EXISTS confluence_space_permissions (
    id TEXT PRIMARY KEY, space_id TEXT, principal_type TEXT, principal_id TEXT, operation_key TEXT,
    operation_target TEXT, raw TEXT, deleted_at TEXT, seen_sweep INTEGER);
CREATE TABLE IF NOT EXISTS confluence_restrictions (
    id TEXT PRIMARY KEY, container_id TEXT, container_type TEXT, operation TEXT, principal_type TEXT,
    principal_id TEXT, principal_name TEXT, raw TEXT, deleted_at TEXT, seen_sweep INTEGER);
"""


def _v8_confluence_tree_history_people(conn: sqlite3.Connection) -> None:
    run_script(conn, CONFLUENCE_2026)
    add_columns(conn, "confluence_pages", "parent_type TEXT")
    for table in ("confluence_pages", "confluence_blogposts"):
        add_columns(conn, table, "history_version INTEGER", "tasks_version INTEGER", "properties_version INTEGER")
    conn.execute(  # pages stored before: their parent's type is in the API object kept in raw
        "UPDATE confluence_pages SET parent_type = COALESCE(json_extract(raw, '$.parentType'), "
        "CASE WHEN parent_id IS NOT NULL THEN 'page' END) WHERE parent_type IS NULL AND raw IS NOT NULL"
    )


# Jira for analysts (issue 11): people, dimensions, links, field history, boards and sprints (step 9)
JIRA_ANALYTICS = """
CREATE TABLE IF NOT EXISTS jira_users (
    id TEXT PRIMARY KEY, account_id TEXT, display_name TEXT, email_address TEXT,
    active INTEGER, account_type TEXT, time_zone TEXT, raw TEXT);
CREATE TABLE IF NOT EXISTS jira_statuses (
    id TEXT PRIMARY KEY, name TEXT, category_key TEXT, category_name TEXT, raw TEXT, seen_sweep INTEGER,
    deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_priorities (
    id TEXT PRIMARY KEY, name TEXT, raw TEXT, seen_sweep INTEGER, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_resolutions (
    id TEXT PRIMARY KEY, name TEXT, raw TEXT, seen_sweep INTEGER, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_issue_types (
    id TEXT PRIMARY KEY, name TEXT, subtask INTEGER, hierarchy_level INTEGER, raw TEXT, seen_sweep INTEGER,
    deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_issue_link_types (
    id TEXT PRIMARY KEY, name TEXT, inward TEXT, outward TEXT, raw TEXT, seen_sweep INTEGER, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_versions (
    id TEXT PRIMARY KEY, project_id TEXT, name TEXT, released INTEGER, archived INTEGER, release_date TEXT, raw TEXT,
    seen_sweep INTEGER, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_components (
    id TEXT PRIMARY KEY, project_id TEXT, name TEXT, lead_account_id TEXT, raw TEXT, seen_sweep INTEGER,
    deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_issue_links (
    id TEXT PRIMARY KEY, link_type_id TEXT, inward_issue_id TEXT, outward_issue_id TEXT, seen_sweep INTEGER,
    deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_issue_field_history (
    id TEXT PRIMARY KEY, changelog_id TEXT, issue_id TEXT, field_id TEXT, field TEXT, field_type TEXT,
    changed_at TEXT, author_id TEXT, from_value TEXT, from_string TEXT, to_value TEXT, to_string TEXT);
CREATE TABLE IF NOT EXISTS jira_boards (
    id TEXT PRIMARY KEY, name TEXT, type TEXT, project_id TEXT, raw TEXT, seen_sweep INTEGER, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_sprints (
    id TEXT PRIMARY KEY, board_id TEXT, name TEXT, state TEXT, start_date TEXT, end_date TEXT, complete_date TEXT,
    goal TEXT, seen_sweep INTEGER, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS jira_issue_sprints (
    id TEXT PRIMARY KEY, issue_id TEXT, sprint_id TEXT, seen_sweep INTEGER, deleted_at TEXT);
CREATE INDEX IF NOT EXISTS idx_jira_versions_project ON jira_versions(project_id);
CREATE INDEX IF NOT EXISTS idx_jira_components_project ON jira_components(project_id);
CREATE INDEX IF NOT EXISTS idx_jira_links_inward ON jira_issue_links(inward_issue_id);
CREATE INDEX IF NOT EXISTS idx_jira_links_outward ON jira_issue_links(outward_issue_id);
CREATE INDEX IF NOT EXISTS idx_jira_history_issue ON jira_issue_field_history(issue_id, field_id, changed_at);
CREATE INDEX IF NOT EXISTS idx_jira_sprints_board ON jira_sprints(board_id);
CREATE INDEX IF NOT EXISTS idx_jira_issue_sprints_issue ON jira_issue_sprints(issue_id);
CREATE INDEX IF NOT EXISTS idx_jira_issue_sprints_sprint ON jira_issue_sprints(sprint_id);
"""


def _v9_jira_analytics(conn: sqlite3.Connection) -> None:
    """People, dimensions, links, field history, boards and sprints; archived projects; who wrote a worklog or
    a change history, filled in from the raw JSON of rows stored before (a sync rewrites only what changed)."""
    run_script(conn, JIRA_ANALYTICS)
    add_columns(conn, "jira_projects", "archived INTEGER DEFAULT 0")
    add_columns(conn, "jira_worklogs", "author_id TEXT")
    add_columns(conn, "jira_changelogs", "author_id TEXT")
    conn.execute("UPDATE jira_worklogs SET author_id = json_extract(raw, '$.author.accountId') WHERE author_id IS NULL")
    conn.execute(
        "UPDATE jira_changelogs SET author_id = json_extract(raw, '$.author.accountId') WHERE author_id IS NULL"
    )
    # links, sprints and field history come with each issue: the next sync fetches every issue once again
    # (as a project's first run does) rather than fill them only for issues edited from now on
    conn.execute("DELETE FROM sync_state WHERE stream LIKE 'jira:issues:%'")


def _v10_deleted_indexes(conn: sqlite3.Connection) -> None:
    """An index of the deleted rows of every table with deleted_at, for `report`'s "what did the last run
    delete" (deleted_at >= the run's start): partial, so it holds only deleted rows and costs little. A table
    a later step adds with deleted_at makes its own in that step."""
    sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name"
    for (table,) in conn.execute(sql).fetchall():
        if any(r[1] == "deleted_at" for r in conn.execute(f"PRAGMA table_info([{table}])")):
            conn.execute(
                f"CREATE INDEX IF NOT EXISTS [idx_{table}_deleted] ON [{table}](deleted_at) "
                "WHERE deleted_at IS NOT NULL"
            )


def _v11_label_pair_sweeps(conn: sqlite3.Connection) -> None:
    """Which labels-by-label pass saw a label pair: the pass commits as it goes, and deletes at its end the pairs
    it did not see (sources/confluence/labels.py)."""
    add_columns(conn, "confluence_content_labels", "seen_sweep INTEGER")


# The schema's history, oldest first; a database's user_version counts the steps it has run.
# Append new steps at the end (see the module docstring); never edit or reorder shipped ones.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _v1_tables,
    _v2_sweep_columns,
    _v3_plain_text,
    _v4_full_text_search,
    _v5_debts,
    _v6_history,
    _v7_one_time_format,
    _v8_confluence_tree_history_people,
    _v9_jira_analytics,
    _v10_deleted_indexes,
    _v11_label_pair_sweeps,
]


class UnknownColumn(Exception):
    """A row carries a column its table lacks: a bug in this program (a missing migration step), not bad data."""


def is_full(error: BaseException) -> bool:
    """SQLite could not grow the database or its journal: SQLITE_FULL, however it is worded."""
    return isinstance(error, sqlite3.Error) and (
        getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(error)
    )


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class Sweep:
    """The end of a complete listing: live rows in `scope` that sweep `sweep` did not see are gone."""

    table: str
    sweep: int
    scope: str = "1 = 1"  # an SQL condition on the table, with ? placeholders
    params: tuple = ()
    delete: bool = False  # delete what the sweep did not see (a table without deleted_at, e.g. label pairs)


@dataclass(frozen=True)
class Debt:
    """A part that failed and is owed: stored with the progress it interrupts, paid first by the next run, and
    until then named by `report` and keeping the exit status at 2.

    kinds: `jira_issue` (key: issue id; detail: project id), `download` (key: table:id), `stream` (key: the
    listing's name; its cursor or pending mark is the state that resumes it)."""

    kind: str
    key: str
    error: str = ""
    detail: str | None = None


@dataclass
class Batch:
    """Rows for one table and the checkpoints they complete, committed together."""

    table: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, str | None] = field(default_factory=dict)
    update_only: bool = False  # UPDATE existing rows by id (e.g. set sha256) rather than upsert
    touch: list[str] = field(default_factory=list)  # ids listed again unchanged: seen by `sweep`, not deleted
    sweep: int | None = None  # the sweep that saw these rows and touched ids
    close: Sweep | None = None  # applied after the rows: marks what the sweep did not see as deleted
    replace_for: list[str] = field(default_factory=list)  # content ids whose label pairs `rows` replace
    owe: list[Debt] = field(default_factory=list)  # parts that failed, recorded with this batch's progress
    paid: list[tuple[str, str]] = field(default_factory=list)  # (kind, key) of debts this batch settles
    then: list[Batch] = field(default_factory=list)  # more batches that must commit in the same transaction
    done: Any = None  # an anyio.Event the writer sets once this batch is committed (a flush barrier)
    on_commit: Any = None  # called (on the event loop) once this batch is committed
    charged: int = 0  # bytes held in the write gate until this batch is committed


@dataclass
class WriteCounts:
    inserted: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    deleted: Counter = field(default_factory=Counter)
    restored: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, dict[str, int]]:
        tables = set(self.inserted) | set(self.updated) | set(self.deleted) | set(self.restored)
        return {
            t: {
                "inserted": self.inserted[t],
                "updated": self.updated[t],
                "deleted": self.deleted[t],
                "restored": self.restored[t],
            }
            for t in sorted(tables)
            if self.inserted[t] or self.updated[t] or self.deleted[t] or self.restored[t]
        }


def narrow_search_trigger(conn: sqlite3.Connection, table: str, columns: list[str]) -> None:
    """Re-index a row only when an indexed column changes. sqlite-utils' trigger fires on every UPDATE, so
    stamping `seen_sweep` on an unchanged row deleted and re-inserted its text in the index: most of a quiet
    night's CPU, and a third more database. Replaces the wide trigger of an older store (idempotent)."""
    fts = f"{table}_fts"
    cols = ", ".join(f'"{c}"' for c in columns)
    old = ", ".join(f'old."{c}"' for c in columns)
    new = ", ".join(f'new."{c}"' for c in columns)
    wanted = (
        f'CREATE TRIGGER "{table}_au" AFTER UPDATE OF {cols} ON "{table}" BEGIN\n'
        f'  INSERT INTO "{fts}" ("{fts}", rowid, {cols}) VALUES(\'delete\', old.rowid, {old});\n'
        f'  INSERT INTO "{fts}" (rowid, {cols}) VALUES (new.rowid, {new});\nEND'
    )
    found = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (f"{table}_au",))
    if (found.fetchone() or [None])[0] == wanted:
        return
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (fts,)).fetchone():
        return  # no search table (yet): nothing to keep current
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(f'DROP TRIGGER IF EXISTS "{table}_au"')
    conn.execute(wanted)
    conn.execute("COMMIT")


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self.counts = WriteCounts()
        self._lock_handle = None
        self._columns: dict[str, list[str]] = {}
        self.run_id: int | None = None  # the run debts are recorded against

    # -- opening --------------------------------------------------------------------------------
    def open(self) -> Store:
        """Create, upgrade or open the database, refusing early (before any request) if it cannot be used."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._refuse_newer()
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            self._rebuild_views()
            self._keep_history()
            self._narrow_search_triggers()
        except (sqlite3.DatabaseError, OSError) as error:
            self._abandon()
            if is_full(error):
                raise self._full() from None
            unwritable = isinstance(error, OSError) or any(
                s in str(error) for s in ("unable to open", "readonly", "read-only", "disk I/O")
            )
            if unwritable:
                raise ConfigError(
                    f"cannot write the database at {self.path} ({error}): choose a writable path with --db"
                ) from None
            raise ConfigError(
                f"{self.path} is not a database this tool can use ({error}): choose another path with --db"
            ) from None
        except BaseException:
            self._abandon()
            raise
        return self

    def _abandon(self) -> None:
        if self.conn is not None:
            with suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None

    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _refuse_newer(self) -> None:
        if self.version() > len(MIGRATIONS):
            raise ConfigError(
                f"{self.path} was written by a newer version of atlassian-to-sqlite (schema {self.version()}; this "
                f"one knows up to {len(MIGRATIONS)}): upgrade atlassian-to-sqlite, or choose another path with --db"
            )

    def _migrate(self) -> None:
        """Run the steps this database has not had, each committed with its version bump. A current database
        is not written to at all (a second sync then meets the lock's clear refusal, not a busy database)."""
        if self.version() >= len(MIGRATIONS):
            return
        with self.transaction():
            self._drop_views()  # a step may change a column a view reads
        while True:
            with self.transaction():
                self._refuse_newer()
                done = self.version()  # read again inside the transaction: another process may have upgraded
                if done >= len(MIGRATIONS):
                    return
                MIGRATIONS[done](self.conn)
                self.conn.execute(f"PRAGMA user_version = {done + 1}")

    def _drop_views(self) -> None:
        for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'").fetchall():
            self.conn.execute(f"DROP VIEW [{name}]")

    def _rebuild_views(self) -> None:
        """Views are derived: made afresh from VIEWS whenever what is stored differs (no write otherwise)."""
        stored = dict(self.conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'").fetchall())
        if stored == wanted_views():
            return
        with self.transaction():
            self._drop_views()
            run_script(self.conn, VIEWS)

    def _keep_history(self) -> None:
        """History triggers are derived from the schema, so tables and columns added since are covered; like
        views, they are remade only when they differ (no write otherwise)."""
        from . import history  # it reads BOOKKEEPING_COLUMNS from here

        if history.up_to_date(self.conn):
            return
        with self.transaction():
            history.install(self.conn)

    def _narrow_search_triggers(self) -> None:
        """Search triggers are derived from SEARCH, like views: remade (once) where they differ, for every
        searched table whatever step made it; no write when they are current."""
        for table, columns in SEARCH.items():
            narrow_search_trigger(self.conn, table, columns)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.unlock()

    def lock(self) -> None:
        """Hold an exclusive lock for the whole sync; a second sync gets a clear refusal."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = open(lock_path, "a+")  # noqa: SIM115 - held until unlock()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConfigError(
                f"another sync is already writing {self.path}: wait for it to finish (or stop it) and run again"
            ) from None
        # the pid is for people; unbuffered, so a full disk fails here (and is let go) rather than at close
        with suppress(OSError):
            os.ftruncate(handle.fileno(), 0)
            os.pwrite(handle.fileno(), str(os.getpid()).encode(), 0)
        self._lock_handle = handle

    def unlock(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    # -- writing --------------------------------------------------------------------------------
    def columns(self, table: str) -> list[str]:
        if table not in self._columns:
            self._columns[table] = [row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")]
        return self._columns[table]

    def write(self, batch: Batch) -> None:
        self.write_many([batch])

    def write_many(self, batches: list[Batch]) -> None:
        """Apply batches and their checkpoints in one transaction (called from the writer thread)."""
        if not batches:
            return
        with self.transaction():
            for batch in batches:
                self._apply(batch)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; SQLITE_FULL becomes DiskFull."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            yield
            self.conn.execute("COMMIT")
        except BaseException as error:
            if self.conn.in_transaction:
                with suppress(sqlite3.Error):  # SQLite may have rolled back already
                    self.conn.execute("ROLLBACK")
            if is_full(error):
                raise self._full() from None
            raise

    def _full(self) -> DiskFull:
        return DiskFull(
            f"the disk holding {self.path} is full: free some space and run again; everything committed so far is kept"
        )

    def _apply(self, batch: Batch) -> None:
        if batch.replace_for:
            self._replace_pairs(batch)
        if batch.rows:
            self._check_columns(batch)
            (self._update if batch.update_only else self._upsert)(batch)
        if batch.touch:
            self._touch(batch.table, batch.touch, batch.sweep)
        if batch.close is not None:
            self._close(batch.close)
        stamp = now_iso()
        self._debts(batch, stamp)
        for stream, value in batch.state.items():
            if value is None:
                self.conn.execute("DELETE FROM sync_state WHERE stream = ?", (stream,))
            else:
                self.conn.execute(
                    "INSERT INTO sync_state(stream, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(stream) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    (stream, value, stamp),
                )
        for more in batch.then:
            self._apply(more)

    def _debts(self, batch: Batch, stamp: str) -> None:
        if batch.paid:
            self.conn.executemany("DELETE FROM sync_debts WHERE kind = ? AND key = ?", batch.paid)
        if batch.owe:
            self.conn.executemany(
                "INSERT INTO sync_debts(kind, key, detail, first_failed_at, last_failed_at, attempts, last_error, "
                "run_id) VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT(kind, key) DO UPDATE SET "
                "last_failed_at = excluded.last_failed_at, attempts = attempts + 1, last_error = excluded.last_error, "
                "run_id = excluded.run_id, detail = COALESCE(excluded.detail, detail)",
                [(d.kind, d.key, d.detail, stamp, stamp, d.error[:1000], self.run_id) for d in batch.owe],
            )

    def _replace_pairs(self, batch: Batch) -> None:
        """Remove the label pairs of `replace_for` that `rows` no longer have; the pairs kept are left
        untouched (the upsert adds the new ones), so an unchanged page's labels keep no past state."""
        keep = {(row["content_id"], row["label_id"]) for row in batch.rows}
        for start in range(0, len(batch.replace_for), 500):
            chunk = batch.replace_for[start : start + 500]
            stored = self.conn.execute(
                f"SELECT content_id, label_id FROM {batch.table} WHERE content_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            gone = [pair for pair in stored if pair not in keep]
            self.conn.executemany(f"DELETE FROM {batch.table} WHERE content_id = ? AND label_id = ?", gone)

    def _upsert(self, batch: Batch) -> None:
        """Insert new rows; update rows whose content changed (or that come back); count which was which."""
        table = batch.table
        known = self.columns(table)
        cols = list(batch.rows[0])
        content = [c for c in cols if c != "id" and c not in BOOKKEEPING_COLUMNS]
        keyed = "id" in cols
        ids = [row["id"] for row in batch.rows] if keyed else []
        tracked = "deleted_at" in known
        known_rows = self._known(table, ids, tracked)  # id -> was deleted, in one query
        existing = set(known_rows)
        restored = {i for i, deleted in known_rows.items() if deleted}
        sets = [f"{c} = excluded.{c}" for c in content] + (["deleted_at = NULL"] if tracked else [])
        differs = [f"{table}.{c} IS NOT excluded.{c}" for c in content] + (
            [f"{table}.deleted_at IS NOT NULL"] if tracked else []
        )
        conflict = CONFLICT_KEYS.get(table) or ("id" if keyed else ", ".join(cols[:2]))
        action = f"UPDATE SET {', '.join(sets)} WHERE {' OR '.join(differs)}" if sets else "NOTHING"
        sql = (
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT({conflict}) DO {action}"
        )
        # rowcount, unlike total_changes, leaves out what the search triggers write
        changed = self.conn.executemany(sql, [tuple(row.get(c) for c in cols) for row in batch.rows]).rowcount
        inserted = len(set(ids) - existing) if keyed else changed
        self.counts.inserted[table] += inserted
        self.counts.updated[table] += max(0, changed - inserted - len(restored))
        self.counts.restored[table] += len(restored)
        extra = [c for c in cols if c in BOOKKEEPING_COLUMNS and c not in ("sha256", "sha256_version")]
        keys = [k.strip() for k in conflict.split(",")]  # the row's key: id, account_id, or a pair
        if extra and all(k in cols for k in keys):  # bookkeeping is set on every row, without counting as a change
            self.conn.executemany(
                f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in extra)} WHERE "
                + " AND ".join(f"{k} = ?" for k in keys),
                [(*(row.get(c) for c in extra), *(row[k] for k in keys)) for row in batch.rows],
            )

    def _check_columns(self, batch: Batch) -> None:
        """Every row has the first row's columns, and the table has all of them: nothing is dropped quietly."""
        known = set(self.columns(batch.table))
        first = batch.rows[0].keys()
        odd = next((row for row in batch.rows if row.keys() != first), None)
        unknown = (first | (odd.keys() if odd else set())) - known
        if unknown:
            raise UnknownColumn(
                f"{batch.table} has no column {', '.join(sorted(unknown))}: add it with a step in store.MIGRATIONS"
            )
        if odd is not None:
            raise UnknownColumn(f"rows for {batch.table} differ in their columns: {sorted(first ^ odd.keys())}")

    def _touch(self, table: str, ids: list[str], sweep: int | None) -> None:
        restored = [i for i, deleted in self._known(table, ids, True).items() if deleted]
        self.counts.restored[table] += len(restored)
        self.conn.executemany(  # a row already stamped by this sweep (a resumed listing) is not written again
            f"UPDATE {table} SET seen_sweep = ?, deleted_at = NULL WHERE id = ? "
            "AND (seen_sweep IS NOT ? OR deleted_at IS NOT NULL)",
            [(sweep, i, sweep) for i in ids],
        )

    def _close(self, sweep: Sweep) -> None:
        if sweep.delete:
            cursor = self.conn.execute(
                f"DELETE FROM {sweep.table} WHERE (seen_sweep IS NULL OR seen_sweep != ?) AND ({sweep.scope})",
                (sweep.sweep, *sweep.params),
            )
            self.counts.deleted[sweep.table] += cursor.rowcount
            return
        cursor = self.conn.execute(
            f"UPDATE {sweep.table} SET deleted_at = ? WHERE deleted_at IS NULL "
            f"AND (seen_sweep IS NULL OR seen_sweep != ?) AND ({sweep.scope})",
            (now_iso(), sweep.sweep, *sweep.params),
        )
        self.counts.deleted[sweep.table] += cursor.rowcount

    def _known(self, table: str, ids: list[str], tracked: bool) -> dict[str, bool]:
        """Which of `ids` are stored already, and whether each is marked deleted."""
        deleted = "deleted_at IS NOT NULL" if tracked else "0"
        found: dict[str, bool] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = f"SELECT id, {deleted} FROM {table} WHERE id IN ({', '.join('?' * len(chunk))})"
            found.update((r[0], bool(r[1])) for r in self.conn.execute(sql, chunk))
        return found

    def _update(self, batch: Batch) -> None:
        cols = [c for c in batch.rows[0] if c != "id"]
        sql = f"UPDATE {batch.table} SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?"
        self.conn.executemany(sql, [(*(row[c] for c in cols), row["id"]) for row in batch.rows])

    # -- reading --------------------------------------------------------------------------------
    def reader(self) -> sqlite3.Connection:
        """A separate read-only connection: reads from the event loop never touch the writer's."""
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)

    def state(self, stream: str) -> str | None:
        row = self.conn.execute("SELECT value FROM sync_state WHERE stream = ?", (stream,)).fetchone()
        return row[0] if row else None

    # -- runs -----------------------------------------------------------------------------------
    def start_run(self, options: dict[str, Any]) -> int:
        """Record a new run. A `running` row left by another process (killed with SIGKILL, or a power cut) cannot
        be running now, since this one holds the lock: it is marked `interrupted` first."""
        with self.transaction():
            self.conn.execute(
                "UPDATE sync_runs SET status = 'interrupted', finished_at = COALESCE(finished_at, ?) "
                "WHERE status = 'running'",
                (now_iso(),),
            )
            cursor = self.conn.execute(
                "INSERT INTO sync_runs(started_at, status, options) VALUES (?, 'running', ?)",
                (now_iso(), dumps(options)),
            )
        self.run_id = int(cursor.lastrowid)
        return self.run_id

    def finish_run(self, run_id: int, status: str, stats: dict[str, int], errors: list[dict[str, str]]) -> None:
        counts = self.counts.as_dict()
        values = (
            now_iso(),
            status,
            stats.get("requests", 0),
            stats.get("retries", 0),
            stats.get("rate_limited", 0),
            sum(sum(c.values()) for c in counts.values()),
            stats.get("bytes_downloaded", 0),
            stats.get("downloads", 0),
            dumps(errors),
            dumps(counts),
            run_id,
        )
        try:
            with self.transaction():
                self.conn.execute(
                    "UPDATE sync_runs SET finished_at = ?, status = ?, requests = ?, retries = ?, rate_limited = ?, "
                    "rows_written = ?, bytes_downloaded = ?, downloads = ?, errors = ?, counts = ? WHERE id = ?",
                    values,
                )
        except DiskFull:
            # The full record did not fit; the short one usually does, so the run is not left 'running'.
            with suppress(DiskFull), self.transaction():
                self.conn.execute(
                    "UPDATE sync_runs SET finished_at = ?, status = 'failed' WHERE id = ?", (now_iso(), run_id)
                )
            raise
