"""A full sync against the fake cloud stores exactly its data, whatever the network does."""

from __future__ import annotations

import hashlib
import sqlite3

from expected import blob_files, differences, expected, stored, utc_ms
from helpers import run_sync

from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator


async def test_full_sync_stores_exactly_the_sites_data(sim, tmp_path):
    result = await run_sync(sim, tmp_path)
    assert result.status == "ok", result.errors
    assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}


async def test_full_sync_is_exact_with_faults_rate_limits_and_latency(tmp_path):
    config = SimConfig(scale="tiny", seed=7, faults=0.08, rate_limit=30, burst=6, latency_ms=2, jitter_ms=5)
    async with Simulator(config) as sim:
        result = await run_sync(sim, tmp_path)
        counters = sim.log.counters
        assert result.status == "ok", result.errors
        assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}
    # the run met every kind of trouble and retried through it
    assert counters["rate_limited.burst"] > 0
    assert counters["faults.500"] + counters["faults.503"] > 0
    assert counters["faults.drop"] + counters["faults.media_drop"] > 0
    assert result.stats["retries"] >= counters["faults.500"] + counters["faults.503"]
    assert result.stats["rate_limited"] > 0


async def test_every_stored_attachment_file_holds_the_bytes_its_name_promises(sim, tmp_path):
    await run_sync(sim, tmp_path)
    files = blob_files(tmp_path / "blobs")
    assert files, "attachments were downloaded"
    for name, data in files.items():
        assert hashlib.sha256(data).hexdigest() == name
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    shas = {
        r[0]
        for r in conn.execute("SELECT sha256 FROM confluence_attachments UNION SELECT sha256 FROM jira_attachments")
    }
    assert shas == set(files), "each distinct content is stored once, and every row points at a stored file"
    assert not list((tmp_path / "blobs" / ".partial").iterdir()), "no partial file is left behind"


async def test_the_same_bytes_attached_twice_are_stored_once(tmp_path):
    async with Simulator(SimConfig(scale="small", seed=3)) as sim:
        await run_sync(sim, tmp_path)
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    rows = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT sha256) FROM (SELECT sha256 FROM confluence_attachments "
        "UNION ALL SELECT sha256 FROM jira_attachments)"
    ).fetchone()
    assert rows[0] > rows[1], "the simulator shares some bytes between attachments"
    assert len(blob_files(tmp_path / "blobs")) == rows[1]


async def test_no_authorization_header_ever_reaches_the_media_host(sim, tmp_path):
    await run_sync(sim, tmp_path)
    media = [e for e in sim.log.entries if e.host == "media"]
    assert media and not any(e.authorized for e in media)
    assert sim.log.counters["media.authorization_refused"] == 0
    assert all(e.authorized for e in sim.log.gateway())


async def test_basic_auth_with_email_and_token(sim, tmp_path):
    environ = {"ATLASSIAN_EMAIL": sim.config.account_email, "ATLASSIAN_TOKEN": sim.token}
    result = await run_sync(sim, tmp_path, environ)
    assert result.status == "ok", result.errors
    assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}


async def test_oauth_client_credentials_renewed_in_the_middle_of_a_sync(tmp_path):
    async with Simulator(SimConfig(scale="small", token_lifetime_s=1.5, latency_ms=3)) as sim:
        sim.tokens.add_client("client-1", "s3cret-client")
        environ = {"ATLASSIAN_CLIENT_ID": "client-1", "ATLASSIAN_CLIENT_SECRET": "s3cret-client"}
        result = await run_sync(sim, tmp_path, environ)
        tokens_issued = sim.log.counters["auth.status.200"]
        assert result.status == "ok", result.errors
        assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}
    assert tokens_issued >= 2, "a token that lives 1.5 s was renewed during the sync"


async def test_jira_changelogs_and_worklogs_are_on_by_default(sim, tmp_path):
    result = await run_sync(sim, tmp_path)
    assert result.status == "ok", result.errors
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    # changelog/bulkfetch sends `created` as epoch milliseconds, as live sites do: stored in the one format
    want_changelogs = {
        (h["id"], h["_issue"], utc_ms(h["_created"]))
        for i in sim.jira.all_issue_ids()
        for h in sim.jira.children("changelog", i)
    }
    projects = sim.jira.every_project_id()  # worklogs are listed site-wide: archived projects' too
    everywhere = [i for p in projects for i in sim.jira.issue_ids(p)]
    want_worklogs = {w["id"] for i in everywhere for w in sim.jira.children("worklog", i)}
    assert set(conn.execute("SELECT id, issue_id, created FROM jira_changelogs")) == want_changelogs
    assert {r[0] for r in conn.execute("SELECT id FROM jira_worklogs")} == want_worklogs


async def test_only_and_filters_narrow_the_sync(sim, tmp_path):
    space = sim.confluence.space(sim.confluence.space_ids()[1])
    result = await run_sync(sim, tmp_path, spaces=(space["key"],), products=("confluence",), attachments=False)
    assert result.status == "ok", result.errors
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert {r[0] for r in conn.execute("SELECT DISTINCT space_id FROM confluence_pages")} == {space["id"]}
    assert conn.execute("SELECT COUNT(*) FROM jira_issues").fetchone()[0] == 0
    containers = {
        r[0] for r in conn.execute("SELECT id FROM confluence_pages UNION SELECT id FROM confluence_blogposts")
    }
    comment_containers = {r[0] for r in conn.execute("SELECT container_id FROM confluence_comments")}
    assert comment_containers and comment_containers <= containers
    assert conn.execute("SELECT COUNT(*) FROM confluence_attachments WHERE sha256 IS NOT NULL").fetchone()[0] == 0
    assert not blob_files(tmp_path / "blobs")
    assert not any(e.host == "media" for e in sim.log.entries)


async def test_project_filter(sim, tmp_path):
    project = sim.jira.projects()[1]
    result = await run_sync(sim, tmp_path, projects=(project["key"],), products=("jira",))
    assert result.status == "ok", result.errors
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert {r[0] for r in conn.execute("SELECT DISTINCT project_id FROM jira_issues")} == {project["id"]}
    assert conn.execute("SELECT COUNT(*) FROM confluence_pages").fetchone()[0] == 0


async def test_run_history_records_the_run(sim, tmp_path):
    result = await run_sync(sim, tmp_path)
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    run = conn.execute(
        "SELECT status, requests, rows_written, downloads, finished_at FROM sync_runs WHERE id = ?", (result.run_id,)
    ).fetchone()
    assert run[0] == "ok" and run[1] == len(sim.log.gateway()) and run[2] > 0 and run[3] > 0 and run[4]


async def test_request_count_is_within_1_2x_of_the_documented_minimum(tmp_path):
    from pipeline.budget import minimum_requests

    async with Simulator(SimConfig(scale="small", seed=2)) as sim:
        result = await run_sync(sim, tmp_path)
        made = len(sim.log.gateway())
    budget = minimum_requests(tmp_path / "atlassian.db")
    assert result.status == "ok" and result.stats["requests"] == made
    assert budget["total"] <= made <= 1.2 * budget["total"], (made, budget)


async def test_project_keys_go_as_a_repeated_parameter(sim, tmp_path):
    keys = tuple(p["key"] for p in sim.jira.projects())
    result = await run_sync(sim, tmp_path, projects=keys, products=("jira",))
    searches = [e.query for e in sim.log.gateway() if e.path.endswith("/project/search")]
    assert result.status == "ok" and all(searches)
    assert all(f"keys={key}" in searches[0] for key in keys) and "%2C" not in searches[0]
