"""Bad input gets a short message that says what to do, and nothing already fetched is lost."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from helpers import run_sync, settings_for

from pipeline.auth import Credentials
from pipeline.blobs import BlobWriter
from pipeline.errors import ConfigError, DiskFull, EndpointRemoved, Unauthorized, UnexpectedResponse
from pipeline.http import GatewayClient
from pipeline.store import Batch, Store


async def test_no_credentials_is_refused_before_any_request(sim, tmp_path):
    with pytest.raises(ConfigError, match="export ATLASSIAN_TOKEN"):
        await run_sync(sim, tmp_path, environ={})
    assert not sim.log.entries


async def test_an_unwritable_database_path_is_refused_before_any_request(sim, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="--db"):
        await run_sync(sim, tmp_path, db=blocker / "atlassian.db")
    with pytest.raises(ConfigError, match="--attachments-dir"):
        await run_sync(sim, tmp_path, attachments_dir=blocker / "blobs")
    assert not sim.log.entries


async def test_a_site_that_cannot_be_reached(sim, tmp_path):
    with pytest.raises(ConfigError, match=r"cannot reach http://127\.0\.0\.1:9 .*check the site name"):
        await run_sync(sim, tmp_path, site="http://127.0.0.1:9")


async def test_a_site_without_tenant_info(sim, tmp_path):
    with pytest.raises(ConfigError, match="Atlassian Cloud site"):
        await run_sync(sim, tmp_path, site=sim.gateway_url)


async def test_the_site_url_given_as_gateway_gets_an_html_page_which_is_never_stored(sim, tmp_path):
    result = await run_sync(sim, tmp_path, gateway=sim.site_url)
    assert result.status == "failed" and result.exit_code == 1, "nothing was synced"
    messages = " ".join(e.message for e in result.errors)
    assert "HTML page" in messages and "--gateway" in messages and "api.atlassian.com" in messages
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert conn.execute("SELECT COUNT(*) FROM confluence_spaces").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM jira_projects").fetchone()[0] == 0


async def test_a_classic_token_through_the_gateway_is_explained(sim, tmp_path):
    classic = sim.tokens.add_token(kind="classic")
    result = await run_sync(sim, tmp_path, environ={"ATLASSIAN_TOKEN": classic}, products=("jira",))
    assert result.status == "failed" and result.exit_code == 1, "nothing was synced"
    assert any("classic (unscoped) API token" in e.message for e in result.errors)


async def test_an_unknown_token_says_which_variables_to_check(sim, tmp_path):
    result = await run_sync(sim, tmp_path, environ={"ATLASSIAN_TOKEN": "wrong"}, products=("confluence",))
    assert result.status == "failed" and result.exit_code == 1, "nothing was synced"
    assert any("ATLASSIAN_TOKEN" in e.message and "scoped" in e.message for e in result.errors)


async def test_a_missing_scope_is_named_and_everything_else_is_synced(sim, tmp_path):
    from pipeline.scopes import ALL_READ_SCOPES

    token = sim.tokens.add_token(scopes=ALL_READ_SCOPES - {"read:comment:confluence"})
    result = await run_sync(sim, tmp_path, environ={"ATLASSIAN_TOKEN": token})
    assert result.status == "partial" and result.exit_code == 2
    failed = {e.stream: e.message for e in result.errors}
    assert set(failed) == {"confluence footer comments", "confluence inline comments"}
    assert all("add read:comment:confluence" in m for m in failed.values())
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert conn.execute("SELECT COUNT(*) FROM confluence_pages").fetchone()[0] > 0
    assert conn.execute("SELECT COUNT(*) FROM jira_comments").fetchone()[0] > 0
    run = conn.execute("SELECT status, errors FROM sync_runs").fetchone()
    assert run[0] == "partial" and "read:comment:confluence" in run[1]


async def test_a_removed_endpoint_says_so(sim, tmp_path):
    settings = settings_for(sim, tmp_path)
    async with GatewayClient(settings, Credentials.from_env({"ATLASSIAN_TOKEN": sim.token}), sim.cloud_id) as client:
        with pytest.raises(EndpointRemoved, match=r"removed by Atlassian.*search/jql"):
            await client.get("jira", "/rest/api/3/search", {"jql": "project = APOL"})


async def test_an_expired_oauth_secret_is_explained(sim, tmp_path):
    sim.tokens.add_client("cid", "secret")
    sim.tokens.clients["cid"].expired = True
    environ = {"ATLASSIAN_CLIENT_ID": "cid", "ATLASSIAN_CLIENT_SECRET": "secret"}
    result = await run_sync(sim, tmp_path, environ=environ, products=("jira",))
    assert any("ATLASSIAN_CLIENT_SECRET" in e.message and "expired" in e.message for e in result.errors)


async def test_a_full_disk_stops_the_sync_with_a_clear_message_and_keeps_what_was_committed(sim, tmp_path, monkeypatch):
    real_write = BlobWriter.write
    written = {"bytes": 0}

    def filling_write(self, chunk):
        written["bytes"] += len(chunk)
        if written["bytes"] > 200_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, chunk)

    monkeypatch.setattr(BlobWriter, "write", lambda self, chunk: self._guard(lambda: filling_write(self, chunk)))
    with pytest.raises(DiskFull, match="is full: free some space and run again"):
        await run_sync(sim, tmp_path)
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    assert conn.execute("SELECT COUNT(*) FROM confluence_spaces").fetchone()[0] > 0
    assert conn.execute("SELECT status FROM sync_runs").fetchone()[0] == "failed"
    assert not list((tmp_path / "blobs" / ".partial").iterdir())


def test_a_full_database_is_reported_as_a_full_disk(tmp_path):
    store = Store(tmp_path / "small.db").open()
    store.conn.execute("PRAGMA max_page_count = 40")
    rows = [{"id": str(i), "title": "x" * 2000, "raw": "{}"} for i in range(200)]
    with pytest.raises(DiskFull, match="is full"):
        store.write(Batch("confluence_pages", rows, state={"k": "v"}))
    assert store.state("k") is None, "the checkpoint did not commit without its rows"
    store.close()


def test_a_second_sync_on_the_same_database_is_refused(tmp_path):
    first = Store(tmp_path / "a.db").open()
    first.lock()
    second = Store(tmp_path / "a.db").open()
    with pytest.raises(ConfigError, match="another sync is already writing"):
        second.lock()
    first.close()
    second.lock()
    second.close()


async def test_html_with_a_200_is_never_parsed_as_data(tmp_path):
    """A proxy or login wall answering 200 text/html where the API should be."""
    from aiohttp import web

    from pipeline.config import load_settings

    calls = []

    async def login_wall(request):
        calls.append(request.path)
        return web.Response(text="<html><body>Log in to continue</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", login_wall)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    gateway = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        settings = load_settings({"gateway": gateway}, environ={}, default_config=False)
        creds = Credentials.from_env({"ATLASSIAN_TOKEN": "t"})
        async with GatewayClient(settings, creds, "00000000-0000-0000-0000-000000000000") as client:
            with pytest.raises(UnexpectedResponse, match="HTML page"):
                await client.get("jira", "/rest/api/3/field")
        assert len(calls) == 1, "a login page is not a hiccup: it is not asked again"
    finally:
        await runner.cleanup()


async def test_oauth_refusal_is_unauthorized_not_a_crash(sim, tmp_path):
    settings = settings_for(sim, tmp_path)
    creds = Credentials.from_env({"ATLASSIAN_CLIENT_ID": "nobody", "ATLASSIAN_CLIENT_SECRET": "x"})
    async with GatewayClient(settings, creds, sim.cloud_id) as client:
        with pytest.raises(Unauthorized, match="refused the OAuth client credentials"):
            await client.get("jira", "/rest/api/3/field")


async def test_no_attachments_needs_no_attachment_folder(sim, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = await run_sync(sim, tmp_path, attachments=False, attachments_dir=blocker / "blobs")
    assert result.status == "ok" and not any(e.host == "media" for e in sim.log.entries)
