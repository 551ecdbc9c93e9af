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
