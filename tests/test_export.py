"""`export`: every table written, read back and compared with the database row for row; a manifest; only
what changed since a run; a clear message when Parquet's extra is missing."""

from __future__ import annotations

import csv
import importlib.util
import sqlite3
import sys
from datetime import UTC, datetime

import orjson
import pytest
from click.testing import CliRunner
from helpers import change_a_share, run_sync

from pipeline.cli import main
from pipeline.export import columns_of, exportable_tables
from pipeline.store import BOOKKEEPING_COLUMNS

HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None


def as_time(value):
    if value in (None, ""):
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def db_rows(conn, table):
    """The table as the database holds it, times as UTC datetimes, in primary-key order."""
    kinds = {c.name: c.kind for c in columns_of(conn, table)}
    cursor = conn.execute(f"SELECT * FROM [{table}]")
    names = [d[0] for d in cursor.description]
    rows = [
        {n: as_time(v) if kinds[n] == "timestamp" else v for n, v in zip(names, row, strict=True)} for row in cursor
    ]
    keys = [r[1] for r in sorted(conn.execute(f"PRAGMA table_info([{table}])"), key=lambda r: r[5]) if r[5]]
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys or names))


def read_back(path, fmt, kinds):
    if fmt == "parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
        return [{k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]
    if fmt == "jsonl":
        rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    else:
        csv.field_size_limit(sys.maxsize)  # a page body can be longer than the csv module's default of 128 KB
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [{k: (None if v == "" else v) for k, v in r.items()} for r in csv.DictReader(handle)]
    for row in rows:
        for name, kind in kinds.items():
            if kind == "timestamp":
                row[name] = as_time(row[name])
            elif fmt == "csv" and row[name] is not None and kind == "int64":
                row[name] = int(row[name])
            elif fmt == "csv" and row[name] is not None and kind == "float64":
                row[name] = float(row[name])
    return rows


@pytest.mark.parametrize(
    "fmt",
    [
        "csv",
        "jsonl",
        pytest.param(
            "parquet",
            marks=pytest.mark.skipif(not HAVE_PYARROW, reason="pyarrow (the [export] extra) is not installed"),
        ),
    ],
)
async def test_every_table_reads_back_equal_to_the_database(sim, tmp_path, fmt):
    await run_sync(sim, tmp_path)
    change_a_share(sim, 0.1, seed=2)
    await run_sync(sim, tmp_path)  # so history holds past states too
    db, out = tmp_path / "atlassian.db", tmp_path / "out"
    result = CliRunner().invoke(main, ["export", "--format", fmt, "--out", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    conn = sqlite3.connect(db)
    assert [t["table"] for t in manifest["tables"]] == exportable_tables(conn)
    assert {"history", "confluence_pages", "jira_issues", "sync_runs"} <= {t["table"] for t in manifest["tables"]}
    assert manifest["run_id"] == 2 and manifest["since_run"] is None
    compared = 0
    for entry in manifest["tables"]:
        table = entry["table"]
        kinds = {c["name"]: c["type"] for c in entry["columns"]}
        expected = db_rows(conn, table)
        got = read_back(out / entry["file"], fmt, kinds)
        keys = [r[1] for r in sorted(conn.execute(f"PRAGMA table_info([{table}])"), key=lambda r: r[5]) if r[5]]
        got.sort(key=lambda r: tuple(str(r[k]) for k in keys or list(kinds)))
        if fmt == "csv":  # CSV cannot tell an empty string from NULL
            expected = [{k: (None if v == "" else v) for k, v in r.items()} for r in expected]
        assert entry["rows"] == len(expected) == len(got), table
        assert got == expected, table
        compared += len(got)
    assert compared > 500
    types = {
        c["name"]: c["type"] for c in next(t for t in manifest["tables"] if t["table"] == "jira_issues")["columns"]
    }
    assert types["created"] == types["updated"] == types["deleted_at"] == "timestamp"
    assert types["fields"] == "string"


async def test_incremental_export_has_only_what_changed_since_the_run(sim, tmp_path):
    await run_sync(sim, tmp_path)
    db = tmp_path / "atlassian.db"
    conn = sqlite3.connect(db)
    before = {t: content(conn, t) for t in ("confluence_pages", "jira_issues", "jira_comments")}
    pairs = {t: set(conn.execute(f"SELECT * FROM {t}")) for t in ("confluence_content_labels", "confluence_versions")}
    change_a_share(sim, 0.1, seed=4)
    await run_sync(sim, tmp_path)
    out = tmp_path / "changes"
    result = CliRunner().invoke(
        main, ["export", "--format", "jsonl", "--out", str(out), "--db", str(db), "--since-run", "1"]
    )
    assert result.exit_code == 0, result.output
    manifest = {t["table"]: t for t in orjson.loads((out / "manifest.json").read_bytes())["tables"]}
    for table, earlier in before.items():
        now = content(conn, table)
        changed = {i for i in now if now[i] != earlier.get(i)}
        exported = {orjson.loads(line)["id"] for line in (out / f"{table}.jsonl").read_bytes().splitlines()}
        assert exported == changed and changed, table
        assert manifest[table]["whole"] is False
    for table, earlier in pairs.items():  # keyed by two columns: only the rows added since
        added = set(conn.execute(f"SELECT * FROM {table}")) - earlier
        lines = (out / f"{table}.jsonl").read_bytes().splitlines()
        assert {tuple(orjson.loads(line).values()) for line in lines} == added, table
        assert manifest[table]["whole"] is False
    runs = [orjson.loads(line)["id"] for line in (out / "sync_runs.jsonl").read_bytes().splitlines()]
    assert runs == [2]


def content(conn, table):
    cursor = conn.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cursor.description]
    return {row[0]: {n: v for n, v in zip(names, row, strict=True) if n not in BOOKKEEPING_COLUMNS} for row in cursor}


async def test_parquet_without_the_extra_says_how_to_get_it(sim, tmp_path, monkeypatch):
    await run_sync(sim, tmp_path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    result = CliRunner().invoke(
        main, ["export", "--out", str(tmp_path / "out"), "--db", str(tmp_path / "atlassian.db")]
    )
    assert result.exit_code == 1
    assert "pip install 'atlassian-to-sqlite[export]'" in result.output and "csv or jsonl" in result.output


def test_export_names_bad_input(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["export", "--format", "csv", "--out", str(tmp_path), "--db", str(tmp_path / "x.db")])
    assert missing.exit_code == 1 and "no database at" in missing.output
    from pipeline.store import Store

    Store(tmp_path / "a.db").open().close()
    wrong = runner.invoke(
        main,
        ["export", "--format", "csv", "--out", str(tmp_path / "o"), "--db", str(tmp_path / "a.db"), "--tables", "nope"],
    )
    assert wrong.exit_code == 1 and "no table nope" in wrong.output and "confluence_pages" in wrong.output


def test_incremental_export_has_bytes_stored_or_refused_in_a_later_run(tmp_path):
    """A download that succeeds (or is refused) a run after its row was stored changes no content, so it opens
    no new past state; the warehouse still has to get the row's sha256 / download_refused."""
    from pipeline.store import Store

    db = tmp_path / "a.db"
    store = Store(db).open()
    conn = store.conn
    conn.execute("INSERT INTO sync_runs(id, started_at, finished_at) VALUES (1, '2026-11-01', '2026-11-01')")
    conn.execute("INSERT INTO confluence_attachments(id, title) VALUES ('a1', 'x.png'), ('a2', 'y.png')")
    conn.execute("INSERT INTO jira_attachments(id, filename) VALUES ('j1', 'z.pdf')")
    conn.execute("INSERT INTO sync_runs(id, started_at, finished_at) VALUES (2, '2026-11-02', '2026-11-02')")
    conn.execute("UPDATE confluence_attachments SET sha256 = 'ab' || 'cd' WHERE id = 'a1'")
    conn.execute("UPDATE jira_attachments SET download_refused = 'too large' WHERE id = 'j1'")
    conn.commit()
    spans = conn.execute("SELECT COUNT(*) FROM history WHERE valid_to IS NOT NULL").fetchone()[0]
    store.close()
    out = tmp_path / "changes"
    args = ["export", "--format", "jsonl", "--out", str(out), "--db", str(db), "--since-run", "1"]
    result = CliRunner().invoke(main, [*args, "--tables", "confluence_attachments,jira_attachments"])
    assert result.exit_code == 0, result.output
    pages = [orjson.loads(line) for line in (out / "confluence_attachments.jsonl").read_bytes().splitlines()]
    issues = [orjson.loads(line) for line in (out / "jira_attachments.jsonl").read_bytes().splitlines()]
    assert [(r["id"], r["sha256"]) for r in pages] == [("a1", "abcd")]
    assert [(r["id"], r["download_refused"]) for r in issues] == [("j1", "too large")]
    assert spans == 0, "bytes stored are no new state of the row"
