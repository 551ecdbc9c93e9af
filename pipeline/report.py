"""Summaries of the store: what is in it and what the last runs did (text, markdown, JSON)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from .errors import ConfigError
from .store import CONTENT_TABLES

FORMATS = ("text", "markdown", "json")


def summarize(db_path: Path, runs: int = 5) -> dict[str, Any]:
    if not db_path.exists():
        raise ConfigError(f"no database at {db_path}: run `atlassian-to-sqlite sync` first (or pass --db)")
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        tables = {}
        for table in (
            *CONTENT_TABLES,
            "confluence_labels",
            "confluence_content_labels",
            "jira_fields",
            "jira_changelogs",
        ):
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            deleted = "SUM(deleted_at IS NOT NULL)" if "deleted_at" in columns else "0"
            total, gone = conn.execute(f"SELECT COUNT(*), COALESCE({deleted}, 0) FROM {table}").fetchone()
            tables[table] = {"rows": total - gone, "deleted": gone}
        attachment_bytes = conn.execute(
            "SELECT COALESCE(SUM(file_size), 0) FROM confluence_attachments WHERE deleted_at IS NULL"
        ).fetchone()[0]
        attachment_bytes += conn.execute(
            "SELECT COALESCE(SUM(size), 0) FROM jira_attachments WHERE deleted_at IS NULL"
        ).fetchone()[0]
        last_runs = [dict(r) for r in conn.execute("SELECT * FROM sync_runs ORDER BY id DESC LIMIT ?", (runs,))]
        for run in last_runs:
            for key in ("errors", "counts", "options"):
                run[key] = orjson.loads(run[key]) if run.get(key) else None
            run.pop("options", None)
        return {"database": str(db_path), "tables": tables, "attachment_bytes": attachment_bytes, "runs": last_runs}
    finally:
        conn.close()


def render(summary: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode()
    if fmt == "markdown":
        return _markdown(summary)
    return _text(summary)


def _text(summary: dict[str, Any]) -> str:
    lines = [f"Store: {summary['database']}"]
    for table, n in summary["tables"].items():
        deleted = f" ({n['deleted']:,} deleted)" if n["deleted"] else ""
        lines.append(f"  {table:<28} {n['rows']:>10,}{deleted}")
    lines.append(f"  {'attachment bytes':<28} {summary['attachment_bytes']:>10,}")
    lines.append("Last runs:")
    for run in summary["runs"]:
        lines.append(
            f"  #{run['id']} {run['started_at']} {run['status']:<8} {run['requests']:,} requests, "
            f"{run['retries']:,} retries, {run['rate_limited']:,} x 429, {run['rows_written']:,} rows written, "
            f"{run['bytes_downloaded']:,} bytes downloaded"
        )
        for error in run.get("errors") or []:
            lines.append(f"      error in {error['stream']}: {error['message']}")
    return "\n".join(lines)


def _markdown(summary: dict[str, Any]) -> str:
    lines = ["## Atlassian store", "", "| table | rows | deleted |", "|---|---:|---:|"]
    for table, n in summary["tables"].items():
        lines.append(f"| {table} | {n['rows']:,} | {n['deleted']:,} |")
    lines += [
        "",
        "### Last runs",
        "",
        "| run | started | status | requests | retries | 429s | rows written | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for run in summary["runs"]:
        lines.append(
            f"| #{run['id']} | {run['started_at']} | {run['status']} | {run['requests']:,} | "
            f"{run['retries']:,} | {run['rate_limited']:,} | {run['rows_written']:,} | "
            f"{len(run.get('errors') or [])} |"
        )
    return "\n".join(lines)
