"""Paginators against a small real server with awkward answers, and the adaptive limiter's rules."""

from __future__ import annotations

import anyio
import pytest
from aiohttp import web
from helpers import run_sync

from pipeline.auth import Credentials
from pipeline.config import load_settings
from pipeline.errors import UnexpectedResponse
from pipeline.http import GatewayClient
from pipeline.paginate import cursor_pages, offset_all, token_pages
from pipeline.ratelimit import AdaptiveLimiter, PauseTooLong
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator

CLOUD = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
async def odd_server():
    """Answers in shapes the simulator does not: a loop of next links, a Link header only, short pages."""
    calls: list[str] = []
    root = f"/ex/confluence/{CLOUD}/wiki/api/v2"

    async def looping(request):
        calls.append(request.path_qs)
        return web.json_response({"results": [{"id": "1"}], "_links": {"next": "/wiki/api/v2/loop?cursor=same"}})

    async def header_only(request):
        calls.append(request.path_qs)
        if request.query.get("cursor") == "b":
            return web.json_response({"results": [{"id": "2"}], "_links": {}})
        return web.json_response(
            {"results": [{"id": "1"}]}, headers={"Link": '</wiki/api/v2/header?cursor=b&limit=1>; rel="next"'}
        )

    async def short_offsets(request):
        calls.append(request.path_qs)
        start = int(request.query.get("startAt", 0))
        items = [{"id": str(i)} for i in range(start, min(start + 3, 10))]  # serves 3, whatever is asked
        return web.json_response({"startAt": start, "maxResults": 3, "total": 10, "values": items})

    async def tokens(request):
        calls.append(request.path_qs)
        body = await request.json()
        page = int(body.get("nextPageToken") or 0)
        answer = {"issues": [{"id": str(page)}], "isLast": page == 2}
        if page < 2:
            answer["nextPageToken"] = str(page + 1)
        return web.json_response(answer)

    async def empty_once(request):
        calls.append(request.path_qs)
        if calls.count(request.path_qs) == 1:  # a proxy's empty 200, once
            return web.Response(status=200, content_type="application/json")
        return web.json_response({"results": [{"id": "1"}], "_links": {}})

    app = web.Application()
    app.router.add_get(f"{root}/empty", empty_once)
    app.router.add_get(f"{root}/loop", looping)
    app.router.add_get(f"{root}/header", header_only)
    app.router.add_get(f"/ex/jira/{CLOUD}/rest/api/3/short", short_offsets)
    app.router.add_post(f"/ex/jira/{CLOUD}/rest/api/3/tokens", tokens)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    settings = load_settings(
        {"gateway": f"http://127.0.0.1:{runner.addresses[0][1]}"}, environ={}, default_config=False
    )
    async with GatewayClient(settings, Credentials.from_env({"ATLASSIAN_TOKEN": "t"}), CLOUD) as client:
        yield client, calls
    await runner.cleanup()


async def test_an_empty_200_is_asked_again_rather_than_read_as_no_data(quick_backoff, odd_server):
    client, calls = odd_server
    answer = await client.get("confluence", "/wiki/api/v2/empty")
    assert answer.data["results"] == [{"id": "1"}] and len(calls) == 2
    assert client.stats.bad_bodies == 1


async def test_a_next_link_that_repeats_stops_instead_of_looping(odd_server):
    client, _ = odd_server
    with pytest.raises(UnexpectedResponse, match="same next link twice"):
        async for _page in cursor_pages(client, "confluence", "/wiki/api/v2/loop", {"limit": 1}):
            pass


async def test_the_link_header_is_followed_when_the_body_has_no_next(odd_server):
    client, calls = odd_server
    ids = [i["id"] async for page in cursor_pages(client, "confluence", "/wiki/api/v2/header") for i in page.items]
    assert ids == ["1", "2"] and calls[-1].endswith("cursor=b&limit=1")


async def test_offset_listings_trust_what_comes_back_not_what_was_asked(odd_server):
    client, calls = odd_server
    seen: list[str] = []

    async def keep(items):
        seen.extend(i["id"] for i in items)

    total = await offset_all(client, "jira", "/rest/api/3/short", "values", keep, page_size=100)
    assert total == 10 and sorted(seen, key=int) == [str(i) for i in range(10)], "every item once"
    assert len(calls) == 4, "page 1 told the stride (3); the other three pages were fetched at once"


async def test_next_page_tokens_until_is_last(odd_server):
    client, _ = odd_server
    ids = [
        i["id"] async for page in token_pages(client, "jira", "/rest/api/3/tokens", {"jql": "x"}) for i in page.items
    ]
    assert ids == ["0", "1", "2"]


# -- the adaptive limiter ------------------------------------------------------------------------------
def test_a_429_halves_a_familys_concurrency_and_quiet_success_grows_it_back():
    limiter = AdaptiveLimiter(8)
    limiter.throttled("jira:GET:field", 0.0, quota=False)
    limiter.throttled("jira:GET:field", 0.0, quota=False)
    assert limiter.gate("jira:GET:field").limit == 2.0
    assert limiter.gate("confluence:GET:pages").limit == 8.0, "other families are not slowed"
    limiter.near_limit("jira:GET:field")
    assert limiter.gate("jira:GET:field").limit == 1.0
    for _ in range(40):
        limiter.succeeded("jira:GET:field")
    assert 7.0 <= limiter.gate("jira:GET:field").limit <= 8.0


class FakeTime:
    """A clock that moves only when the limiter sleeps, so waits are checked without waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


async def test_a_429_makes_the_family_wait_out_its_retry_after():
    fake = FakeTime()
    limiter = AdaptiveLimiter(4, fake.clock, fake.sleep)
    limiter.throttled("f", 7.0, quota=False)
    async with limiter.slot("f"):
        pass
    async with limiter.slot("other"):
        pass
    assert fake.sleeps == [7.0], "the throttled family waited; the other did not"


async def test_a_pause_beyond_a_requests_deadline_is_refused_rather_than_waited_out():
    fake = FakeTime()
    limiter = AdaptiveLimiter(4, fake.clock, fake.sleep)
    limiter.throttled("f", 3000.0, quota=True)
    with pytest.raises(PauseTooLong) as raised:
        async with limiter.slot("f", deadline=fake.now + 600):
            pass
    assert raised.value.wait_s == 3000.0 and fake.sleeps == [], "nothing was waited"
    async with limiter.slot("f", deadline=fake.now + 3600):
        pass
    assert fake.sleeps == [3000.0]


async def test_a_quota_pauses_every_family():
    fake = FakeTime()
    limiter = AdaptiveLimiter(4, fake.clock, fake.sleep)
    limiter.throttled("jira:GET:field", 30.0, quota=True)
    async with limiter.slot("confluence:GET:pages"):
        pass
    assert fake.sleeps == [30.0] and limiter.quota_pauses == 1
    assert limiter.gate("jira:GET:field").limit == 4.0, "a quota pause does not shrink a family's concurrency"


async def test_concurrency_never_exceeds_a_familys_limit():
    limiter = AdaptiveLimiter(3)
    inside, most = 0, 0

    async def work():
        nonlocal inside, most
        async with limiter.slot("f"):
            inside += 1
            most = max(most, inside)
            await anyio.sleep(0.01)
            inside -= 1

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(work)
    assert most == 3


async def test_a_sync_under_a_tenant_quota_pauses_and_completes_exactly(tmp_path):
    from expected import differences, expected, stored

    async with Simulator(SimConfig(scale="tiny", quota=40, quota_window_s=1.5)) as sim:
        result = await run_sync(sim, tmp_path)
        assert result.status == "ok", result.errors
        assert sim.log.counters["rate_limited.quota"] > 0
        assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}
