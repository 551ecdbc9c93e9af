"""The network misbehaving as real servers do: each failure is retried when a retry can cure it, refused
at once when it cannot, and never lets a signed URL or a token into a message."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import anyio
import pytest
from expected import blob_files, differences, expected, stored
from helpers import run_sync, settings_for

from pipeline.auth import Credentials
from pipeline.blobs import BlobStore
from pipeline.errors import Forbidden, NotFound, RetriesExhausted, Unauthorized
from pipeline.http import GatewayClient
from pipeline.simulator.gatekeeper import FAULT_KINDS, Limits, SimConfig
from pipeline.simulator.server import Simulator

FIELDS = "/rest/api/3/field"
OAUTH = {"ATLASSIAN_CLIENT_ID": "client-1", "ATLASSIAN_CLIENT_SECRET": "secret-of-client-1"}


@pytest.fixture
async def fast_sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimConfig(scale="tiny", stall_s=2.0)) as simulator:
        simulator.tokens.add_client(OAUTH["ATLASSIAN_CLIENT_ID"], OAUTH["ATLASSIAN_CLIENT_SECRET"])
        yield simulator


def client_for(sim: Simulator, tmp_path, environ: dict[str, str] | None = None, **overrides) -> GatewayClient:
    settings = settings_for(sim, tmp_path, **overrides)
    return GatewayClient(settings, Credentials.from_env(environ or {"ATLASSIAN_TOKEN": sim.token}), sim.cloud_id)


def jira_attachment(sim: Simulator) -> dict:
    return next(a for i in sim.jira.all_issue_ids() for a in sim.jira.children("attachment", i) if a["size"] > 1)


def media_tokens(sim: Simulator) -> set[str]:
    """The signatures of every signed media URL the simulator served: secrets a client must never show."""
    return {t for e in sim.log.entries if e.host == "media" for t in parse_qs(e.query).get("token", [])}


# -- the simulator makes the failures ----------------------------------------------------------------
def test_each_host_deals_every_kind_of_fault_in_turn():
    limits = Limits(SimConfig(faults=1.0, seed=4))
    for host, kinds in FAULT_KINDS.items():
        assert {limits.fault(host) for _ in range(len(kinds))} == set(kinds)


def test_faults_can_be_narrowed_to_some_kinds_and_forced_on_the_next_requests():
    limits = Limits(SimConfig(faults=1.0, fault_kinds=("truncated",)))
    assert {limits.fault("gateway") for _ in range(10)} == {"truncated"}
    assert limits.fault("media") is None, "no media kind was chosen"
    quiet = Limits(SimConfig())
    quiet.force("auth_503", 2)
    assert [quiet.fault("auth") for _ in range(3)] == ["auth_503", "auth_503", None]
    with pytest.raises(ValueError, match="unknown fault kind"):
        quiet.force("gremlins")


async def test_a_failing_path_fails_every_time_until_switched_off(fast_sim, tmp_path, quick_backoff):
    fast_sim.troubles.failing_paths.add(FIELDS)
    async with client_for(fast_sim, tmp_path, max_retries=2) as client:
        with pytest.raises(RetriesExhausted, match="3 attempts"):
            await client.get("jira", FIELDS)
        fast_sim.troubles.clear()
        assert isinstance((await client.get("jira", FIELDS)).data, list)


# -- JSON answers ----------------------------------------------------------------------------------
async def test_a_200_whose_json_is_cut_off_is_retried(fast_sim, tmp_path, quick_backoff):
    fast_sim.limits.force("truncated")
    async with client_for(fast_sim, tmp_path) as client:
        answer = await client.get("jira", FIELDS)
    assert isinstance(answer.data, list) and answer.data, "the whole list, from the retry"
    assert fast_sim.log.counters["faults.truncated"] == 1
    assert client.stats.retries == 1 and client.stats.bad_bodies == 1


async def test_an_answer_that_is_always_cut_off_fails_by_count_with_a_clear_message(fast_sim, tmp_path, quick_backoff):
    fast_sim.limits.force("truncated", 100)
    async with client_for(fast_sim, tmp_path, max_retries=2) as client:
        with pytest.raises(RetriesExhausted, match=r"3 attempts \(a 200 whose body is cut off"):
            await client.get("jira", FIELDS)
    assert client.stats.bad_bodies == 3 and client.stats.succeeded == 0


async def test_an_answer_that_stalls_before_its_first_byte_is_retried(fast_sim, tmp_path, quick_backoff):
    fast_sim.limits.force("stall")
    async with client_for(fast_sim, tmp_path, request_timeout_s=0.5) as client:
        answer = await client.get("jira", FIELDS)
    assert isinstance(answer.data, list)
    assert fast_sim.log.counters["faults.stall"] == 1 and client.stats.retries == 1


async def test_a_429_storm_longer_than_the_retry_count_is_waited_out(fast_sim, tmp_path, quick_backoff):
    fast_sim.limits.force("429", 6)
    async with client_for(fast_sim, tmp_path, max_retries=1) as client:
        answer = await client.get("jira", FIELDS)
    assert isinstance(answer.data, list)
    assert client.stats.rate_limited == 6, "six 429s in a row, though max_retries is 1: time bounds them"


async def test_429s_are_bounded_by_the_time_budget(fast_sim, tmp_path, quick_backoff):
    fast_sim.limits.force("429", 10_000)
    async with client_for(fast_sim, tmp_path, max_retries=1, retry_budget_s=0.4) as client:
        with pytest.raises(RetriesExhausted, match="retry_budget_s") as raised:
            await client.get("jira", FIELDS)
    assert "HTTP 429" in str(raised.value)
    assert client.stats.rate_limited > 2, "more tries than max_retries allows: the budget is time"


async def test_a_retry_after_beyond_the_budget_fails_now_rather_than_after_the_wait(fast_sim, tmp_path):
    fast_sim.config.quota, fast_sim.config.quota_window_s = 1, 3600  # the next request waits about an hour
    async with client_for(fast_sim, tmp_path, retry_budget_s=60) as client:
        await client.get("jira", FIELDS)
        with pytest.raises(RetriesExhausted, match="retry_budget_s"):
            await client.get("jira", FIELDS)
        with anyio.fail_after(30):  # guards against a hang only: before the fix this waited an hour
            with pytest.raises(RetriesExhausted, match="retry_budget_s"):
                await client.get("confluence", "/wiki/api/v2/spaces")  # held by the quota pause, not asked
    assert fast_sim.log.counters["gateway.requests"] == 2


# -- OAuth renewal ---------------------------------------------------------------------------------
async def test_an_oauth_401_on_the_last_attempt_renews_the_token(fast_sim, tmp_path):
    async with client_for(fast_sim, tmp_path, OAUTH, max_retries=0) as client:
        await client.get("jira", FIELDS)
        for token in [t for t, p in fast_sim.tokens.tokens.items() if p.kind == "oauth"]:
            del fast_sim.tokens.tokens[token]  # revoked: the gateway answers 401
        answer = await client.get("jira", FIELDS)
    assert isinstance(answer.data, list)


@pytest.mark.parametrize("kind", FAULT_KINDS["auth"])
async def test_an_auth_server_that_fails_once_fails_no_request(fast_sim, tmp_path, quick_backoff, kind):
    fast_sim.limits.force(kind)
    answers = []
    async with client_for(fast_sim, tmp_path, OAUTH) as client:

        async def fetch() -> None:
            answers.append((await client.get("jira", FIELDS)).data)

        async with anyio.create_task_group() as tasks:
            for _ in range(5):
                tasks.start_soon(fetch)
    assert len(answers) == 5 and all(isinstance(a, list) for a in answers)
    assert client.stats.auth_retries == 1
    assert fast_sim.log.counters["auth.requests"] == 2, "one failure, one token, shared by every request"


async def test_an_auth_server_that_keeps_failing_gives_up_with_a_clear_message(fast_sim, tmp_path, quick_backoff):
    fast_sim.limits.force("auth_503", 100)
    async with client_for(fast_sim, tmp_path, OAUTH, max_retries=2) as client:
        with pytest.raises(RetriesExhausted, match="OAuth token") as raised:
            await client.get("jira", FIELDS)
    assert OAUTH["ATLASSIAN_CLIENT_SECRET"] not in str(raised.value)
    assert fast_sim.log.counters["auth.requests"] == 3


async def test_a_refused_client_secret_is_not_retried(fast_sim, tmp_path, quick_backoff):
    wrong = {**OAUTH, "ATLASSIAN_CLIENT_SECRET": "not-the-secret"}
    async with client_for(fast_sim, tmp_path, wrong) as client:
        with pytest.raises(Unauthorized, match="refused the OAuth client credentials"):
            await client.get("jira", FIELDS)
    assert fast_sim.log.counters["auth.requests"] == 1


# -- downloads -------------------------------------------------------------------------------------
async def download(client: GatewayClient, tmp_path, attachment: dict) -> tuple:
    blobs = BlobStore(tmp_path / "blobs")
    blobs.prepare()
    path = f"/rest/api/3/attachment/content/{attachment['id']}"
    try:
        stored = await client.download("jira", path, blobs.writer(), attachment["size"])
    finally:
        blobs.close()  # as the runner does: its partial folder and lock go
    return stored, blobs


@pytest.mark.parametrize("kind", ["media_drop", "media_short", "media_wrong_bytes"])
async def test_media_bytes_cut_short_or_wrong_are_fetched_again(fast_sim, tmp_path, quick_backoff, kind):
    attachment = jira_attachment(fast_sim)
    fast_sim.limits.force(kind)
    async with client_for(fast_sim, tmp_path) as client:
        stored, blobs = await download(client, tmp_path, attachment)
    assert stored.size == attachment["size"]
    assert blobs.path(stored.sha256).read_bytes() == fast_sim_bytes(fast_sim, attachment)
    assert fast_sim.log.counters[f"faults.{kind}"] == 1 and client.stats.retries == 1
    assert client.stats.size_mismatches == (kind == "media_wrong_bytes")
    assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == [stored.sha256]


def fast_sim_bytes(sim: Simulator, attachment: dict) -> bytes:
    from pipeline.simulator.dataset import blob_bytes

    return blob_bytes(attachment["_seed"], attachment["size"])


async def test_a_download_renews_a_revoked_oauth_token(fast_sim, tmp_path, quick_backoff):
    attachment = jira_attachment(fast_sim)
    async with client_for(fast_sim, tmp_path, OAUTH) as client:
        await client.get("jira", FIELDS)
        for token in [t for t, p in fast_sim.tokens.tokens.items() if p.kind == "oauth"]:
            del fast_sim.tokens.tokens[token]
        stored, _ = await download(client, tmp_path, attachment)
    assert stored.size == attachment["size"]
    assert fast_sim.log.counters["auth.requests"] == 2 and client.stats.retries == 0, "a renewal is not a retry"


async def test_a_malformed_media_answer_never_shows_the_signed_url(fast_sim, tmp_path, quick_backoff):
    attachment = jira_attachment(fast_sim)
    fast_sim.limits.force("media_malformed", 100)
    async with client_for(fast_sim, tmp_path, max_retries=1) as client:
        with pytest.raises(RetriesExhausted) as raised:
            await download(client, tmp_path, attachment)
    shown = str(raised.value) + repr(raised.value) + str(raised.value.url)
    assert "ClientResponseError" in shown
    tokens = media_tokens(fast_sim)
    assert tokens and not any(t in shown for t in tokens)
    assert "?" not in shown


async def test_a_malformed_media_answer_never_reaches_the_database(tmp_path, quick_backoff, caplog):
    caplog.set_level(logging.DEBUG)
    config = SimConfig(scale="tiny", faults=1.0, fault_kinds=("media_malformed",))
    async with Simulator(config) as sim:
        result = await run_sync(sim, tmp_path, products=("jira",), max_retries=0)
        tokens = media_tokens(sim)
    assert result.errors and all("ClientResponseError" in e.message for e in result.errors)
    assert tokens
    shown = " ".join(e.message for e in result.errors)
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    stored = "\n".join(conn.iterdump())  # every table: sync_runs.errors, sync_debts.last_error, download_refused
    conn.close()
    assert "jira_attachments:" in stored, "the failed downloads are owed"
    for token in tokens:
        assert token not in shown and token not in stored and token not in caplog.text
    assert "token=" not in shown + stored + caplog.text


async def test_a_gone_attachment_is_not_found_and_not_retried(fast_sim, tmp_path, quick_backoff):
    attachment = jira_attachment(fast_sim)
    fast_sim.jira_changes.delete_child("attachment", attachment["id"])
    async with client_for(fast_sim, tmp_path) as client:
        with pytest.raises(NotFound) as raised:
            await download(client, tmp_path, attachment)
    assert raised.value.status == 404 and client.stats.retries == 0


async def test_a_forbidden_attachment_is_forbidden_and_not_retried(fast_sim, tmp_path, quick_backoff):
    attachment = jira_attachment(fast_sim)
    fast_sim.troubles.forbidden_attachments.add(attachment["id"])
    async with client_for(fast_sim, tmp_path) as client:
        with pytest.raises(Forbidden) as raised:
            await download(client, tmp_path, attachment)
    assert raised.value.status == 403 and client.stats.retries == 0


async def test_a_media_host_that_refuses_a_fresh_url_too_is_forbidden(tmp_path, quick_backoff):
    async with Simulator(SimConfig(scale="tiny", media_url_ttl_s=-60)) as sim:  # every signed URL expired
        attachment = jira_attachment(sim)
        async with client_for(sim, tmp_path) as client:
            with pytest.raises(Forbidden, match="media host") as raised:
                await download(client, tmp_path, attachment)
        tokens = media_tokens(sim)
        media_requests = sim.log.counters["media.requests"]
    assert media_requests == 2, "one fresh URL in case the first expired, then no more"
    assert not any(t in str(raised.value) + raised.value.url for t in tokens)


# -- a whole sync --------------------------------------------------------------------------------------
async def test_a_sync_through_every_kind_of_fault_stores_exactly_the_site(tmp_path, quick_backoff):
    config = SimConfig(scale="tiny", seed=3, faults=0.15, stall_s=1.5, token_lifetime_s=0.5)
    async with Simulator(config) as sim:
        sim.tokens.add_client(OAUTH["ATLASSIAN_CLIENT_ID"], OAUTH["ATLASSIAN_CLIENT_SECRET"])
        result = await run_sync(sim, tmp_path, environ=OAUTH, request_timeout_s=0.5)
        assert result.status == "ok", result.errors
        assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}
        dealt = {k.removeprefix("faults.") for k, v in sim.log.counters.items() if k.startswith("faults.") and v}
    assert {kind for kinds in FAULT_KINDS.values() for kind in kinds} <= dealt
    assert result.stats["bad_bodies"] and result.stats["size_mismatches"] and result.stats["auth_retries"]
    for name, data in blob_files(tmp_path / "blobs").items():
        assert hashlib.sha256(data).hexdigest() == name, "no file holds bytes other than its name promises"
    assert not list((tmp_path / "blobs" / ".partial").iterdir())
