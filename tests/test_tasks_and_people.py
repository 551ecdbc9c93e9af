"""Inline tasks, incremental by date and by changed page; people named once, refreshed weekly; views show names."""

from __future__ import annotations

import sqlite3

from expected import differences, expected, stored
from helpers import run_sync

from pipeline.scopes import ALL_READ_SCOPES
from pipeline.simulator.dataset import PEOPLE
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator


def confluence_differences(sim, db) -> dict:
    return {t: d for t, d in differences(expected(sim), stored(db)).items() if t.startswith("confluence")}


def requests_to(sim, suffix: str) -> list:
    return [e for e in sim.log.gateway() if e.path.endswith(suffix)]


async def test_tasks_added_ticked_off_removed_and_trashed_with_their_page_are_all_found(tmp_path):
    async with Simulator(SimConfig(scale="small", seed=4)) as sim:
        await run_sync(sim, tmp_path, products=("confluence",))
        tasks = sim.tasks.tasks()
        open_task = next(t for t in tasks if t["status"] == "incomplete")
        removed = next(t for t in tasks if t["_container"] != open_task["_container"])
        page = next(
            p["id"]
            for p in sim.confluence.contents("page")
            if p["status"] == "current" and p["id"] not in {open_task["_container"], removed["_container"]}
        )
        trashed = next(
            t["_container"]
            for t in tasks
            if t["_container"] not in {open_task["_container"], removed["_container"], page}
            and sim.confluence.kind_of(t["_container"]) == "page"
        )
        version = sim.confluence.content(open_task["_container"])["version"]["number"]
        sim.people_changes.complete_task(open_task["id"])
        assert sim.confluence.content(open_task["_container"])["version"]["number"] == version, "no page version"
        added = sim.people_changes.add_task(page, assignee=PEOPLE[5])
        sim.people_changes.remove_task(removed["id"])
        sim.confluence_changes.set_status(trashed, "trashed")
        sim.log.clear()
        result = await run_sync(sim, tmp_path, products=("confluence",))
        assert result.status == "ok", result.errors
        assert confluence_differences(sim, tmp_path / "atlassian.db") == {}
        asked = requests_to(sim, "/tasks")
    queries = [e.query for e in asked]
    assert len(asked) == 3, queries  # created since the mark, completed since the mark, the two edited pages
    assert sum("page-id=" in q for q in queries) == 1
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert conn.execute("SELECT status FROM confluence_tasks WHERE id = ?", (open_task["id"],)).fetchone() == (
        "complete",
    )
    assert conn.execute(
        "SELECT deleted_at IS NOT NULL FROM confluence_tasks WHERE id = ?", (removed["id"],)
    ).fetchone() == (1,)
    gone = conn.execute(
        "SELECT COUNT(*) FROM confluence_tasks WHERE container_id = ? AND deleted_at IS NOT NULL", (trashed,)
    ).fetchone()[0]
    assert gone > 0, "a trashed page's tasks are gone with it"
    view = conn.execute("SELECT assignee, creator FROM confluence_tasks_view WHERE id = ?", (added["id"],)).fetchone()
    names = {p: n for p, n in conn.execute("SELECT account_id, display_name FROM confluence_users")}
    assert view == (names[PEOPLE[5]], names[PEOPLE[2]]) and all(view), "the view shows names, not ids"


async def test_people_are_asked_for_once_and_again_only_after_a_week(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=4)) as sim:
        await run_sync(sim, tmp_path, products=("confluence",))
        first = requests_to(sim, "/users-bulk")
        conn = sqlite3.connect(tmp_path / "atlassian.db")
        known = conn.execute("SELECT COUNT(*) FROM confluence_users").fetchone()[0]
        task = sim.tasks.tasks()[0]
        sim.people_changes.add_task(task["_container"], assignee="5b10ac8d82e05b22cc7dffff")  # a removed account
        sim.log.clear()
        await run_sync(sim, tmp_path, products=("confluence",))
        second = requests_to(sim, "/users-bulk")
        conn.execute(
            "UPDATE confluence_users SET refreshed_at = '2020-01-01T00:00:00.000Z' WHERE account_id = ?", (PEOPLE[0],)
        )
        conn.commit()
        sim.log.clear()
        await run_sync(sim, tmp_path, products=("confluence",))
        third = requests_to(sim, "/users-bulk")
        refreshed = conn.execute(
            "SELECT refreshed_at FROM confluence_users WHERE account_id = ?", (PEOPLE[0],)
        ).fetchone()[0]
        past = conn.execute(
            "SELECT COUNT(*) FROM history WHERE table_name = 'confluence_users' AND valid_to IS NOT NULL"
        ).fetchone()[0]
        unknown = conn.execute(
            "SELECT account_status, display_name FROM confluence_users WHERE account_id = '5b10ac8d82e05b22cc7dffff'"
        ).fetchone()
        assert confluence_differences(sim, tmp_path / "atlassian.db") == {}
    assert len(first) == 1 and known == len(PEOPLE), "every person mentioned, 250 a request"
    assert len(second) == 1, "only the id never seen before"
    assert unknown == ("unknown", None), "an id the site does not know is remembered, not asked nightly"
    assert len(third) == 1, "a week-old name is refreshed"
    assert refreshed > "2020-01-01T00:00:00.000Z", "the refresh is remembered, so it is not asked again tomorrow"
    assert past == 0, "a refresh that changed nothing keeps no past state"


async def test_a_token_without_the_task_and_user_scopes_still_syncs_the_rest(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=4)) as sim:
        token = sim.tokens.add_token(scopes=ALL_READ_SCOPES - {"read:task:confluence", "read:user:confluence"})
        result = await run_sync(sim, tmp_path, environ={"ATLASSIAN_TOKEN": token}, products=("confluence",))
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
    failed = {e.stream: e.message for e in result.errors}
    assert set(failed) == {"confluence tasks", "confluence people"}, failed
    assert (
        "read:task:confluence" in failed["confluence tasks"] and "read:user:confluence" in failed["confluence people"]
    )
    for table in ("confluence_pages", "confluence_versions", "confluence_folders", "confluence_comments"):
        assert got[table] == want[table], table


def test_an_older_file_gets_the_views_with_names_and_an_up_to_date_one_is_left_alone(tmp_path):
    from pipeline.store import Store

    db = tmp_path / "old.db"
    Store(db).open().close()
    conn = sqlite3.connect(db)
    conn.executescript(
        "DROP VIEW confluence_pages_view; CREATE VIEW confluence_pages_view AS SELECT id, title FROM confluence_pages;"
    )
    conn.close()
    Store(db).open().close()
    conn = sqlite3.connect(db)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(confluence_pages_view)")]
    before = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.close()
    assert "author" in columns
    Store(db).open().close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA schema_version").fetchone()[0] == before, "nothing recreated the second time"
    conn.close()


async def test_a_known_person_left_out_of_a_later_answer_keeps_their_name_and_history_stays_quiet(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=4)) as sim:
        await run_sync(sim, tmp_path, products=("confluence",))
        conn = sqlite3.connect(tmp_path / "atlassian.db")
        named = conn.execute(
            "SELECT display_name, account_type FROM confluence_users WHERE account_id = ?", (PEOPLE[0],)
        ).fetchone()
        conn.execute("UPDATE confluence_users SET refreshed_at = '2020-01-01T00:00:00.000Z'")
        conn.commit()
        spans = conn.execute("SELECT COUNT(*) FROM history WHERE table_name = 'confluence_users'").fetchone()[0]
        sim.troubles.unreturned_people.add(PEOPLE[0])
        await run_sync(sim, tmp_path, products=("confluence",))
        after = conn.execute(
            "SELECT display_name, account_type, account_status, refreshed_at > '2021' FROM confluence_users "
            "WHERE account_id = ?",
            (PEOPLE[0],),
        ).fetchone()
        history = conn.execute("SELECT id FROM history WHERE table_name = 'confluence_users' ORDER BY id").fetchall()
        conn.close()
    assert named[0] and after == (*named, "unknown", 1), "the name stays; only the bookkeeping moves"
    assert len(history) == spans + 1, "one new span, for the account now unknown; none for a weekly refresh"
