"""Content properties and space permissions: stored exactly, refreshed by a later run where they changed."""

from __future__ import annotations

import sqlite3

from expected import expected, stored
from helpers import run_sync

from pipeline.scopes import ALL_READ_SCOPES
from pipeline.simulator.confluence_restore import restrictions
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator


def properties_requests(sim) -> list:
    return [e for e in sim.log.gateway() if e.path.endswith("/properties")]


async def test_properties_of_pages_blog_posts_and_spaces_and_space_permissions_are_stored_exactly(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=6)) as sim:
        result = await run_sync(sim, tmp_path, products=("confluence",))
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
    assert result.status == "ok", result.errors
    for table in ("confluence_content_properties", "confluence_space_permissions"):
        assert want[table] and got[table] == want[table], table
    assert {row[1] for row in got["confluence_content_properties"]} == {"page", "blogpost", "space"}
    assert {row[2] for row in got["confluence_space_permissions"]} >= {"user", "group"}


async def test_a_later_run_reads_properties_where_the_page_moved_and_every_space(tmp_path):
    async with Simulator(SimConfig(scale="small", seed=6)) as sim:
        await run_sync(sim, tmp_path, products=("confluence",))
        c, r = sim.confluence, sim.restore
        pages = [p["id"] for p in c.contents("page") if p["status"] == "current"]
        edited, quiet = pages[0], pages[1]
        r.set_property(edited, "editor", {"v": 2})
        sim.confluence_changes.edit(edited)
        r.set_property(quiet, "app-state", {"unseen": True})  # an app's write: the page keeps its version
        space = c.space_ids()[0]
        r.set_property(space, "space-meta", ["new"])
        revoked = r.permissions(space)[0]["id"]
        r.revoke(space, revoked)
        sim.log.clear()
        result = await run_sync(sim, tmp_path, products=("confluence",))
        asked = properties_requests(sim)
        got = stored(tmp_path / "atlassian.db")
        spaces = len(c.space_ids())
        assert result.status == "ok", result.errors
        want = expected(sim)
        assert got["confluence_space_permissions"] == want["confluence_space_permissions"]
        unseen = {row for row in want["confluence_content_properties"] if row[0] == quiet and row[2] == "app-state"}
        assert got["confluence_content_properties"] == want["confluence_content_properties"] - unseen, (
            "everything but the property written without a page version"
        )
        assert len(asked) == 1 + spaces, "the edited page's, and each space's"
        sim.log.clear()
        await run_sync(sim, tmp_path, products=("confluence",), full=True)
        assert (
            stored(tmp_path / "atlassian.db")["confluence_content_properties"] == want["confluence_content_properties"]
        )
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert conn.execute(
        "SELECT deleted_at IS NOT NULL FROM confluence_space_permissions WHERE id = ?", (revoked,)
    ).fetchone() == (1,)


def restrictions_wanted(sim) -> set[tuple]:
    c = sim.confluence
    return {
        (cid, kind, operation, principal_type, principal_id if principal_type == "user" else f"id-{principal_id}")
        for kind in ("page", "blogpost")
        for record in c.contents(kind)
        if record["status"] in ("current", "archived")
        for cid in [record["id"]]
        for operation, principals in restrictions(sim.config.seed, sim.overlay, cid).items()
        for principal_type, principal_id in principals
    }


def restrictions_stored(db) -> set[tuple]:
    conn = sqlite3.connect(db)
    try:
        return set(
            conn.execute(
                "SELECT container_id, container_type, operation, principal_type, principal_id "
                "FROM confluence_restrictions WHERE deleted_at IS NULL"
            )
        )
    finally:
        conn.close()


async def test_restrictions_are_off_by_default_and_exact_when_switched_on(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=6)) as sim:
        await run_sync(sim, tmp_path, products=("confluence",))
        assert restrictions_stored(tmp_path / "atlassian.db") == set()
        assert not [e for e in sim.log.gateway() if e.path.endswith("/restriction")]
        await run_sync(sim, tmp_path, products=("confluence",), confluence_restrictions=True)
        assert restrictions_stored(tmp_path / "atlassian.db") == restrictions_wanted(sim) != set()
        page = next(p["id"] for p in sim.confluence.contents("page") if p["status"] == "current")
        sim.restore.restrict(page, "read", [("group", "group-auditors")])  # no page version
        gone = next(cid for cid, *_ in restrictions_wanted(sim) if cid != page)
        sim.restore.overlay.put(f"restrictions:{gone}", {})
        await run_sync(sim, tmp_path, products=("confluence",), confluence_restrictions=True)
        assert restrictions_stored(tmp_path / "atlassian.db") == restrictions_wanted(sim)


async def test_a_token_that_cannot_read_restrictions_still_syncs_the_rest(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=6)) as sim:
        token = sim.tokens.add_token(
            scopes=ALL_READ_SCOPES - {"read:confluence-content.all", "read:content-details:confluence"}
        )
        environ = {"ATLASSIAN_TOKEN": token}
        result = await run_sync(sim, tmp_path, environ, products=("confluence",), confluence_restrictions=True)
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
    failed = {e.stream: e.message for e in result.errors}
    assert list(failed) == ["confluence restrictions"], failed
    assert "read:confluence-content.all" in failed["confluence restrictions"]
    assert got["confluence_pages"] == want["confluence_pages"]


async def test_a_page_deleted_between_its_listing_and_its_properties_or_restrictions_is_skipped(tmp_path):
    """A 404 from /pages/{id}/properties or /content/{id}/restriction says the page is gone: the rest goes on."""
    async with Simulator(SimConfig(scale="tiny", seed=6)) as sim:
        await run_sync(sim, tmp_path, products=("confluence",), confluence_restrictions=True)
        before = stored(tmp_path / "atlassian.db")["confluence_content_properties"]
        pages = [p["id"] for p in sim.confluence.contents("page") if p["status"] == "current"]
        gone, edited = pages[0], pages[1]
        sim.restore.set_property(edited, "editor", {"v": 3})
        for page in (gone, edited):
            sim.confluence_changes.edit(page)
        sim.troubles.vanished_paths |= {f"/pages/{gone}/properties", f"/content/{gone}/restriction"}
        result = await run_sync(sim, tmp_path, products=("confluence",), confluence_restrictions=True)
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
        restricted = restrictions_stored(tmp_path / "atlassian.db")
        wanted = restrictions_wanted(sim)
    assert result.status == "ok", result.errors
    mine = lambda rows: {row for row in rows if row[0] == gone}  # noqa: E731
    assert mine(got["confluence_content_properties"]) == mine(before), "kept as last stored, not taken for deleted"
    others = want["confluence_content_properties"] - mine(want["confluence_content_properties"])
    assert got["confluence_content_properties"] - mine(got["confluence_content_properties"]) == others
    assert restricted - mine(restricted) == wanted - mine(wanted)


async def test_a_page_restricted_to_more_people_than_one_answer_holds_is_read_to_the_end(tmp_path):
    """v1 restrictions page each operation's users and groups by start and limit (100 by default)."""
    async with Simulator(SimConfig(scale="tiny", seed=6)) as sim:
        page = next(p["id"] for p in sim.confluence.contents("page") if p["status"] == "current")
        many = [("user", f"5b10ac8d82e05b22cc7e{n:04d}") for n in range(230)] + [("group", "group-auditors")]
        sim.restore.restrict(page, "read", many)
        result = await run_sync(sim, tmp_path, products=("confluence",), confluence_restrictions=True)
        asked = [e for e in sim.log.gateway() if e.path.endswith(f"/content/{page}/restriction")]
        wanted = restrictions_wanted(sim)
    assert result.status == "ok", result.errors
    got = restrictions_stored(tmp_path / "atlassian.db")
    assert len({row for row in got if row[0] == page and row[2] == "read"}) == 231
    assert got == wanted
    assert len(asked) == 3, "230 users, 100 an answer"
