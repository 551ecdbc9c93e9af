"""A database written by an older version is upgraded in place, and a newer one is refused.

`data/atlassian-9e8fb81.db.gz` is a real database written by commit 9e8fb81 (before plain text, search and
schema versions existed) syncing the tiny simulated site with seed 8; data/README.md says how it was made.
That version could not fetch Jira attachments whose `content` URL has an older form, so some rows have no
bytes, as a real user's would.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from expected import differences, expected, stored
from helpers import change_a_share, run_sync

from pipeline import store as store_module
from pipeline.errors import ConfigError
from pipeline.simulator.dataset import blob_bytes
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator
from pipeline.store import MIGRATIONS, Batch, Store, UnknownColumn
from pipeline.text import from_adf, from_storage

OLD_DB = Path(__file__).parent / "data" / "atlassian-9e8fb81.db.gz"


def old_database(tmp_path: Path) -> Path:
    path = tmp_path / "atlassian.db"
    path.write_bytes(gzip.decompress(OLD_DB.read_bytes()))
    return path


def restore_attachment_folder(sim: Simulator, db: Path, root: Path) -> int:
    """The attachments folder as the old version left it beside the database (the same site's bytes)."""
    conn = sqlite3.connect(db)
    wanted = {
        r[0]
        for r in conn.execute("SELECT sha256 FROM confluence_attachments UNION SELECT sha256 FROM jira_attachments")
    }
    conn.close()
    items = [(a["_seed"], a["fileSize"]) for a in sim.confluence.all_attachments()]
    for project in sim.jira.projects():
        for issue in sim.jira.issues(project["id"]):
            items += [(a["_seed"], a["size"]) for a in sim.jira.children("attachment", issue["id"])]
    written = 0
    for seed, size in items:
        data = blob_bytes(seed, size)
        digest = hashlib.sha256(data).hexdigest()
        if digest in wanted:
            (root / digest[:2]).mkdir(parents=True, exist_ok=True)
            (root / digest[:2] / digest).write_bytes(data)
            written += 1
    return written


def plain_text_is_current(conn: sqlite3.Connection) -> int:
    """Every stored row's plain text is what today's mapping makes of its stored body; returns rows checked."""
    checked = 0
    for table in ("confluence_pages", "confluence_blogposts", "confluence_comments"):
        for body, text in conn.execute(f"SELECT body_storage, body_text FROM {table}"):
            assert text == from_storage(body), (table, body, text)
            checked += body is not None
    for fields, text in conn.execute("SELECT fields, description_text FROM jira_issues"):
        assert text == from_adf(orjson.loads(fields).get("description")), (fields, text)
        checked += text is not None
    for body, text in conn.execute("SELECT body, body_text FROM jira_comments"):
        assert text == from_adf(orjson.loads(body)), (body, text)
        checked += text is not None
    return checked


def schema_of(path: Path) -> dict[str, set]:
    conn = sqlite3.connect(path)
    objects = set(conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
    columns = {
        (table, column, kind)
        for (_, table) in objects
        if _ == "table"
        for (_, column, kind, *_rest) in conn.execute(f"PRAGMA table_info({table})")
    }
    conn.close()
    return {"objects": objects, "columns": columns}


def test_the_old_file_really_is_from_before_plain_text_and_versions(tmp_path):
    conn = sqlite3.connect(old_database(tmp_path))
    assert conn.execute("PRAGMA user_version").fetchone() == (0,)
    assert "body_text" not in {r[1] for r in conn.execute("PRAGMA table_info(confluence_pages)")}
    assert conn.execute("SELECT COUNT(*) FROM confluence_pages").fetchone()[0] > 10


async def test_an_older_database_is_upgraded_in_place_and_a_sync_on_top_is_exact(tmp_path):
    db = old_database(tmp_path)
    Store(db).open().close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert plain_text_is_current(conn) > 100, "rows stored before plain text existed got it from their bodies"
    word = conn.execute("SELECT body_text FROM confluence_pages WHERE body_text IS NOT NULL").fetchone()[0].split()[0]
    hits = conn.execute(
        "SELECT COUNT(*) FROM confluence_pages_fts WHERE confluence_pages_fts MATCH ?", (f'"{word}"',)
    ).fetchone()[0]
    assert hits > 0, "full-text search covers the rows stored before it existed"
    issue_key = conn.execute("SELECT key FROM jira_issues_view LIMIT 1").fetchone()[0]
    assert issue_key
    conn.close()

    async with Simulator(SimConfig(scale="tiny", seed=8)) as sim:
        assert restore_attachment_folder(sim, db, tmp_path / "blobs") > 20
        change_a_share(sim, 0.2, seed=3)
        nightly = await run_sync(sim, tmp_path)  # the first night after the upgrade: incremental, as always
        assert nightly.status == "ok", nightly.errors
        want, got = expected(sim), stored(db)
        assert {t: {r[0] for r in rows} for t, rows in got.items()} == {
            t: {r[0] for r in rows} for t, rows in want.items()
        }, "the incremental run found every addition and deletion from the old version's checkpoints"
        # Exact in every column once relisted whole: unchanged versions are not fetched again, so a
        # simulator whose generated data has moved on since the file was made would show here, not above.
        assert (await run_sync(sim, tmp_path, full=True)).status == "ok"
        assert differences(expected(sim), stored(db)) == {}
    conn = sqlite3.connect(db)
    assert plain_text_is_current(conn) > 100
    assert conn.execute(
        "SELECT COUNT(*) FROM jira_attachments WHERE sha256 IS NULL AND deleted_at IS NULL"
    ).fetchone() == (0,), "bytes the old version failed to fetch are fetched"
    assert conn.execute("SELECT status FROM sync_runs ORDER BY id").fetchall() == [("partial",), ("ok",), ("ok",)]


def test_an_upgraded_database_has_the_same_schema_as_a_new_one(tmp_path):
    upgraded = old_database(tmp_path)
    Store(upgraded).open().close()
    fresh = tmp_path / "fresh.db"
    Store(fresh).open().close()
    assert schema_of(upgraded) == schema_of(fresh)


def test_a_changed_view_is_rebuilt_on_open(tmp_path):
    db = tmp_path / "a.db"
    Store(db).open().close()
    conn = sqlite3.connect(db)
    conn.execute("DROP VIEW jira_issues_view")
    conn.execute("CREATE VIEW jira_issues_view AS SELECT id FROM jira_issues")
    conn.close()
    Store(db).open().close()
    columns = [r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(jira_issues_view)")]
    assert "project_key" in columns and "description_text" in columns


def test_opening_twice_changes_nothing(tmp_path):
    db = tmp_path / "a.db"
    Store(db).open().close()
    before = schema_of(db), sqlite3.connect(db).execute("PRAGMA schema_version").fetchone()
    Store(db).open().close()
    assert (schema_of(db), sqlite3.connect(db).execute("PRAGMA schema_version").fetchone()) == before
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)


@pytest.mark.parametrize("pinned", sorted((Path(__file__).parent / "data").glob("schema-v*.sql")), ids=lambda p: p.stem)
def test_shipped_steps_never_change(pinned):
    """Databases in the field have run these steps: editing one (say, a column added to SCHEMA) would never
    reach them. A change to the schema is a new step at the end of store.MIGRATIONS."""
    version = int(pinned.stem.removeprefix("schema-v"))
    conn = sqlite3.connect(":memory:")
    for step in MIGRATIONS[:version]:
        step(conn)
    made = conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    schema = sorted(sql for name, sql in made if "_fts_" not in name)  # FTS5's own tables vary with SQLite
    assert ";\n".join(schema) + ";\n" == pinned.read_text(), (
        f"steps 1-{version} no longer make the schema they shipped with: undo the edit and append a new step"
    )


def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path):
    db = tmp_path / "newer.db"
    Store(db).open().close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(ConfigError, match=r"newer version of atlassian-to-sqlite.*upgrade"):
        Store(db).open()
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS) + 1,)


def test_a_failing_step_leaves_the_database_at_the_version_before(tmp_path, monkeypatch):
    db = tmp_path / "a.db"
    Store(db).open().close()

    def half_done(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE jira_issues ADD COLUMN half TEXT")
        raise sqlite3.OperationalError("no such function: something_missing")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, half_done])
    with pytest.raises(ConfigError):
        Store(db).open()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    assert "half" not in {r[1] for r in conn.execute("PRAGMA table_info(jira_issues)")}


KILLED_IN_THE_BACKFILL = """
import os, signal, sys
from pathlib import Path
from pipeline import store
backfill = store.MIGRATIONS[2]
def then_die(conn):
    backfill(conn)  # the columns are added and filled, not yet committed
    os.kill(os.getpid(), signal.SIGKILL)
store.MIGRATIONS[2] = then_die
store.Store(Path(sys.argv[1])).open()
"""


def test_an_upgrade_killed_mid_step_resumes_from_the_last_committed_step(tmp_path):
    db = old_database(tmp_path)
    repo = Path(__file__).resolve().parent.parent
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_IN_THE_BACKFILL, str(db)],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == -9, killed.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (2,), "steps 1 and 2 committed, step 3 did not"
    assert "body_text" not in {r[1] for r in conn.execute("PRAGMA table_info(confluence_pages)")}
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    Store(db).open().close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    assert plain_text_is_current(conn) > 100


def test_a_row_with_a_column_the_table_lacks_is_a_programming_error(tmp_path):
    store = Store(tmp_path / "a.db").open()
    row = {"id": "1", "title": "Plan", "colour": "red"}
    with pytest.raises(UnknownColumn, match="confluence_pages has no column colour"):
        store.write(Batch("confluence_pages", [row], state={"k": "v"}))
    later = [{"id": "2", "title": "a"}, {"id": "3", "title": "b", "colour": "red"}]
    with pytest.raises(UnknownColumn, match="colour"):
        store.write(Batch("confluence_pages", later))
    uneven = [{"id": "4", "title": "a"}, {"id": "5", "status": "current"}]  # status would be dropped, title nulled
    with pytest.raises(UnknownColumn, match="differ in their columns"):
        store.write(Batch("confluence_pages", uneven))
    assert store.conn.execute("SELECT COUNT(*) FROM confluence_pages").fetchone() == (0,)
    assert store.state("k") is None
    store.close()


def test_times_stored_by_older_versions_are_restamped_in_the_one_format_without_history(tmp_path):
    db = tmp_path / "old-times.db"
    Store(db).open().close()
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO confluence_pages (id, title, created_at, updated_at) VALUES "
        "('1', 'p', '2026-05-27T07:09:12Z', 'not a time')"
    )
    conn.execute("INSERT INTO jira_issues (id, key, created) VALUES ('2', 'A-1', '2024-05-01T03:00:00.000-0700')")
    conn.execute("PRAGMA user_version = 6")  # as a version before one format was kept everywhere left it
    conn.commit()
    spans = conn.execute("SELECT COUNT(*) FROM history").fetchone()
    conn.close()
    Store(db).open().close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT created_at, updated_at FROM confluence_pages").fetchone() == (
            "2026-05-27T07:09:12.000Z",
            None,
        )
        assert conn.execute("SELECT created FROM jira_issues").fetchone() == ("2024-05-01T10:00:00.000Z",)
        assert conn.execute("SELECT COUNT(*) FROM history").fetchone() == spans, "a restamp is no past state"
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 7
    finally:
        conn.close()
