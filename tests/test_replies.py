"""Replies, verified: whether a site's site-wide comment listings include them is checked, not assumed."""

from __future__ import annotations

from expected import expected, stored
from helpers import run_sync

from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator


def children_requests(sim) -> list:
    return [e for e in sim.log.gateway() if e.path.endswith("/children") and "-comments/" in e.path]


async def test_a_site_whose_listings_include_replies_costs_no_extra_request(tmp_path):
    async with Simulator(SimConfig(scale="small", seed=8)) as sim:
        result = await run_sync(sim, tmp_path, products=("confluence",))
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
        asked = children_requests(sim)
    assert result.status == "ok", result.errors
    assert any(row[2] for row in want["confluence_comments"]), "the site has replies"
    assert got["confluence_comments"] == want["confluence_comments"]
    assert asked == []


async def test_a_site_whose_listings_leave_replies_out_gets_them_through_the_children_endpoints(tmp_path):
    async with Simulator(SimConfig(scale="small", seed=8, replies_in_site_listing=False)) as sim:
        result = await run_sync(sim, tmp_path, products=("confluence",))
        want, got = expected(sim), stored(tmp_path / "atlassian.db")
        assert result.status == "ok", result.errors
        assert got["confluence_comments"] == want["confluence_comments"], "every reply, none lost"
        page = next(p["id"] for p in sim.confluence.contents("page") if p["status"] == "current")
        root = sim.confluence_changes.add_comment(page)
        reply = sim.confluence_changes.add_comment(page, parent_id=root["id"])
        sim.log.clear()
        result = await run_sync(sim, tmp_path, products=("confluence",))
        assert result.status == "ok", result.errors
        got = stored(tmp_path / "atlassian.db")["confluence_comments"]
        assert got == expected(sim)["confluence_comments"], "a new reply, and the old ones not taken for deleted"
        assert reply["id"] in {row[0] for row in got}
        roots = sum(1 for row in got if row[2] is None)
    assert len(children_requests(sim)) >= roots, "the verdict is kept: the next run walks at once"


async def test_a_site_without_any_reply_is_checked_with_a_small_sample(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=8)) as sim:
        for kind in ("footer", "inline"):
            for comment in sim.confluence.all_comments(kind):
                if comment.get("parentCommentId"):
                    sim.confluence_changes.delete_comment(comment["id"])
        result = await run_sync(sim, tmp_path, products=("confluence",))
        asked = children_requests(sim)
        got = stored(tmp_path / "atlassian.db")["confluence_comments"]
        assert got == expected(sim)["confluence_comments"]
    assert result.status == "ok", result.errors
    assert 0 < len(asked) <= 20, "at most ten roots, for each kind"


async def test_a_sampled_comment_deleted_since_the_last_run_is_no_failure(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=8)) as sim:
        for kind in ("footer", "inline"):
            for comment in sim.confluence.all_comments(kind):
                if comment.get("parentCommentId"):
                    sim.confluence_changes.delete_comment(comment["id"])
        await run_sync(sim, tmp_path, products=("confluence",))
        newest = max(sim.confluence.all_comments("footer"), key=lambda c: c["version"]["createdAt"])
        sim.confluence_changes.delete_comment(newest["id"])  # the first the sample would ask about
        result = await run_sync(sim, tmp_path, products=("confluence",))
        got = stored(tmp_path / "atlassian.db")["confluence_comments"]
        assert got == expected(sim)["confluence_comments"]
    assert result.status == "ok", result.errors


async def test_replies_walked_through_the_children_endpoints_keep_their_page_within_a_space_limited_run(tmp_path):
    """The children models name no pageId/blogPostId: a reply's container is its root's."""
    async with Simulator(SimConfig(scale="small", seed=8, replies_in_site_listing=False)) as sim:
        space_id = sim.confluence.space_ids()[0]
        space = sim.confluence.space(space_id)
        result = await run_sync(sim, tmp_path, products=("confluence",), spaces=(space["key"],))
        want = {row for row in expected(sim)["confluence_comments"] if sim.confluence.space_of(row[1]) == space_id}
        got = stored(tmp_path / "atlassian.db")["confluence_comments"]
    assert result.status == "ok", result.errors
    assert any(row[2] for row in want), "the space has replies"
    assert got == want, "every reply kept, under its root's page"
