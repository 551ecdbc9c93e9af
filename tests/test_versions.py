"""Every version of every page and blog post; old bodies once when asked for; later runs fetch only new ones."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest
from expected import differences, expected, stored
from helpers import run_sync

from pipeline.config import load_settings
from pipeline.errors import ConfigError
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator


def versions_requests(sim) -> list:
    return [e for e in sim.log.gateway() if e.path.endswith("/versions") and "/wiki/" in e.path]  # not Jira's


def body_requests(sim) -> list:
    return [e for e in sim.log.gateway() if "version=" in e.query]


async def test_a_full_sync_stores_every_version_without_bodies_by_default(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=7)) as sim:
        result = await run_sync(sim, tmp_path, products=("confluence",))
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
        containers = len(want["confluence_pages"]) + len(want["confluence_blogposts"])
        asked = versions_requests(sim)
    assert result.status == "ok", result.errors
    assert want["confluence_versions"] == got["confluence_versions"]
    assert {row[1] for row in got["confluence_versions"]} == {"page", "blogpost"}
    assert max(row[2] for row in got["confluence_versions"]) > 3, "pages with many versions"
    assert len(asked) == containers, "one request per page and blog post"
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert conn.execute("SELECT COUNT(*) FROM confluence_versions WHERE body_storage IS NOT NULL").fetchone() == (0,)
    assert not body_requests(sim)


async def test_a_later_run_asks_only_for_the_new_versions_of_what_changed(tmp_path):
    async with Simulator(SimConfig(scale="small", seed=7)) as sim:
        await run_sync(sim, tmp_path)
        pages = [p for p in sim.confluence.contents("page") if p["status"] == "current"][:3]
        blog = next(b for b in sim.confluence.contents("blogpost") if b["status"] == "current")
        for page in pages:
            sim.confluence_changes.edit(page["id"])
        sim.confluence_changes.edit(pages[0]["id"], title="Twice edited")
        sim.confluence_changes.edit(blog["id"])
        sim.log.clear()
        result = await run_sync(sim, tmp_path)
        assert result.status == "ok", result.errors
        assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}
        asked = versions_requests(sim)
    assert len(asked) == 4, "one request for each changed page or blog post, none for the rest"
    limits = Counter(q.split("limit=")[1].split("&")[0] for q in (e.query for e in asked))
    assert limits == {"1": 3, "2": 1}, "exactly as many versions as are new"
    assert result.counts["confluence_versions"]["inserted"] == 5


async def test_with_history_bodies_each_old_body_is_fetched_once(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=7)) as sim:
        await run_sync(sim, tmp_path, products=("confluence",), confluence_history="bodies")
        c = sim.confluence
        page = next(p for p in c.contents("page") if p["status"] == "current" and p["version"]["number"] > 2)
        conn = sqlite3.connect(tmp_path / "atlassian.db")
        got = dict(
            conn.execute("SELECT number, body_storage FROM confluence_versions WHERE container_id = ?", (page["id"],))
        )
        assert got == {v["number"]: c.version_body(page, v["number"]) for v in c.versions(page["id"])}
        old = conn.execute(
            "SELECT COUNT(*) FROM confluence_versions v JOIN confluence_pages p ON p.id = v.container_id "
            "WHERE v.number < p.version"
        ).fetchone()[0]
        old += conn.execute(
            "SELECT COUNT(*) FROM confluence_versions v JOIN confluence_blogposts p ON p.id = v.container_id "
            "WHERE v.number < p.version"
        ).fetchone()[0]
        assert len(body_requests(sim)) == old, "one request per old version; the current body costs nothing"
        assert conn.execute("SELECT COUNT(*) FROM confluence_versions WHERE body_storage IS NULL").fetchone() == (0,)
        before = c.version_body(page, page["version"]["number"])
        sim.confluence_changes.edit(page["id"], body="<p>rewritten</p>")
        sim.log.clear()
        await run_sync(sim, tmp_path, products=("confluence",), confluence_history="bodies")
        again = body_requests(sim)
        rows = dict(
            conn.execute("SELECT number, body_storage FROM confluence_versions WHERE container_id = ?", (page["id"],))
        )
    number = page["version"]["number"]
    assert again == [], "the replaced version's body was stored as the current one; the new one is the page's"
    assert rows[number] == before and rows[number + 1] == "<p>rewritten</p>"


def test_an_unknown_history_setting_is_refused():
    with pytest.raises(ConfigError, match="history must be one of off, versions, bodies"):
        load_settings({"confluence_history": "all"}, environ={}, default_config=False)


async def test_a_version_made_while_the_run_is_under_way_is_not_lost(tmp_path):
    """The page row says version 2; by the time its versions are asked for, 3 and 4 exist too: the listing is
    followed down to the first unknown version, and what is recorded as done is the newest one seen."""
    async with Simulator(SimConfig(scale="tiny", seed=5)) as sim:
        await run_sync(sim, tmp_path, products=("confluence",))
        page = next(p["id"] for p in sim.confluence.contents("page") if p["status"] == "current")
        sim.confluence_changes.edit(page)

        def two_more_edits() -> None:
            sim.confluence_changes.edit(page)
            sim.confluence_changes.edit(page)

        sim.troubles.meanwhile[f"/pages/{page}/versions"] = two_more_edits
        result = await run_sync(sim, tmp_path, products=("confluence",))
        assert result.status == "ok", result.errors
        sim.log.clear()
        await run_sync(sim, tmp_path, products=("confluence",))
        asked = versions_requests(sim)
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
    mine = lambda rows: {row for row in rows if row[0] == page}  # noqa: E731
    assert len(mine(want["confluence_versions"])) >= 4
    assert mine(got["confluence_versions"]) == mine(want["confluence_versions"]), "no version lost for good"
    assert got["confluence_versions"] == want["confluence_versions"]
    assert asked == [], "the versions seen last run are not asked for again"


async def test_an_old_version_whose_body_comes_back_empty_is_not_asked_for_every_run(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=7)) as sim:
        page = next(
            p for p in sim.confluence.contents("page") if p["status"] == "current" and p["version"]["number"] > 2
        )
        sim.troubles.bodiless_versions.add(f"{page['id']}:1")
        await run_sync(sim, tmp_path, products=("confluence",), confluence_history="bodies")
        first = [e for e in body_requests(sim) if e.path.endswith(f"/pages/{page['id']}")]
        sim.log.clear()
        await run_sync(sim, tmp_path, products=("confluence",), confluence_history="bodies")
        again = body_requests(sim)
        conn = sqlite3.connect(tmp_path / "atlassian.db")
        stored_body = conn.execute(
            "SELECT body_storage FROM confluence_versions WHERE container_id = ? AND number = 1", (page["id"],)
        ).fetchone()
        conn.close()
    assert first, "asked once"
    assert stored_body == ("",), "stored as the empty body it came back as"
    assert again == [], "and never asked again"
