"""Every past state: a week of simulated nights with edits, deletions and restores, then `show --as-of` each
night's time must give exactly what the store held that night, for every row of every table."""

from __future__ import annotations

import sqlite3

from click.testing import CliRunner
from helpers import change_a_share, run_sync

from pipeline import history
from pipeline.cli import main
from pipeline.report import render, summarize
from pipeline.store import Store, now_iso


def snapshot(db) -> dict[str, dict[str, dict]]:
    """Every row of every table history covers, as the store holds it now."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return {
            table: {
                "/".join(str(r[k]) for k in keys): {k: r[k] for k in r.keys() if k not in history.left_out()}  # noqa: SIM118
                for r in conn.execute(f"SELECT * FROM {table}")
            }
            for table, keys in history.tracked_tables(conn).items()
        }
    finally:
        conn.close()


def night(sim, n: int, trashed: list[str]) -> None:
    """The day's changes: a share of everything, a page moved to the trash, yesterday's trashed page back."""
    change_a_share(sim, 0.05, seed=n)
    for page_id in trashed:
        sim.confluence_changes.set_status(page_id, "current")  # restored from the trash
    trashed.clear()
    page = [p for p in sim.confluence.contents("page") if p["status"] == "current"][n]
    sim.confluence_changes.set_status(page["id"], "trashed")
    trashed.append(page["id"])
    issue = [i for i in sim.jira.all_issue_ids() if sim.jira.issue(i)][n]
    sim.jira_changes.edit_issue(issue, status="Done", summary=f"night {n}")


async def test_as_of_gives_each_nights_state_exactly(sim, tmp_path):
    db = tmp_path / "atlassian.db"
    nights: list[tuple[str, dict]] = []
    trashed: list[str] = []
    for n in range(7):
        if n:
            night(sim, n, trashed)
        result = await run_sync(sim, tmp_path)
        assert result.status == "ok"
        nights.append((now_iso(), snapshot(db)))
    conn = sqlite3.connect(db)
    restored = conn.execute(
        "SELECT COUNT(DISTINCT id) FROM history WHERE table_name = 'confluence_pages' "
        "AND json_extract(row, '$.deleted_at') IS NOT NULL"
    ).fetchone()[0]
    assert restored >= 5, "pages came back from the trash, and their deleted state is kept"
    ids = {t: set().union(*(s[t] for _, s in nights)) for t in nights[-1][1]}
    changed = 0
    for when, held in nights:
        for table, table_ids in ids.items():
            for row_id in table_ids:
                state = history.state_at(conn, table, row_id, when)
                assert (state.row if state else None) == held[table].get(row_id), (when, table, row_id)
                changed += state is not None and state.valid_to is not None
    assert changed > 100, "most checks read a past state, not the live row"
    conn.close()


async def test_a_night_without_changes_writes_no_history(sim, tmp_path):
    await run_sync(sim, tmp_path)
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    before = conn.execute("SELECT * FROM history ORDER BY 1, 2, 3").fetchall()
    sweeps = conn.execute("SELECT MAX(seen_sweep) FROM confluence_pages").fetchone()[0]
    await run_sync(sim, tmp_path, full=True)  # lists and rewrites bookkeeping on every row
    assert conn.execute("SELECT MAX(seen_sweep) FROM confluence_pages").fetchone()[0] != sweeps
    assert conn.execute("SELECT * FROM history ORDER BY 1, 2, 3").fetchall() == before
    assert all(r[3] is None and r[4] is None for r in before), "only current spans: no row has a past yet"


async def test_show_an_edited_deleted_and_restored_page_and_issue(sim, tmp_path):
    db = str(tmp_path / "atlassian.db")
    page = next(p for p in sim.confluence.contents("page") if p["status"] == "current")
    issue_key = sim.jira.issue(sim.jira.all_issue_ids()[0])["key"]
    await run_sync(sim, tmp_path)
    first = now_iso()
    sim.confluence_changes.edit(page["id"], title="Second title", body="<p>second body</p>")
    sim.jira_changes.edit_issue(issue_key, summary="Second summary")
    await run_sync(sim, tmp_path)
    second = now_iso()
    sim.confluence_changes.set_status(page["id"], "trashed")
    await run_sync(sim, tmp_path)
    third = now_iso()
    sim.confluence_changes.set_status(page["id"], "current")
    await run_sync(sim, tmp_path)

    runner = CliRunner()

    def show(*args: str) -> str:
        result = runner.invoke(main, ["show", *args, "--db", db])
        assert result.exit_code == 0, result.output
        return result.output

    assert f"title: {page['title']}" in show("page", page["id"], "--as-of", first)
    assert "title: Second title" in show("page", page["id"], "--as-of", second) and "second body" in show(
        "page", page["id"], "--as-of", second
    )
    assert "(DELETED)" in show("page", page["id"], "--as-of", third)
    now = show("page", page["id"])
    assert "(DELETED)" not in now and "until now" in now
    assert [line.split(" held ")[0] for line in show("page", page["id"], "--versions").splitlines() if " held " in line]
    assert show("page", page["id"], "--versions").count(" held from ") == 4
    assert show("page", page["id"], "--run", "2") == show("page", page["id"], "--as-of", second)
    assert "(DELETED)" in show("page", page["id"], "--run", "3")
    assert "summary: Second summary" not in show("issue", issue_key, "--as-of", first)
    assert "summary: Second summary" in show("issue", issue_key, "--as-of", second)
    before = runner.invoke(main, ["show", "page", page["id"], "--db", db, "--as-of", "2001-01-01"])
    assert before.exit_code == 1 and "held no page" in before.output
    bad = runner.invoke(main, ["show", "page", page["id"], "--db", db, "--as-of", "last tuesday"])
    assert bad.exit_code == 1 and "not a date or time" in bad.output


async def test_report_lists_what_the_last_run_deleted_and_how_to_see_it(sim, tmp_path):
    await run_sync(sim, tmp_path)
    change_a_share(sim, 0.1, seed=5)
    result = await run_sync(sim, tmp_path)
    deleted = sum(c["deleted"] for c in result.counts.values())
    summary = summarize(tmp_path / "atlassian.db")
    rows = summary["last_run"]["deleted_rows"]
    assert len(rows) == deleted > 0
    text = render(summary, "text")
    past = sum(c["updated"] + c["deleted"] + c["restored"] for c in result.counts.values() if c)
    assert (
        summary["history"]["past_states"] >= past > 0 and f"History: {summary['history']['past_states']:,} past" in text
    )
    example = rows[0]
    assert example["show"] in text
    kind, row_id = example["show"].split()[2:4]
    shown = CliRunner().invoke(main, ["show", kind, row_id, "--versions", "--db", str(tmp_path / "atlassian.db")])
    assert shown.exit_code == 0 and "(DELETED)" in shown.output


def test_rows_stored_before_history_was_kept_count_as_held_since_before(tmp_path):
    db = tmp_path / "old.db"
    store = Store(db).open()
    store.conn.execute("INSERT INTO confluence_pages(id, title) VALUES ('1', 'old page')")
    for (name,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'history%'"):
        store.conn.execute(f"DROP TRIGGER [{name}]")
    store.conn.execute("DROP TABLE history")
    store.conn.execute("INSERT INTO confluence_pages(id, title) VALUES ('2', 'also old')")
    store.close()
    store = Store(db).open()  # an older store, opened by this version
    store.conn.execute("UPDATE confluence_pages SET title = 'new title' WHERE id = '1'")
    state = history.state_at(store.conn, "confluence_pages", "1", "2001-01-01T00:00:00.000Z")
    assert state.row["title"] == "old page" and state.valid_from == ""
    assert history.state_at(store.conn, "confluence_pages", "2", "2001-01-01T00:00:00.000Z").row["title"] == "also old"
    assert history.state_at(store.conn, "confluence_pages", "1").row["title"] == "new title"
    store.close()


def test_tables_added_later_are_covered_without_a_list(tmp_path):
    store = Store(tmp_path / "a.db").open()
    store.conn.execute("CREATE TABLE confluence_later_things (id TEXT PRIMARY KEY, title TEXT, seen_sweep INTEGER)")
    store.conn.execute("INSERT INTO confluence_later_things VALUES ('7', 'first', 1)")
    store.close()
    store = Store(tmp_path / "a.db").open()  # a later version's table, met on open
    store.conn.execute("UPDATE confluence_later_things SET seen_sweep = 2")  # bookkeeping: no new state
    assert len(history.versions(store.conn, "confluence_later_things", "7")) == 1
    store.conn.execute("UPDATE confluence_later_things SET title = 'second'")
    states = history.versions(store.conn, "confluence_later_things", "7")
    assert [s.row["title"] for s in states] == ["first", "second"]
    store.close()


def test_a_table_keyed_by_another_column_is_covered_and_shown(tmp_path):
    db = tmp_path / "a.db"
    store = Store(db).open()  # confluence_users is keyed by account_id
    store.conn.execute("INSERT INTO confluence_users(account_id, display_name) VALUES ('557058:abc', 'Ada')")
    stamp = store.conn.execute("SELECT valid_from FROM history WHERE id = '557058:abc'").fetchone()[0]
    store.conn.execute("UPDATE history SET valid_from = '2026-01-01T00:00:00.000Z' WHERE valid_from = ?", (stamp,))
    store.conn.execute("UPDATE confluence_users SET display_name = 'Ada Lovelace'")
    store.close()
    runner = CliRunner()
    then = runner.invoke(main, ["show", "confluence_users", "557058:abc", "--as-of", "2026-01-02", "--db", str(db)])
    assert then.exit_code == 0 and "name: Ada" in then.output and "Lovelace" not in then.output, then.output
    now = runner.invoke(main, ["show", "confluence_users", "557058:abc", "--db", str(db)])
    assert "Ada Lovelace" in now.output


def test_opening_a_store_whose_history_is_current_writes_nothing(tmp_path):
    """A second sync must reach the lock's clear refusal, not wait on the first one's write lock."""
    db = tmp_path / "a.db"
    Store(db).open().close()
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a sync in the middle of a transaction
    try:
        opened = Store(db).open()
        assert history.up_to_date(opened.conn)
        opened.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_show_on_a_store_without_history_says_so(tmp_path):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE confluence_pages (id TEXT PRIMARY KEY, title TEXT)")
    conn.close()
    result = CliRunner().invoke(main, ["show", "page", "1", "--db", str(db)])
    assert result.exit_code == 1 and "keeps no history yet" in result.output


def test_show_page_as_of_gives_the_labels_it_had_then(tmp_path):
    """Label pairs are keyed by two columns (content_id, label_id): history keeps them as content_id/label_id."""
    db = tmp_path / "a.db"
    store = Store(db).open()
    conn = store.conn
    conn.execute("INSERT INTO confluence_pages(id, title) VALUES ('1', 'Runbook')")
    conn.execute("INSERT INTO confluence_labels(id, name) VALUES ('7', 'ops'), ('8', 'draft'), ('9', 'approved')")
    conn.execute(
        "INSERT INTO confluence_content_labels(content_id, label_id, content_type) "
        "VALUES ('1', '7', 'page'), ('1', '8', 'page')"
    )
    conn.execute("UPDATE history SET valid_from = '2026-01-01T00:00:00.000Z'")  # all of it held since New Year
    conn.execute("DELETE FROM confluence_content_labels WHERE content_id = '1' AND label_id = '8'")
    conn.execute("INSERT INTO confluence_content_labels(content_id, label_id, content_type) VALUES ('1', '9', 'page')")
    assert history.state_at(conn, "confluence_content_labels", "1/8", "2026-01-02T00:00:00.000Z").row == {
        "content_id": "1",
        "label_id": "8",
        "content_type": "page",
    }
    store.close()
    runner = CliRunner()
    then = runner.invoke(main, ["show", "page", "1", "--as-of", "2026-01-02", "--db", str(db)])
    assert then.exit_code == 0 and "labels: draft, ops\n" in then.output, then.output
    now = runner.invoke(main, ["show", "page", "1", "--db", str(db)])
    assert "labels: approved, ops\n" in now.output, now.output
