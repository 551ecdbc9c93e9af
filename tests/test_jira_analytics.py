"""Jira for analysts: people, dimensions, links, field history, sprints and boards, worklogs, archives.

Exactness of every table is checked by tests/expected.py in the full and incremental sync tests; these
tests check what those cannot see: the shapes that make it hard, the incremental budget, the refused
agile API, archived projects and issues search drops, and the views.
"""

from __future__ import annotations

import sqlite3
import time

import orjson
from expected import differences, expected, stored
from helpers import run_sync

from pipeline.budget import incremental_requests
from pipeline.doctor import diagnose, failed
from pipeline.report import render, summarize
from pipeline.scopes import AGILE_OPERATIONS, ALL_READ_SCOPES
from pipeline.simulator import jira_catalog as catalog
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator

AGILE_SCOPES = {s for op in AGILE_OPERATIONS for scopes in op.scope_sets for s in scopes} - {"read:project:jira"}


def settle(sim: Simulator, seconds: float = 120) -> None:
    """Let the simulator's clock run ahead: worklog/updated leaves out the last minute's changes."""
    sim.overlay.clock = lambda: time.time() + seconds


async def test_history_past_100_numeric_times_people_without_email_and_links_once(sim, tmp_path):
    result = await run_sync(sim, tmp_path)
    assert result.status == "ok", result.errors
    bulkfetches = [e for e in sim.log.gateway() if e.path.endswith("/issue/bulkfetch")]
    histories = [e for e in sim.log.gateway() if e.path.endswith("/changelog/bulkfetch")]
    assert len(bulkfetches) == 2 and len(histories) == 1, "one history request for both projects' bulkfetches"
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    longest = conn.execute("SELECT COUNT(*) FROM jira_changelogs GROUP BY issue_id ORDER BY 1 DESC").fetchone()[0]
    assert longest > 100, "histories are paged, not cut at 100"
    raw_created = orjson.loads(conn.execute("SELECT raw FROM jira_changelogs").fetchone()[0])["created"]
    assert isinstance(raw_created, int), "the simulator sends epoch milliseconds, as live sites do"
    odd = "SELECT COUNT(*) FROM jira_issue_field_history WHERE changed_at NOT LIKE '____-__-__T__:__:__.___Z'"
    assert conn.execute(odd).fetchone() == (0,), "numeric changelog times stored as ISO-8601 UTC"
    users = dict(conn.execute("SELECT account_id, email_address FROM jira_users"))
    assert set(catalog.LISTED_PEOPLE) < set(users), "listed people, and the unlisted ones the issues name"
    hidden = [a for a in users if not catalog.has_email(a)]
    assert hidden and all(users[a] is None for a in hidden), "no email where the API gives none"
    links = conn.execute("SELECT id, inward_issue_id, outward_issue_id FROM jira_issue_links").fetchall()
    assert links and len({row[0] for row in links}) == len(links)
    for link_id, inward, outward in links:  # each end shows the link: stored once, ends the right way round
        model = sim.jira.link(link_id)
        assert (inward, outward) == (model["inward"], model["outward"])


async def test_an_incremental_run_after_sprint_status_link_and_worklog_changes_is_exact_and_within_budget(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=3)) as sim:
        assert (await run_sync(sim, tmp_path, products=("jira",))).status == "ok"
        j, change = sim.jira, sim.jira_changes
        issues = [j.issue(i) for i in j.all_issue_ids()]
        board_issues = [i for i in issues if catalog.sprint_ids(catalog.project_index(i["_project"]))]
        active = next(s for s in catalog.sprint_ids(0) if j.sprint(s)["state"] == "active")
        future = next(s for s in catalog.sprint_ids(0) if j.sprint(s)["state"] == "future")
        change.close_sprint(active)
        change.move_to_sprint(board_issues[1]["id"], future)
        change.transition(board_issues[2]["id"], "Done" if board_issues[2]["status"] != "Done" else "To Do")
        change.add_link(board_issues[3]["id"], issues[-1]["id"], "10002")
        added = change.add_child("worklog", board_issues[4]["id"], timeSpentSeconds=5400)
        gone = j.worklog_changes()[0][1]
        gone_from = j.child("worklog", gone)["_issue"]
        change.delete_child("worklog", gone)
        settle(sim)
        sim.log.clear()
        result = await run_sync(sim, tmp_path, products=("jira",))
        assert result.status == "ok", result.errors
        jira = lambda tables: {k: v for k, v in tables.items() if k.startswith("jira_")}  # noqa: E731
        assert differences(jira(expected(sim)), jira(stored(tmp_path / "atlassian.db"))) == {}
        made = len(sim.log.gateway())
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert conn.execute("SELECT state FROM jira_sprints WHERE id = ?", (str(active),)).fetchone() == ("closed",)
    assert conn.execute("SELECT deleted_at IS NOT NULL FROM jira_worklogs WHERE id = ?", (gone,)).fetchone() == (1,)
    assert conn.execute("SELECT time_spent_seconds FROM jira_worklogs WHERE id = ?", (added["id"],)).fetchone()
    counts = result.counts
    assert counts["jira_issue_links"]["inserted"] == 1 and counts["jira_worklogs"]["deleted"] == 1
    # the README's budget for an incremental run: the listings read whole every run, then what changed
    changed = {board_issues[k]["id"] for k in (1, 2, 3, 4)} | {issues[-1]["id"], gone_from}
    busy = sum(1 for i in changed if len(j.children("comment", i)) > 20)  # comments beyond the inline 20
    budget = incremental_requests(
        projects=2,
        archived=1,
        boards=1,
        changed_issues=len(changed),
        busy_issues=busy,
        changed_worklogs=1,
        user_pages=3,  # the simulator serves 4 people, 2 resolutions and 2 sprints a page
        resolution_pages=2,
        sprint_pages=3,
    )
    assert made <= budget, (made, budget)


async def test_a_refused_agile_api_is_a_named_gap_and_sprints_still_come_from_the_issues(sim, tmp_path):
    token = sim.tokens.add_token(scopes=ALL_READ_SCOPES - AGILE_SCOPES)
    result = await run_sync(sim, tmp_path, environ={"ATLASSIAN_TOKEN": token})
    assert result.status == "ok" and result.exit_code == 0, result.errors
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    gap = orjson.loads(conn.execute("SELECT value FROM sync_state WHERE stream = 'jira:gaps:agile'").fetchone()[0])
    assert "read:board-scope:jira-software" in gap["message"]
    assert conn.execute("SELECT COUNT(*) FROM jira_boards").fetchone() == (0,)
    with_issues = {str(s) for i in sim.jira.all_issue_ids() for s in sim.jira.issue(i)["_sprints"]}
    assert {r[0] for r in conn.execute("SELECT id FROM jira_sprints")} == with_issues
    assert "read:board-scope:jira-software" in render(summarize(tmp_path / "atlassian.db"), "text")
    findings = await diagnose(_settings(sim, tmp_path), {"ATLASSIAN_TOKEN": token})
    agile = next(f for f in findings if f.probe == "GET /rest/agile/1.0/board")
    assert agile.ok and "not reachable" in agile.detail and not failed(findings)
    conn.close()
    assert (await run_sync(sim, tmp_path)).status == "ok"  # a token that reaches it: the gap closes
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert conn.execute("SELECT COUNT(*) FROM sync_state WHERE stream = 'jira:gaps:agile'").fetchone() == (0,)
    assert conn.execute("SELECT COUNT(*) FROM jira_sprints WHERE state = 'future'").fetchone() == (1,)


async def test_check_probes_the_new_endpoints(sim, tmp_path):
    findings = await diagnose(_settings(sim, tmp_path), {"ATLASSIAN_TOKEN": sim.token})
    probed = {f.probe: f for f in findings}
    for name in (
        "GET /rest/api/3/status",
        "GET /rest/api/3/users/search",
        "GET /rest/api/3/project/{projectIdOrKey}/versions",
        "GET /rest/api/3/worklog/updated",
        "POST /rest/api/3/changelog/bulkfetch",
        "GET /rest/agile/1.0/board",
    ):
        assert probed[name].ok and not probed[name].skipped, (name, probed[name])
    token = sim.tokens.add_token(scopes=ALL_READ_SCOPES - {"read:jira-user", "read:user:jira"})
    findings = await diagnose(_settings(sim, tmp_path), {"ATLASSIAN_TOKEN": token})
    people = next(f for f in findings if f.probe == "GET /rest/api/3/users/search")
    assert people.ok and "a gap, not a failure" in people.detail and "add read:jira-user" in people.detail


async def test_archived_projects_and_issues_search_drops_are_not_deleted(sim, tmp_path):
    await run_sync(sim, tmp_path)
    j, change = sim.jira, sim.jira_changes
    apollo, boreal = j.projects()
    kept = j.issue_ids(boreal["id"])[3]
    deleted = j.issue_ids(boreal["id"])[4]
    change.archive_project(apollo["key"])
    change.drop_from_search(kept)
    change.delete_issue(deleted)
    result = await run_sync(sim, tmp_path)
    assert result.status == "ok", result.errors
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    flags = dict(conn.execute("SELECT key, archived FROM jira_projects WHERE deleted_at IS NULL"))
    assert flags == {apollo["key"]: 1, boreal["key"]: 0, j.archived_projects()[-1]["key"]: 1}
    live = "SELECT COUNT(*) FROM jira_issues WHERE project_id = ? AND deleted_at IS NULL"
    assert conn.execute(live, (apollo["id"],)).fetchone() == (len(j.issue_ids(apollo["id"])),)
    deleted_at = dict(conn.execute("SELECT id, deleted_at FROM jira_issues WHERE id IN (?, ?)", (kept, deleted)))
    assert deleted_at[kept] is None and deleted_at[deleted] is not None


async def test_the_views_answer_an_analysts_questions(sim, tmp_path):
    await run_sync(sim, tmp_path)
    issue = next(i for i in map(sim.jira.issue, sim.jira.all_issue_ids()) if i["_sprints"] and i["_fix_versions"])
    sim.jira_changes.transition(issue["id"], "In Progress" if issue["status"] != "In Progress" else "Done")
    await run_sync(sim, tmp_path)
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    conn.row_factory = sqlite3.Row
    row = conn.execute("SELECT * FROM jira_issues_view WHERE id = ?", (issue["id"],)).fetchone()
    latest = sim.jira.sprint(issue["_sprints"][-1])
    assert row["sprint"] == latest["name"] and row["priority"] == issue["priority"]
    index = catalog.project_index(issue["_project"])
    names = [v["name"] for v in catalog.versions(index) if v["id"] in issue["_fix_versions"]]
    assert row["fix_versions"] == ", ".join(names)
    assert row["assignee"] == (f"User {issue['assignee'][-4:]}" if issue["assignee"] else None)
    assert row["status_category"] == catalog.status_by_name(row["status"])[2]
    entered = conn.execute(
        "SELECT MAX(changed_at) FROM jira_issue_field_history WHERE issue_id = ? AND field_id = 'status' "
        "AND to_string = 'In Progress'",
        (issue["id"],),
    ).fetchone()[0]
    assert entered, "when did this issue enter In Progress: one query"
    spans = conn.execute(
        "SELECT status, seconds, is_current FROM jira_issue_status_durations WHERE issue_id = ?", (issue["id"],)
    ).fetchall()
    assert sum(s["is_current"] for s in spans) == 1 and all(s["seconds"] >= 0 for s in spans)
    current = next(s["status"] for s in spans if s["is_current"])
    assert current == conn.execute("SELECT status FROM jira_issues WHERE id = ?", (issue["id"],)).fetchone()[0]


def _settings(sim, tmp_path):
    from helpers import settings_for

    return settings_for(sim, tmp_path, products=("jira",))


async def test_a_run_limited_to_some_projects_keeps_only_their_boards_and_worklogs(sim, tmp_path):
    boreal = sim.jira.projects()[1]  # APOL, the other, has a board
    result = await run_sync(sim, tmp_path, products=("jira",), projects=(boreal["key"],))
    assert result.status == "ok", result.errors
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert conn.execute("SELECT COUNT(*) FROM jira_boards").fetchone() == (0,), "APOL's board is not asked for"
    issues = set(sim.jira.issue_ids(boreal["id"]))
    want = {w["id"] for i in issues for w in sim.jira.children("worklog", i)}
    assert want and {r[0] for r in conn.execute("SELECT id FROM jira_worklogs")} == want


def test_an_older_database_gets_the_new_columns_and_views(tmp_path):
    from pipeline.store import Store

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE jira_projects (id TEXT PRIMARY KEY, key TEXT, name TEXT, project_type TEXT, raw TEXT, "
        "deleted_at TEXT); CREATE VIEW jira_issues_view AS SELECT 1 AS id, 'old' AS status;"
    )
    conn.close()
    Store(db).open().close()
    conn = sqlite3.connect(db)
    assert "archived" in {r[1] for r in conn.execute("PRAGMA table_info(jira_projects)")}
    view = {r[1] for r in conn.execute("PRAGMA table_info(jira_issues_view)")}
    assert {"status_category", "sprint", "fix_versions", "resolution"} <= view, "the old view is replaced"
    assert conn.execute("SELECT COUNT(*) FROM jira_issue_status_durations").fetchone() == (0,)


async def test_a_token_with_only_read_jira_work_syncs_everything_but_people_and_boards_and_says_so(sim, tmp_path):
    token = sim.tokens.add_token(scopes={"read:jira-work"})  # what the README asked for before issue 11
    result = await run_sync(sim, tmp_path, environ={"ATLASSIAN_TOKEN": token}, products=("jira",))
    assert result.status == "ok" and result.exit_code == 0, result.errors
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    gaps = {r[0] for r in conn.execute("SELECT stream FROM sync_state WHERE stream LIKE 'jira:gaps:%'")}
    assert gaps == {"jira:gaps:agile", "jira:gaps:people"}
    for table in ("jira_statuses", "jira_versions", "jira_worklogs", "jira_issue_field_history", "jira_issue_links"):
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] > 0, table
    assert "read:jira-user" in render(summarize(tmp_path / "atlassian.db"), "markdown")


async def test_a_full_run_still_reads_worklog_deletions_since_the_last_run(sim, tmp_path):
    """--full relists what exists; only worklog/deleted names what went away, from the saved deletion cursor."""
    import sqlite3
    import time

    assert (await run_sync(sim, tmp_path, products=("jira",))).status == "ok"
    gone = sim.jira.worklog_changes()[0][1]
    sim.jira_changes.delete_child("worklog", gone)
    sim.jira_changes.add_child("worklog", sim.jira.all_issue_ids()[0], timeSpentSeconds=60)  # later activity
    sim.overlay.clock = lambda: time.time() + 120  # past Jira's last-minute hold-back
    result = await run_sync(sim, tmp_path, products=("jira",), full=True)
    assert result.status == "ok", result.errors
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert conn.execute("SELECT deleted_at IS NOT NULL FROM jira_worklogs WHERE id = ?", (gone,)).fetchone() == (1,)
