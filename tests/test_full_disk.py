"""A full disk ends a sync with one clean line, whichever write meets it: SQLite's own or the blob writer's.

SQLite really runs out of room here: `PRAGMA max_page_count` caps the file, and a filler table takes every
free page, so SQLite itself answers SQLITE_FULL ("database or disk is full"), as on a full disk.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import run_sync, sync_cli_args

from pipeline import blobs as blobs_module
from pipeline import store as store_module
from pipeline.blobs import BlobStore
from pipeline.cli import main
from pipeline.errors import ConfigError, DiskFull
from pipeline.store import Store


def fill_up(conn: sqlite3.Connection) -> None:
    """Let the file grow no more, and take every free page: the next write that needs a page fails."""
    conn.execute("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    for size in (3000, 300, 30):
        try:
            while True:
                conn.execute("INSERT INTO filler VALUES (zeroblob(?))", (size,))
        except sqlite3.OperationalError as error:
            assert "full" in str(error)
    assert conn.execute("PRAGMA freelist_count").fetchone() == (0,)


def add_run_history(conn: sqlite3.Connection, runs: int = 8) -> None:
    """Earlier runs whose rows fill the pages of sync_runs, as a long history does."""
    for _ in range(runs):
        conn.execute(
            "INSERT INTO sync_runs(started_at, finished_at, status, options) VALUES ('x', 'x', 'ok', ?)",
            ("o" * 1950,),
        )


def test_starting_a_run_on_a_full_disk_is_disk_full(tmp_path):
    store = Store(tmp_path / "a.db").open()
    add_run_history(store.conn)
    fill_up(store.conn)
    with pytest.raises(DiskFull, match="is full: free some space"):
        store.start_run({"site": "x" * 2000})
    assert store.conn.execute("SELECT COUNT(*) FROM sync_runs WHERE status = 'running'").fetchone() == (0,)
    store.close()


def test_finishing_a_run_on_a_full_disk_still_records_that_it_failed(tmp_path):
    store = Store(tmp_path / "a.db").open()
    run = store.start_run({"site": "x"})
    fill_up(store.conn)
    errors = [{"stream": f"part {i}", "message": "m" * 400} for i in range(20)]  # needs pages it cannot get
    with pytest.raises(DiskFull, match="is full"):
        store.finish_run(run, "partial", {"requests": 1}, errors)
    status, finished = store.conn.execute("SELECT status, finished_at FROM sync_runs WHERE id = ?", (run,)).fetchone()
    assert status == "failed" and finished, "the short record fits where the full one did not"
    store.close()


def test_the_sync_lock_holds_when_the_disk_is_too_full_to_write_the_pid(tmp_path, monkeypatch):
    def no_space(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    first = Store(tmp_path / "a.db").open()
    monkeypatch.setattr(store_module.os, "pwrite", no_space)
    first.lock()
    with pytest.raises(ConfigError, match="another sync is already writing"):
        Store(tmp_path / "a.db").open().lock()
    first.close()


def test_the_cli_says_the_disk_is_full_in_one_line_when_even_the_run_row_cannot_be_written(
    threaded_sim, tmp_path, monkeypatch
):
    real_open = Store.open

    def open_on_a_full_disk(self):
        real_open(self)
        add_run_history(self.conn)
        fill_up(self.conn)
        return self

    monkeypatch.setattr(Store, "open", open_on_a_full_disk)
    env = {k: None for k in os.environ if k.startswith("ATLASSIAN_")} | {"ATLASSIAN_TOKEN": threaded_sim.token}
    result = CliRunner().invoke(main, sync_cli_args(threaded_sim, tmp_path), env=env)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the disk holding"), result.stderr
    assert "Traceback" not in result.output
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert conn.execute("SELECT COUNT(*) FROM sync_runs WHERE status = 'running'").fetchone() == (0,)


def test_the_cli_says_the_disk_is_full_when_it_fills_during_the_sync(threaded_sim, tmp_path, monkeypatch):
    real_open = Store.open

    def open_nearly_full(self):
        real_open(self)
        self.conn.execute(f"PRAGMA max_page_count = {self.conn.execute('PRAGMA page_count').fetchone()[0] + 20}")
        return self

    monkeypatch.setattr(Store, "open", open_nearly_full)
    env = {k: None for k in os.environ if k.startswith("ATLASSIAN_")} | {"ATLASSIAN_TOKEN": threaded_sim.token}
    result = CliRunner().invoke(main, sync_cli_args(threaded_sim, tmp_path), env=env)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        line for line in result.stderr.splitlines() if "disk holding" in line
    ]
    assert "Traceback" not in result.output
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert conn.execute("SELECT status FROM sync_runs").fetchall() == [("failed",)]
    assert conn.execute("SELECT COUNT(*) FROM confluence_spaces").fetchone()[0] > 0, "what was committed is kept"


@pytest.mark.parametrize("where", ["os.replace", "os.fsync", "mkdir", "open"])
def test_enospc_anywhere_in_the_blob_writer_is_disk_full_and_leaves_no_temporary_file(tmp_path, monkeypatch, where):
    store = BlobStore(tmp_path / "blobs")
    store.prepare()
    writer = store.writer()
    writer.write(b"some bytes")

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "os.replace":
        monkeypatch.setattr(blobs_module.os, "replace", no_space)
    elif where == "os.fsync":
        monkeypatch.setattr(blobs_module.os, "fsync", no_space)
    elif where == "mkdir":
        monkeypatch.setattr(Path, "mkdir", no_space)
    else:
        monkeypatch.setattr(blobs_module, "open", no_space, raising=False)
    with pytest.raises(DiskFull, match="is full: free some space"):
        if where == "open":
            writer.reset()
        else:
            writer.commit(len(b"some bytes"))
    monkeypatch.undo()
    assert not [p for p in store.partial.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert not list((tmp_path / "blobs").glob("??/*"))
    store.close()


async def test_a_full_disk_before_any_download_is_said_so(sim, tmp_path, monkeypatch):
    real_open = os.open

    def no_space_for_new_files(path, flags, *args):
        if flags & os.O_CREAT and str(path).startswith(str(tmp_path / "blobs")):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, flags, *args)

    monkeypatch.setattr(blobs_module.os, "open", no_space_for_new_files)
    with pytest.raises(DiskFull, match="blobs is full: free some space"):
        await run_sync(sim, tmp_path)
