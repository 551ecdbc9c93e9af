"""The whole page tree: folders, whiteboards, databases and embeds found wherever they sit, the tree view
whole, and later runs that notice moves, renames, deletions and additions for a few requests."""

from __future__ import annotations

import sqlite3
from collections import Counter

from expected import differences, expected, stored
from helpers import run_sync

from pipeline.scopes import ALL_READ_SCOPES
from pipeline.simulator.confluence_tree import NODE_TYPES
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator
from pipeline.sources.confluence import tree
from pipeline.sources.confluence.tree import cql_quote
from pipeline.times import utc as utc_ms

NODE_FAMILIES = {f"confluence:GET:{kind}s" for kind in NODE_TYPES}


def tree_rows(db) -> dict[str, tuple]:
    conn = sqlite3.connect(db)
    try:
        return {
            r[0]: r[1:] for r in conn.execute("SELECT id, type, parent_id, depth, path, title FROM confluence_tree")
        }
    finally:
        conn.close()


def assert_whole(view: dict[str, tuple]) -> None:
    """Every parent resolves inside the view; depth and path follow the parent."""
    for node_id, (_, parent_id, depth, path, title) in view.items():
        if parent_id is None:
            assert depth == 0 and path == title, node_id
        else:
            assert parent_id in view, f"{node_id} points at {parent_id}, which is not in the tree"
            parent = view[parent_id]
            assert depth == parent[2] + 1 and path == f"{parent[3]} / {title}", node_id


def families(sim) -> Counter:
    return Counter(e.family for e in sim.log.gateway())


async def test_a_full_sync_stores_every_node_of_every_tree(tmp_path):
    async with Simulator(SimConfig(scale="small", seed=3)) as sim:
        result = await run_sync(sim, tmp_path)
        assert result.status == "ok", result.errors
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
        assert differences(want, got) == {}
    nodes = {t: want[f"confluence_{t}s"] for t in NODE_TYPES}
    assert all(nodes.values()), "every kind of node is in the data and stored"
    every = [row for rows in nodes.values() for row in rows]
    assert any(r[2] is None and not any(o[2] == r[0] for o in every) for r in nodes["folder"]), "an empty root folder"
    assert any(r[2] is None for r in nodes["whiteboard"]), "a whiteboard at a space's root"
    assert any(r[5] == "archived" for r in nodes["folder"]), "an archived folder, which CQL cannot see"
    assert {r[3] for r in want["confluence_pages"]} >= {"page", "folder", None}, "pages under folders and pages"
    assert {r[3] for r in every} >= {"page", "folder"}, "nodes under pages and under nodes"
    view = tree_rows(tmp_path / "atlassian.db")
    assert len(view) == len(want["confluence_pages"]) + len(every), "every live page and node, once"
    assert_whole(view)
    assert max(row[2] for row in view.values()) >= 4


async def test_a_cql_listing_of_many_short_pages_is_followed_to_its_end(tmp_path, monkeypatch):
    """Short pages before the end, `start` ignored, a next link relative to /wiki: none of them stops the
    listing early or repeats it."""
    monkeypatch.setattr(tree, "SEARCH_LIMIT", 4)
    async with Simulator(SimConfig(scale="small", seed=3)) as sim:
        result = await run_sync(sim, tmp_path, products=("confluence",))
        searches = [e for e in sim.log.gateway() if e.family == "confluence:GET:search"]
        current = [n for n in sim.confluence.tree.nodes() if n["status"] == "current"]
        want = expected(sim)
        got = stored(tmp_path / "atlassian.db")
    assert result.status == "ok", result.errors
    assert len(searches) > len(current) // 4, "every page of the listing was asked for"
    assert not [e for e in searches if "start=" in e.query]
    for kind in NODE_TYPES:
        assert got[f"confluence_{kind}s"] == want[f"confluence_{kind}s"]


async def test_an_empty_folder_at_the_root_of_an_archived_space_is_found(tmp_path, monkeypatch):
    """CQL leaves archived spaces' content out unless includeArchivedSpaces=true, on every page of it."""
    monkeypatch.setattr(tree, "SEARCH_LIMIT", 4)
    async with Simulator(SimConfig(scale="small", seed=3)) as sim:
        space = next(s for s in map(sim.confluence.space, sim.confluence.space_ids()) if s["status"] == "archived")
        folder = sim.tree_changes.add_node("folder", space["id"], "Empty, archived space")
        result = await run_sync(sim, tmp_path, products=("confluence",))
        searches = [e for e in sim.log.gateway() if e.family == "confluence:GET:search"]
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
    assert result.status == "ok", result.errors
    assert len(searches) > 1 and all("includeArchivedSpaces=true" in e.query for e in searches)
    assert folder["id"] in {row[0] for row in got["confluence_folders"]}
    assert got["confluence_folders"] == want["confluence_folders"]


async def test_a_later_run_notices_moves_renames_deletions_and_additions_within_its_budget(tmp_path):
    async with Simulator(SimConfig(scale="small", seed=3)) as sim:
        await run_sync(sim, tmp_path)
        t, c = sim.tree_changes, sim.confluence
        spaces = c.space_ids()
        folders = [n for n in c.tree.nodes() if n["type"] == "folder" and n["status"] == "current"]
        holding = next(f for f in folders if c.tree.children(f["id"]))
        new_folder = t.add_node("folder", spaces[0], "Brand new folder 🗂")
        page = next(p for p in c.contents("page") if p["status"] == "current" and p["spaceId"] == spaces[0])
        t.move_page(page["id"], new_folder["id"])
        renamed = next(f for f in folders if f["id"] != holding["id"])
        t.rename_node(renamed["id"], "Renamed folder ✏️")
        orphans = [ch["id"] for ch in c.tree.children(holding["id"])]
        t.delete_node(holding["id"])
        t.add_node("whiteboard", spaces[1], "Fresh whiteboard")
        moved = next(f for f in folders if f["id"] not in (holding["id"], renamed["id"]) and f["spaceId"] == spaces[2])
        t.move_node(moved["id"], next(f["id"] for f in folders if f["spaceId"] == spaces[2] and f["id"] != moved["id"]))
        sim.log.clear()
        result = await run_sync(sim, tmp_path)
        assert result.status == "ok", result.errors
        assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}
        used = families(sim)
        archived = sum(1 for n in c.tree.nodes() if n["status"] == "archived")
        node_count = len(c.tree.nodes())
    view = tree_rows(tmp_path / "atlassian.db")
    assert_whole(view)
    assert view[page["id"]][1] == new_folder["id"], "the page now sits in the new folder"
    assert view[renamed["id"]][4] == "Renamed folder ✏️"
    assert holding["id"] not in view and all(o in view for o in orphans), "its children moved up"
    assert result.counts["confluence_folders"]["deleted"] == 1
    # the budget the README states: the CQL listing, plus one GET per new, changed or vanished node and per
    # archived node (CQL cannot see it, so it is looked at by id)
    assert used["confluence:GET:search"] == -(-node_count // tree.SEARCH_LIMIT)
    changed = 4  # the new folder, the renamed and the moved folder, the new whiteboard; and the deleted one:
    assert sum(used[f] for f in NODE_FAMILIES) <= changed + 1 + archived, used
    assert not [
        e for e in sim.log.gateway() if "direct-children" in e.path or ("/spaces/" in e.path and "/pages" in e.path)
    ]


async def test_a_deleted_folder_hands_its_whiteboard_to_its_own_parent(tmp_path):
    """Confluence moves a deleted node's children up to its parent without touching their lastModified, so
    the listing cannot show the move: the children of a node found gone are asked for again."""
    async with Simulator(SimConfig(scale="small", seed=3)) as sim:
        t, c = sim.tree_changes, sim.confluence
        space = c.space_ids()[0]
        outer = t.add_node("folder", space, "Outer folder")
        inner = t.add_node("folder", space, "Inner folder", parent_id=outer["id"])
        board = t.add_node("whiteboard", space, "Board in the inner folder", parent_id=inner["id"])
        await run_sync(sim, tmp_path, products=("confluence",))
        t.delete_node(inner["id"])
        sim.log.clear()
        result = await run_sync(sim, tmp_path, products=("confluence",))
        assert result.status == "ok", result.errors
        off = differences(expected(sim), stored(tmp_path / "atlassian.db"))
        assert {table: d for table, d in off.items() if table.startswith("confluence_")} == {}
        asked = [e.path for e in sim.log.gateway() if e.path.endswith(f"/whiteboards/{board['id']}")]
    view = tree_rows(tmp_path / "atlassian.db")
    assert inner["id"] not in view
    assert view[board["id"]][1] == outer["id"], "the whiteboard moved up to the deleted folder's parent"
    assert_whole(view)
    assert len(asked) == 1, "the orphan is asked for once"


async def test_a_page_moved_into_a_folder_the_index_has_not_seen_yet_still_has_its_parent(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=3, search_lag_s=300)) as sim:
        await run_sync(sim, tmp_path)
        space = sim.confluence.space_ids()[0]
        folder = sim.tree_changes.add_node("folder", space, "Made a second ago")
        page = next(p for p in sim.confluence.contents("page") if p["status"] == "current" and p["spaceId"] == space)
        sim.tree_changes.move_page(page["id"], folder["id"])
        whiteboard = sim.tree_changes.add_node("whiteboard", space, "Not indexed yet")
        result = await run_sync(sim, tmp_path)
        assert result.status == "ok", result.errors
        view = tree_rows(tmp_path / "atlassian.db")
        assert view[page["id"]][1] == folder["id"], "the new folder came through the page that points at it"
        assert whiteboard["id"] not in view, "an empty new node waits for the index"
        sim.config.search_lag_s = 0
        await run_sync(sim, tmp_path)
        assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}
    assert_whole(tree_rows(tmp_path / "atlassian.db"))


async def test_a_token_without_one_node_scope_still_syncs_everything_else(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=3)) as sim:
        token = sim.tokens.add_token(scopes=ALL_READ_SCOPES - {"read:folder:confluence"})
        result = await run_sync(sim, tmp_path, environ={"ATLASSIAN_TOKEN": token})
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
    assert result.status != "ok"
    failed = {e.stream: e.message for e in result.errors}
    assert list(failed) == ["confluence folders"], failed
    assert "read:folder:confluence" in failed["confluence folders"]
    assert got["confluence_folders"] == set()
    for table in ("confluence_pages", "confluence_whiteboards", "confluence_databases", "confluence_embeds"):
        assert got[table] == want[table], table


def test_cql_values_are_quoted_so_they_cannot_rewrite_the_query():
    assert cql_quote('A"B') == '"A\\"B"'
    assert cql_quote("C\\") == '"C\\\\"'
    assert cql_quote('x" or type = page or space = "y') == '"x\\" or type = page or space = \\"y"'


def test_times_become_utc_with_milliseconds():
    assert utc_ms("2026-05-27T07:09:12Z") == "2026-05-27T07:09:12.000Z"
    assert utc_ms("2026-05-27T09:09:12.5+02:00") == "2026-05-27T07:09:12.500Z"
    assert utc_ms(None) is None
    assert utc_ms(1790584137824) == "2026-09-28T08:28:57.824Z", "a folder's createdAt, in epoch milliseconds"


async def test_without_search_the_run_says_so_and_still_stores_the_parents_pages_point_at(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=3)) as sim:
        token = sim.tokens.add_token(scopes=ALL_READ_SCOPES - {"search:confluence", "read:content-details:confluence"})
        result = await run_sync(sim, tmp_path, environ={"ATLASSIAN_TOKEN": token})
        got = stored(tmp_path / "atlassian.db")
    failed = {e.stream: e.message for e in result.errors}
    assert list(failed) == ["confluence tree (CQL search)"]
    assert "search:confluence" in failed["confluence tree (CQL search)"]
    assert got["confluence_folders"], "the folders that hold pages came through the pages"
    assert_whole(tree_rows(tmp_path / "atlassian.db"))


async def test_a_site_whose_cql_does_not_know_a_type_is_asked_type_by_type(tmp_path):
    """A CQL query naming a type the site does not know is a 400 as a whole: the listing asks each type
    alone, warns about the one it cannot list, and still finds those of it that hold something."""
    async with Simulator(SimConfig(scale="small", seed=3, cql_types=("folder", "whiteboard", "database"))) as sim:
        result = await run_sync(sim, tmp_path, products=("confluence",))
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
        searches = [e for e in sim.log.gateway() if e.family == "confluence:GET:search"]
    assert result.status == "ok", result.errors
    assert [w.stream for w in result.warnings] == ["confluence tree (CQL search)"]
    assert "embed" in result.warnings[0].message
    assert len(searches) == 1 + 4
    for kind in ("folder", "whiteboard", "database"):
        assert got[f"confluence_{kind}s"] == want[f"confluence_{kind}s"], kind
    held = {row for row in want["confluence_embeds"] if any(p[2] == row[0] for p in want["confluence_pages"])}
    assert held <= got["confluence_embeds"] <= want["confluence_embeds"], "embeds that hold pages, found through them"


async def test_a_run_limited_to_some_spaces_lists_and_keeps_only_their_nodes(tmp_path):
    async with Simulator(SimConfig(scale="small", seed=3)) as sim:
        await run_sync(sim, tmp_path, products=("confluence",))
        space = sim.confluence.space(sim.confluence.space_ids()[1])
        other = next(n for n in sim.confluence.tree.nodes() if n["spaceId"] != space["id"] and n["type"] == "folder")
        sim.tree_changes.rename_node(other["id"], "Renamed elsewhere")
        sim.log.clear()
        result = await run_sync(sim, tmp_path, products=("confluence",), spaces=(space["key"],))
        searches = [e.query for e in sim.log.gateway() if e.family == "confluence:GET:search"]
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
    assert result.status == "ok", result.errors
    assert searches and all(f'space in ("{space["key"]}")' in q for q in searches), searches
    folders = {row[0]: row for row in got["confluence_folders"]}
    assert folders[other["id"]][4] == other["title"], "another space's node is neither refreshed nor deleted"
    mine = {row for row in want["confluence_folders"] if row[1] == space["id"]}
    assert mine <= got["confluence_folders"]
