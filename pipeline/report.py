"""What is in the store and what the last runs did, as text, markdown (for $GITHUB_STEP_SUMMARY) or JSON."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from .errors import ConfigError
from .store import CONTENT_TABLES

FORMATS = ("text", "markdown", "json")
TOP = 10


def summarize(db_path: Path, runs: int = 5) -> dict[str, Any]:
    if not db_path.exists():
        raise ConfigError(f"no database at {db_path}: run `atlassian-to-sqlite sync` first (or pass --db)")
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        last_runs = recent_runs(conn, runs)
        return {
            "database": str(db_path),
            "tables": table_counts(conn),
            "spaces": rows(conn, SPACES),
            "projects": projects(conn),
            "jira": jira_section(conn),
            "last_run": last_run_changes(conn, last_runs),
            "runs": last_runs,
            "largest_attachments": rows(conn, LARGEST),
            "stale_pages": stale_pages(conn),
            "failed": (last_runs[0]["errors"] or []) if last_runs else [],
            "owed": owed(conn),
            "refused": refused(conn),
            "history": history_size(conn),
        }
    finally:
        conn.close()


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """A store written by an older version may lack it until a sync upgrades the store."""
    return any(r[1] == column for r in conn.execute(f"PRAGMA table_info({table})"))


def history_size(conn: sqlite3.Connection) -> dict[str, int]:
    """How many states the store keeps: current spans, and past states (copies of rows as they were)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'history'").fetchone():
        return {"spans": 0, "past_states": 0, "past_bytes": 0}
    spans, past, size = conn.execute(
        "SELECT COUNT(*), COUNT(row), COALESCE(SUM(length(row)), 0) FROM history"
    ).fetchone()
    return {"spans": spans, "past_states": past, "past_bytes": size}


def owed(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Parts that failed and are still owed (the next run fetches them first), oldest first, with their age."""
    if not has_column(conn, "sync_debts", "key"):
        return []
    found = rows(
        conn,
        "SELECT kind, key, first_failed_at, last_failed_at, attempts, last_error FROM sync_debts "
        "ORDER BY first_failed_at, kind, key",
    )
    now = datetime.now(UTC)
    for debt in found:
        debt["age_days"] = round((now - datetime.fromisoformat(debt["first_failed_at"])).total_seconds() / 86400, 1)
    return found


REFUSED = """
SELECT 'confluence' AS product, space_key AS place, a.title AS name, c.download_refused AS reason
FROM confluence_attachments c JOIN confluence_attachments_view a ON a.id = c.id
WHERE c.download_refused IS NOT NULL AND c.deleted_at IS NULL
UNION ALL
SELECT 'jira', v.project_key || ' ' || v.issue_key, v.filename, j.download_refused
FROM jira_attachments j JOIN jira_attachments_view v ON v.id = j.id
WHERE j.download_refused IS NOT NULL AND j.deleted_at IS NULL
"""


def refused(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Attachments whose bytes the site refuses to this account (403): kept as rows, reported, not failures."""
    if not has_column(conn, "jira_attachments", "download_refused"):
        return []
    return rows(conn, REFUSED)


def rows(conn: sqlite3.Connection, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sql, params)]


def table_counts(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    counts = {}
    more = ("jira_fields", "jira_changelogs", "jira_issue_field_history", "jira_users")
    for table in (*CONTENT_TABLES, "confluence_labels", "confluence_content_labels", *more):
        columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if not columns:
            continue  # a database written before this table existed
        deleted = "SUM(deleted_at IS NOT NULL)" if "deleted_at" in columns else "0"
        total, gone = conn.execute(f"SELECT COUNT(*), COALESCE({deleted}, 0) FROM {table}").fetchone()
        counts[table] = {"rows": total - gone, "deleted": gone}
    return counts


# Every count is one grouped pass over its table, each row's container or issue found through its primary key;
# nothing runs once per space or project (a store of 200 spaces and 50,000 attachments took 21 s that way).
SPACES = """
WITH pages AS (SELECT space_id, COUNT(*) AS n FROM confluence_pages WHERE deleted_at IS NULL GROUP BY space_id),
posts AS (SELECT space_id, COUNT(*) AS n FROM confluence_blogposts WHERE deleted_at IS NULL GROUP BY space_id),
comments AS (
  SELECT COALESCE(p.space_id, b.space_id) AS space_id, COUNT(*) AS n
  FROM confluence_comments c LEFT JOIN confluence_pages p ON p.id = c.container_id
  LEFT JOIN confluence_blogposts b ON b.id = c.container_id
  WHERE c.deleted_at IS NULL GROUP BY 1
),
files AS (
  SELECT COALESCE(p.space_id, b.space_id) AS space_id, COUNT(*) AS n, SUM(a.file_size) AS bytes
  FROM confluence_attachments a LEFT JOIN confluence_pages p ON p.id = a.container_id
  LEFT JOIN confluence_blogposts b ON b.id = a.container_id
  WHERE a.deleted_at IS NULL GROUP BY 1
)
SELECT s.key, s.name, COALESCE(pages.n, 0) AS pages, COALESCE(posts.n, 0) AS blogposts,
  COALESCE(comments.n, 0) AS comments, COALESCE(files.n, 0) AS attachments,
  COALESCE(files.bytes, 0) AS attachment_bytes
FROM confluence_spaces s LEFT JOIN pages ON pages.space_id = s.id LEFT JOIN posts ON posts.space_id = s.id
LEFT JOIN comments ON comments.space_id = s.id LEFT JOIN files ON files.space_id = s.id
WHERE s.deleted_at IS NULL ORDER BY s.key
"""
PROJECTS = """
WITH issues AS (SELECT project_id, COUNT(*) AS n FROM jira_issues WHERE deleted_at IS NULL GROUP BY project_id),
comments AS (
  SELECT i.project_id, COUNT(*) AS n FROM jira_comments c JOIN jira_issues i ON i.id = c.issue_id
  WHERE c.deleted_at IS NULL GROUP BY i.project_id
),
files AS (
  SELECT i.project_id, COUNT(*) AS n FROM jira_attachments a JOIN jira_issues i ON i.id = a.issue_id
  WHERE a.deleted_at IS NULL GROUP BY i.project_id
)
SELECT p.id, p.key, p.name, COALESCE(issues.n, 0) AS issues, COALESCE(comments.n, 0) AS comments,
  COALESCE(files.n, 0) AS attachments
FROM jira_projects p LEFT JOIN issues ON issues.project_id = p.id LEFT JOIN comments ON comments.project_id = p.id
LEFT JOIN files ON files.project_id = p.id
WHERE p.deleted_at IS NULL ORDER BY p.key
"""
BY_PROJECT = """
SELECT project_id, status, issue_type, COUNT(*) FROM jira_issues WHERE deleted_at IS NULL
GROUP BY project_id, status, issue_type
"""
# the ten largest first, then their names: the views' joins run for ten rows, not for every attachment
LARGEST = f"""
SELECT 'confluence' AS product, v.space_key AS place, v.title AS name, v.file_size AS bytes
FROM (SELECT id FROM confluence_attachments WHERE deleted_at IS NULL ORDER BY file_size DESC LIMIT {TOP}) top
JOIN confluence_attachments_view v ON v.id = top.id
UNION ALL
SELECT 'jira', v.project_key || ' ' || v.issue_key, v.filename, v.size
FROM (SELECT id FROM jira_attachments WHERE deleted_at IS NULL ORDER BY size DESC LIMIT {TOP}) top
JOIN jira_attachments_view v ON v.id = top.id
ORDER BY bytes DESC LIMIT {TOP}
"""


def projects(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    found = rows(conn, PROJECTS)
    tallies: dict[str, dict[str, Counter]] = {}
    for project_id, status, issue_type, count in conn.execute(BY_PROJECT):
        tally = tallies.setdefault(project_id, {"by_status": Counter(), "by_type": Counter()})
        tally["by_status"][status] += count
        tally["by_type"][issue_type] += count
    for project in found:
        tally = tallies.get(project.pop("id"), {"by_status": Counter(), "by_type": Counter()})
        for name in ("by_status", "by_type"):
            project[name] = dict(sorted(tally[name].items(), key=lambda kv: -kv[1]))
    return found


def jira_section(conn: sqlite3.Connection) -> dict[str, Any]:
    """Issues by status category per project, sprints in progress, and what the token could not reach."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'jira_issue_sprints'").fetchone():
        return {"by_category": [], "sprints": [], "gaps": []}  # a database from before these tables
    by_category = rows(
        conn,
        """
        SELECT project_key AS project, SUM(status_category = 'new') AS to_do,
               SUM(status_category = 'indeterminate') AS in_progress, SUM(status_category = 'done') AS done,
               SUM(status_category IS NULL) AS unknown
        FROM jira_issues_view WHERE deleted_at IS NULL GROUP BY project_key ORDER BY project_key""",
    )
    sprints = rows(
        conn,
        """
        SELECT s.name, b.name AS board, s.start_date, s.end_date,
               COUNT(i.id) AS issues, COALESCE(SUM(st.category_key = 'done'), 0) AS done
        FROM jira_sprints s LEFT JOIN jira_boards b ON b.id = s.board_id
        LEFT JOIN jira_issue_sprints x ON x.sprint_id = s.id AND x.deleted_at IS NULL
        LEFT JOIN jira_issues i ON i.id = x.issue_id AND i.deleted_at IS NULL
        LEFT JOIN jira_statuses st ON st.id = json_extract(i.fields, '$.status.id')
        WHERE s.state = 'active' AND s.deleted_at IS NULL GROUP BY s.id ORDER BY s.end_date, s.name""",
    )
    gaps = [
        orjson.loads(r[0])["message"]
        for r in conn.execute("SELECT value FROM sync_state WHERE stream LIKE 'jira:gaps:%' ORDER BY stream")
    ]
    return {"by_category": by_category, "sprints": sprints, "gaps": gaps}


def recent_runs(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    found = rows(conn, "SELECT * FROM sync_runs ORDER BY id DESC LIMIT ?", (limit,))
    for run in found:
        for key in ("errors", "counts"):
            run[key] = orjson.loads(run[key]) if run.get(key) else None
        run.pop("options", None)
        run["seconds"] = seconds_between(run["started_at"], run["finished_at"])
    return found


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)


def last_run_changes(conn: sqlite3.Connection, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the last run brought: counts per table, and the pages and issues it saw edited or gone."""
    if not runs:
        return {}
    last = runs[0]
    since = runs[1]["started_at"] if len(runs) > 1 else None
    edited_pages = (
        rows(
            conn,
            f"""
        SELECT space_key, title, updated_at FROM confluence_pages_view
        WHERE deleted_at IS NULL AND updated_at >= ? ORDER BY updated_at DESC LIMIT {TOP}""",
            (since,),
        )
        if since
        else []
    )
    edited_issues = (
        rows(
            conn,
            f"""
        SELECT key, summary, status, updated FROM jira_issues_view
        WHERE deleted_at IS NULL AND updated >= ? ORDER BY updated DESC LIMIT {TOP}""",
            (since,),
        )
        if since
        else []
    )
    gone = rows(
        conn,
        f"""
        SELECT 'page' AS kind, space_key AS place, title AS name FROM confluence_pages_view WHERE deleted_at >= ?
        UNION ALL SELECT 'issue', project_key, key || ' ' || summary FROM jira_issues_view WHERE deleted_at >= ?
        LIMIT {TOP}""",
        (last["started_at"], last["started_at"]),
    )
    return {
        "run": last["id"],
        "status": last["status"],
        "counts": last["counts"] or {},
        "edited_pages": edited_pages,
        "edited_issues": edited_issues,
        "deleted": gone,
        "deleted_rows": deleted_rows(conn, last["started_at"]),
    }


NAMES = ("title", "key", "summary", "name", "filename")  # what a deleted row is called, by the first it has
DELETED_SHOWN = 50


def deleted_rows(conn: sqlite3.Connection, since: str) -> list[dict[str, Any]]:
    """Every row (of any table with deleted_at) that the run starting at `since` marked deleted, with the
    command that shows it as it was: a deletion only marks the row, so its last content is still there."""
    from .history import KINDS, key_sql, tracked_tables

    kinds = {table: kind for kind, table in KINDS.items()}
    found: list[dict[str, Any]] = []
    for table, keys in tracked_tables(conn).items():
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
        if "deleted_at" not in columns:
            continue
        name = next((c for c in NAMES if c in columns), keys[0])
        for row_id, label, when in conn.execute(
            f"SELECT {key_sql(keys)}, [{name}], deleted_at FROM [{table}] WHERE deleted_at >= ? ORDER BY deleted_at",
            (since,),
        ):
            kind = kinds.get(table, table)
            found.append(
                {
                    "table": table,
                    "id": row_id,
                    "name": label,
                    "deleted_at": when,
                    "show": f"atlassian-to-sqlite show {kind} {row_id} --versions",
                }
            )
    return found


def stale_pages(conn: sqlite3.Connection) -> dict[str, Any]:
    year_ago = (datetime.now(UTC) - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    where = "deleted_at IS NULL AND status = 'current' AND updated_at < ?"
    count = conn.execute(f"SELECT COUNT(*) FROM confluence_pages WHERE {where}", (year_ago,)).fetchone()[0]
    oldest = rows(
        conn,
        f"SELECT space_key, title, updated_at FROM confluence_pages_view WHERE {where} ORDER BY updated_at LIMIT {TOP}",
        (year_ago,),
    )
    return {"count": count, "oldest": oldest}


# -- rendering ----------------------------------------------------------------------------------------
def render(summary: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode()
    return Markdown(summary).render() if fmt == "markdown" else Text(summary).render()


def human_bytes(n: int | None) -> str:
    size = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def changes_line(counts: dict[str, dict[str, int]]) -> list[str]:
    return [
        f"{table}: +{c.get('inserted', 0)} new, {c.get('updated', 0)} updated, {c.get('deleted', 0)} deleted"
        + (f", {c['restored']} restored" if c.get("restored") else "")
        for table, c in sorted(counts.items())
    ]


def deleted_lines(found: list[dict[str, Any]], indent: str) -> list[str]:
    if not found:
        return []
    out = [f"{indent}deleted by this run: {len(found)} row(s); each as it was, with every earlier state:"]
    out += [f"{indent}  {d['table']} {d['id']} ({d['name']}): `{d['show']}`" for d in found[:DELETED_SHOWN]]
    if len(found) > DELETED_SHOWN:
        out.append(f"{indent}  ... and {len(found) - DELETED_SHOWN} more (report --format json lists them all)")
    return out


def owed_lines(s: dict[str, Any], indent: str) -> list[str]:
    out = []
    if s["owed"]:
        out.append(f"Owed: {len(s['owed'])} part(s) failed and will be fetched first by the next run:")
        out += [
            f"{indent}- {d['kind']} {d['key']}: failing for {d['age_days']} days, {d['attempts']} attempt(s); "
            f"last error: {d['last_error']}"
            for d in s["owed"][:50]
        ]
        if len(s["owed"]) > 50:
            out.append(f"{indent}- ... and {len(s['owed']) - 50} more (sync_debts table)")
    if s["refused"]:
        out.append(f"Not permitted: {len(s['refused'])} attachment(s) whose bytes the site refuses to this account:")
        out += [f"{indent}- {r['product']} {r['place']}: {r['name']} ({r['reason']})" for r in s["refused"][:50]]
    return out


class Text:
    def __init__(self, summary: dict[str, Any]) -> None:
        self.s = summary

    def render(self) -> str:
        s = self.s
        out = [f"Store: {s['database']}"]
        for table, n in s["tables"].items():
            out.append(f"  {table:<28} {n['rows']:>10,}" + (f" ({n['deleted']:,} deleted)" if n["deleted"] else ""))
        out.append("Spaces:")
        out += [
            f"  {sp['key']:<10} {sp['pages']:>6} pages {sp['blogposts']:>5} posts {sp['comments']:>6} comments "
            f"{sp['attachments']:>5} attachments ({human_bytes(sp['attachment_bytes'])})"
            for sp in s["spaces"]
        ]
        out.append("Projects:")
        out += [
            f"  {p['key']:<10} {p['issues']:>6} issues {p['comments']:>6} comments {p['attachments']:>5} attachments; "
            + ", ".join(f"{k} {v}" for k, v in p["by_status"].items())
            for p in s["projects"]
        ]
        jira = s["jira"]
        if jira["by_category"]:
            out.append("Jira issues by status category (to do / in progress / done):")
            out += [
                f"  {c['project']:<10} {c['to_do']:>6} {c['in_progress']:>6} {c['done']:>6}"
                for c in jira["by_category"]
            ]
        if jira["sprints"]:
            out.append("Sprints in progress:")
            out += [
                f"  {sp['name']} ({sp['board'] or 'board unknown'}, ends {sp['end_date'] or '?'}): "
                f"{sp['done']}/{sp['issues']} issues done"
                for sp in jira["sprints"]
            ]
        out += [f"Gap: {gap}" for gap in jira["gaps"]]
        last = s["last_run"]
        if last:
            out.append(f"Last run #{last['run']} ({last['status']}) changed:")
            out += ["  " + line for line in changes_line(last["counts"])] or ["  nothing"]
            out += [f"  edited page {p['space_key']}: {p['title']}" for p in last["edited_pages"]]
            out += [f"  edited issue {i['key']}: {i['summary']}" for i in last["edited_issues"]]
            out += [f"  gone {g['kind']} {g['place']}: {g['name']}" for g in last["deleted"]]
            out += deleted_lines(last.get("deleted_rows") or [], "  ")
        out.append("Last runs:")
        for run in s["runs"]:
            out.append(
                f"  #{run['id']} {run['started_at']} {run['status']:<8} {run['seconds'] or 0:>7.1f} s "
                f"{run['requests']:,} requests, {run['retries']:,} retries, {run['rate_limited']:,} x 429, "
                f"{run['rows_written']:,} rows, {human_bytes(run['bytes_downloaded'])} downloaded"
            )
            out += [f"      error in {e['stream']}: {e['message']}" for e in run.get("errors") or []]
        out.append("Largest attachments:")
        out += [
            f"  {human_bytes(a['bytes']):>10}  {a['product']} {a['place']}: {a['name']}"
            for a in s["largest_attachments"]
        ]
        out.append(f"Pages not edited for a year: {s['stale_pages']['count']:,}")
        h = s["history"]
        out.append(
            f"History: {h['past_states']:,} past states ({human_bytes(h['past_bytes'])}) in {h['spans']:,} spans; "
            "see one with `atlassian-to-sqlite show KIND ID --versions`"
        )
        out += owed_lines(s, "  ")
        return "\n".join(out)


class Markdown:
    def __init__(self, summary: dict[str, Any]) -> None:
        self.s = summary

    def render(self) -> str:
        s = self.s
        out = ["## Atlassian backup", ""]
        last = s["last_run"]
        if s["failed"]:
            out += ["> [!WARNING]", "> Parts of the last run failed:"]
            out += [f"> - **{e['stream']}**: {e['message']}" for e in s["failed"]]
            out.append("")
        if s["owed"] or s["refused"]:
            out += ["> [!WARNING]", *(f"> {line}" for line in owed_lines(s, ""))]
            out.append("")
        if last:
            out += [f"### What run #{last['run']} changed ({last['status']})", ""]
            out += [f"- {line}" for line in changes_line(last["counts"])] or ["- nothing changed"]
            out += [f"- edited page **{p['space_key']}**: {p['title']}" for p in last["edited_pages"]]
            out += [f"- edited issue **{i['key']}**: {i['summary']} ({i['status']})" for i in last["edited_issues"]]
            out += [f"- gone {g['kind']} **{g['place']}**: {g['name']}" for g in last["deleted"]]
            out += deleted_lines(last.get("deleted_rows") or [], "- ")
            out.append("")
        out += [
            "### Runs",
            "",
            "| run | started | status | seconds | requests | retries | 429s | rows | downloaded | errors |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        out += [
            f"| #{r['id']} | {r['started_at']} | {r['status']} | {r['seconds'] or 0:.1f} | {r['requests']:,} | "
            f"{r['retries']:,} | {r['rate_limited']:,} | {r['rows_written']:,} | {human_bytes(r['bytes_downloaded'])} "
            f"| {len(r.get('errors') or [])} |"
            for r in s["runs"]
        ]
        out += [
            "",
            "### Spaces",
            "",
            "| space | pages | blog posts | comments | attachments | bytes |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        out += [
            f"| {sp['key']} | {sp['pages']:,} | {sp['blogposts']:,} | {sp['comments']:,} | {sp['attachments']:,} | "
            f"{human_bytes(sp['attachment_bytes'])} |"
            for sp in s["spaces"]
        ]
        out += [
            "",
            "### Projects",
            "",
            "| project | issues | comments | attachments | by status | by type |",
            "|---|---:|---:|---:|---|---|",
        ]
        out += [
            f"| {p['key']} | {p['issues']:,} | {p['comments']:,} | {p['attachments']:,} | "
            + ", ".join(f"{k} {v}" for k, v in p["by_status"].items())
            + " | "
            + ", ".join(f"{k} {v}" for k, v in p["by_type"].items())
            + " |"
            for p in s["projects"]
        ]
        jira = s["jira"]
        if jira["by_category"]:
            out += ["", "### Jira issues by status category", "", "| project | to do | in progress | done |"]
            out += ["|---|---:|---:|---:|"]
            out += [
                f"| {c['project']} | {c['to_do']} | {c['in_progress']} | {c['done']} |" for c in jira["by_category"]
            ]
        if jira["sprints"]:
            out += [
                "",
                "### Sprints in progress",
                "",
                "| sprint | board | ends | issues | done |",
                "|---|---|---|---:|---:|",
            ]
            out += [
                f"| {sp['name']} | {sp['board'] or ''} | {sp['end_date'] or ''} | {sp['issues']} | {sp['done']} |"
                for sp in jira["sprints"]
            ]
        if jira["gaps"]:
            out += ["", "> [!NOTE]", "> Not reached by the token (the runs go on without it):"]
            out += [f"> - {gap}" for gap in jira["gaps"]]
        out += ["", "### Largest attachments", "", "| size | where | file |", "|---:|---|---|"]
        out += [
            f"| {human_bytes(a['bytes'])} | {a['product']} {a['place']} | {a['name']} |"
            for a in s["largest_attachments"]
        ]
        out += ["", f"Pages not edited for a year: **{s['stale_pages']['count']:,}**", ""]
        out += ["<details><summary>Rows per table</summary>", "", "| table | rows | deleted |", "|---|---:|---:|"]
        out += [f"| {t} | {n['rows']:,} | {n['deleted']:,} |" for t, n in s["tables"].items()]
        out += ["", "</details>"]
        return "\n".join(out)
