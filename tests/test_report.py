"""`report` answers "what changed last night?" and what people look for, in text, markdown and JSON."""

from __future__ import annotations

import sqlite3

from helpers import change_a_share, run_sync

from pipeline.report import render, summarize
from pipeline.scopes import ALL_READ_SCOPES
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator


async def test_the_report_after_a_night_of_changes(tmp_path):
    async with Simulator(SimConfig(scale="small", seed=12)) as sim:
        first = await run_sync(sim, tmp_path)
        assert all(c["updated"] == 0 for c in first.counts.values()), "a first run only inserts"
        change_a_share(sim, 0.02, seed=3)
        await run_sync(sim, tmp_path)
    summary = summarize(tmp_path / "atlassian.db")
    last = summary["last_run"]
    assert last["run"] == 2 and last["counts"]["confluence_pages"]["deleted"] > 0
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    since = conn.execute("SELECT started_at FROM sync_runs WHERE id = 1").fetchone()[0]
    changed = [
        r[0] for r in conn.execute("SELECT key FROM jira_issues WHERE deleted_at IS NULL AND updated >= ?", (since,))
    ]
    assert len(last["edited_issues"]) == min(10, len(changed)) and {i["key"] for i in last["edited_issues"]} <= set(
        changed
    )
    assert last["edited_pages"] and all(
        "(edited)" in p["title"] or "Fresh page" in p["title"] for p in last["edited_pages"]
    )
    assert {g["kind"] for g in last["deleted"]} == {"page", "issue"}
    pages = dict(
        conn.execute(
            "SELECT s.key, COUNT(*) FROM confluence_pages p JOIN confluence_spaces s ON s.id = p.space_id "
            "WHERE p.deleted_at IS NULL GROUP BY s.key"
        )
    )
    assert {s["key"]: s["pages"] for s in summary["spaces"]} == pages
    for project in summary["projects"]:
        assert sum(project["by_status"].values()) == project["issues"] == sum(project["by_type"].values())
    sizes = [a["bytes"] for a in summary["largest_attachments"]]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == 10
    assert [r["id"] for r in summary["runs"]] == [2, 1] and all(r["seconds"] > 0 for r in summary["runs"])
    markdown = render(summary, "markdown")
    assert "### What run #2 changed (ok)" in markdown and "| #2 |" in markdown
    text = render(summary, "text")
    assert "Last run #2 (ok) changed:" in text and "gone page" in text


async def test_the_report_names_what_failed(tmp_path):
    async with Simulator(SimConfig(scale="tiny")) as sim:
        token = sim.tokens.add_token(scopes=ALL_READ_SCOPES - {"read:attachment:confluence"})
        await run_sync(sim, tmp_path, environ={"ATLASSIAN_TOKEN": token})
    summary = summarize(tmp_path / "atlassian.db")
    assert [e["stream"] for e in summary["failed"]] == ["confluence attachments"]
    markdown = render(summary, "markdown")
    assert "> [!WARNING]" in markdown and "read:attachment:confluence" in markdown


def test_what_a_run_deleted_is_found_through_an_index(tmp_path):
    """report asks every table with deleted_at for the rows deleted since the last run started; on a large
    store a scan of every table would take the report minutes, so each has an index of its deleted rows."""
    from pipeline.store import Store

    store = Store(tmp_path / "a.db").open()
    tables = [
        name
        for (name,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if "deleted_at" in store.columns(name)
    ]
    plans = {
        table: " ".join(
            str(r[-1])
            for r in store.conn.execute(
                f"EXPLAIN QUERY PLAN SELECT * FROM {table} WHERE deleted_at >= ?", ("2026-11-30T00:00:00.000Z",)
            )
        )
        for table in tables
    }
    store.close()
    assert "confluence_pages" in plans and "jira_issues" in plans and "confluence_folders" in plans
    assert {t: p for t, p in plans.items() if "USING INDEX" not in p} == {}


def synthetic_store(path, spaces=200, pages=20, attachments=20_000, issues=6_000):
    """A store filled directly (no sync): many spaces and attachments, a few projects, some rows deleted."""
    from pipeline.store import Store

    store = Store(path).open()
    conn = store.conn
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO confluence_spaces(id, key, name) VALUES (?, ?, ?)",
        [(f"s{i}", f"K{i}", "n") for i in range(spaces)],
    )
    containers = [(f"p{i}", f"s{i % spaces}") for i in range(spaces * pages)]
    conn.executemany(
        "INSERT INTO confluence_pages(id, space_id, title, deleted_at) VALUES (?, ?, 't', ?)",
        [(c, s, "2024" if n % 17 == 0 else None) for n, (c, s) in enumerate(containers)],
    )
    conn.executemany(
        "INSERT INTO confluence_blogposts(id, space_id, title) VALUES (?, ?, 't')",
        [(f"b{i}", f"s{i % spaces}") for i in range(spaces)],
    )
    owners = [c for c, _ in containers] + [f"b{i}" for i in range(spaces)]
    conn.executemany(
        "INSERT INTO confluence_attachments(id, container_id, title, file_size, deleted_at) VALUES (?, ?, 'f', ?, ?)",
        [(f"a{i}", owners[i * 7 % len(owners)], i % 1000, "2024" if i % 13 == 0 else None) for i in range(attachments)],
    )
    conn.executemany(
        "INSERT INTO confluence_comments(id, container_id) VALUES (?, ?)",
        [(f"c{i}", owners[i * 3 % len(owners)]) for i in range(attachments // 4)],
    )
    conn.executemany(
        "INSERT INTO jira_projects(id, key, name) VALUES (?, ?, 'p')", [(f"j{i}", f"P{i}") for i in range(3)]
    )
    conn.executemany(
        "INSERT INTO jira_issues(id, key, project_id, status, issue_type) VALUES (?, ?, ?, ?, ?)",
        [
            (f"i{i}", f"P-{i}", f"j{i % 3}", ("Open", "Done")[i % 2], ("Bug", "Task", "Story")[i % 3])
            for i in range(issues)
        ],
    )
    conn.executemany(
        "INSERT INTO jira_comments(id, issue_id) VALUES (?, ?)", [(f"jc{i}", f"i{i % issues}") for i in range(issues)]
    )
    conn.executemany(
        "INSERT INTO jira_attachments(id, issue_id, size) VALUES (?, ?, ?)",
        [(f"ja{i}", f"i{i * 5 % issues}", i) for i in range(issues // 2)],
    )
    conn.execute("COMMIT")
    store.close()
    return sqlite3.connect(path)


def test_report_counts_in_one_grouped_pass_over_a_large_store(tmp_path):
    from pipeline import report

    conn = synthetic_store(tmp_path / "big.db")
    summary = summarize(tmp_path / "big.db")
    naive = {
        key: conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(file_size), 0) FROM confluence_attachments WHERE deleted_at IS NULL AND "
            "container_id IN (SELECT id FROM confluence_pages WHERE space_id = ? "
            "UNION SELECT id FROM confluence_blogposts WHERE space_id = ?)",
            (space_id, space_id),
        ).fetchone()
        for space_id, key in conn.execute("SELECT id, key FROM confluence_spaces")
    }
    assert {s["key"]: (s["attachments"], s["attachment_bytes"]) for s in summary["spaces"]} == naive
    comments = sum(s["comments"] for s in summary["spaces"])
    assert comments == conn.execute("SELECT COUNT(*) FROM confluence_comments").fetchone()[0]
    for project in summary["projects"]:
        issues = conn.execute(
            "SELECT COUNT(*) FROM jira_issues i JOIN jira_projects p ON p.id = i.project_id WHERE p.key = ?",
            (project["key"],),
        ).fetchone()[0]
        assert project["issues"] == issues == sum(project["by_status"].values()) == sum(project["by_type"].values())
    assert sum(p["comments"] for p in summary["projects"]) == 6_000
    assert sum(p["attachments"] for p in summary["projects"]) == 3_000
    for sql in (report.SPACES, report.PROJECTS, report.BY_PROJECT, report.LARGEST):
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql.replace("?", "NULL")))
        assert "CORRELATED" not in plan, plan  # no query runs once per space or project
