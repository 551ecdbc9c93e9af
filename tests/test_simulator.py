"""The fake cloud behaves as the real one does where a client can tell."""

from __future__ import annotations

import base64
import re
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from helpers import bearer, gateway_path

from pipeline.scopes import ALL_READ_SCOPES
from pipeline.simulator.gatekeeper import FAULT_KINDS, SimConfig
from pipeline.simulator.server import Simulator

V2 = "/wiki/api/v2"


async def get(http, sim, product, path, token=None, **kwargs):
    async with http.get(gateway_path(sim, product, path), headers=bearer(token or sim.token), **kwargs) as r:
        return r.status, dict(r.headers), (await r.json(content_type=None) if r.status != 302 else None)


async def post(http, sim, path, body, token=None):
    async with http.post(gateway_path(sim, "jira", path), headers=bearer(token or sim.token), json=body) as r:
        return r.status, await r.json(content_type=None)


# -- site, gateway roots, auth -----------------------------------------------------------------------
async def test_tenant_info_gives_the_cloud_id_without_credentials(sim, http):
    async with http.get(f"{sim.site_url}/_edge/tenant_info") as r:
        assert (r.status, await r.json()) == (200, {"cloudId": sim.cloud_id})


async def test_the_site_refuses_a_scoped_token_and_serves_a_login_page_to_browsers(sim, http):
    async with http.get(f"{sim.site_url}/wiki/api/v2/spaces", headers=bearer(sim.token)) as r:
        assert r.status == 401
    async with http.get(
        f"{sim.site_url}/ex/confluence/{sim.cloud_id}/wiki/api/v2/spaces", headers=bearer(sim.token)
    ) as r:
        assert r.status == 200 and "text/html" in r.headers["Content-Type"]


async def test_gateway_paths_need_the_product_and_cloud_prefix(sim, http):
    async with http.get(f"{sim.gateway_url}/wiki/api/v2/spaces", headers=bearer(sim.token)) as r:
        assert r.status == 404
    async with http.get(
        f"{sim.gateway_url}/ex/confluence/{'0' * 8}-0000-4000-8000-000000000000/wiki/api/v2/spaces",
        headers=bearer(sim.token),
    ) as r:
        assert r.status == 404


async def test_unknown_token_and_missing_scope_are_told_apart(sim, http):
    status, headers, body = await get(http, sim, "confluence", f"{V2}/spaces", token="nope")
    assert status == 401 and "X-Failure-Category" not in headers
    narrow = sim.tokens.add_token(scopes={"read:space:confluence"})
    status, _, _ = await get(http, sim, "confluence", f"{V2}/spaces", token=narrow)
    assert status == 200
    status, headers, body = await get(http, sim, "confluence", f"{V2}/pages", token=narrow)
    assert status == 401 and headers["X-Failure-Category"] == "FAILURE_CLIENT_SCOPE_CHECK"
    assert body == {"code": 401, "message": "Unauthorized; scope does not match"}


async def test_jira_accepts_the_classic_scope_or_the_whole_granular_set(sim, http):
    classic = sim.tokens.add_token(scopes={"read:jira-work"})
    assert (await get(http, sim, "jira", "/rest/api/3/field", token=classic))[0] == 200
    partial = sim.tokens.add_token(scopes={"read:field:jira"})
    assert (await get(http, sim, "jira", "/rest/api/3/field", token=partial))[0] == 401


async def test_basic_auth_needs_the_matching_email(sim, http):
    good = base64.b64encode(f"{sim.config.account_email}:{sim.token}".encode()).decode()
    bad = base64.b64encode(f"someone@else.com:{sim.token}".encode()).decode()
    url = gateway_path(sim, "confluence", f"{V2}/spaces")
    async with http.get(url, headers={"Authorization": f"Basic {good}"}) as r:
        assert r.status == 200
    async with http.get(url, headers={"Authorization": f"Basic {bad}"}) as r:
        assert r.status == 401


async def test_oauth_tokens_are_issued_and_expire():
    async with Simulator(SimConfig(token_lifetime_s=0.2)) as sim:
        sim.tokens.add_client("cid", "secret")
        clock = [1000.0]
        sim.tokens.clock = lambda: clock[0]
        assert sim.tokens.issue("cid", "wrong") is None
        token, lifetime = sim.tokens.issue("cid", "secret")
        assert lifetime == 0.2 and sim.tokens.resolve(f"Bearer {token}") is not None
        clock[0] += 0.3
        assert sim.tokens.resolve(f"Bearer {token}") is None


# -- pagination ------------------------------------------------------------------------------------
async def test_cursor_pages_link_site_relative_with_cursor_not_last(sim, http):
    path = f"{V2}/pages?limit=5&body-format=storage&sort=id"
    seen, pages = [], 0
    while path:
        status, headers, body = await get(http, sim, "confluence", path)
        assert status == 200 and body["_links"]["base"] == f"{sim.site_url}/wiki"
        seen += [p["id"] for p in body["results"]]
        pages += 1
        path = body["_links"].get("next")
        if path:
            assert path.startswith("/wiki/api/v2/pages?")
            assert headers["Link"] == f'<{path}>; rel="next"'
            keys = [k for k, _ in parse_qsl(urlsplit(path).query)]
            assert "cursor" in keys and keys[-1] != "cursor"
        else:
            assert "Link" not in headers
    assert seen == sorted(seen, key=int) and len(seen) == len(set(seen)) and pages > 2


async def test_limits_above_the_maximum_are_capped(tmp_path, http):
    async with Simulator(SimConfig(scale="medium")) as sim:
        status, _, body = await get(http, sim, "confluence", f"{V2}/pages?limit=1000")
        assert status == 200 and len(body["results"]) == 250


async def test_attachments_default_to_fifty_a_page(tmp_path, http):
    async with Simulator(SimConfig(scale="medium")) as sim:
        _, _, body = await get(http, sim, "confluence", f"{V2}/attachments")
        assert len(body["results"]) == 50


async def test_per_container_comments_are_roots_and_children_come_separately(sim, http):
    replies = [c for c in sim.confluence.all_comments("footer") if c["parentCommentId"]]
    assert replies, "the data has threaded replies"
    reply = replies[0]
    container, parent = reply["_container"], reply["parentCommentId"]
    _, _, roots = await get(http, sim, "confluence", f"{V2}/pages/{container}/footer-comments")
    assert reply["id"] not in {c["id"] for c in roots["results"]}
    _, _, children = await get(http, sim, "confluence", f"{V2}/footer-comments/{parent}/children")
    assert reply["id"] in {c["id"] for c in children["results"]}
    _, _, site_wide = await get(http, sim, "confluence", f"{V2}/footer-comments?limit=250")
    assert reply["id"] in {c["id"] for c in site_wide["results"]}


async def test_project_search_serves_fewer_than_asked_and_says_so(http):
    async with Simulator(SimConfig(scale="large")) as sim:
        _, _, body = await get(http, sim, "jira", "/rest/api/3/project/search?maxResults=100")
        # asked for 100, served (and reported) 50 a page: clients must follow what comes back
        assert body["maxResults"] == 50 and body["total"] == 20 and len(body["values"]) == 20


async def test_search_jql_pages_by_token_without_total(sim, http):
    body = {"jql": "project = APOL ORDER BY id", "maxResults": 10, "fields": ["id"]}
    ids, token = [], None
    while True:
        status, page = await post(
            http, sim, "/rest/api/3/search/jql", {**body, **({"nextPageToken": token} if token else {})}
        )
        assert status == 200 and "total" not in page
        ids += [i["id"] for i in page["issues"]]
        token = page.get("nextPageToken")
        if page["isLast"]:
            assert token is None
            break
    assert ids == [i for i in sim.jira.issue_ids("10000")]


async def test_search_jql_caps_pages_with_many_fields_at_100(http):
    async with Simulator(SimConfig(scale="small")) as sim:
        _, ids_only = await post(http, sim, "/rest/api/3/search/jql", {"jql": "project = APOL", "maxResults": 5000})
        _, full = await post(
            http, sim, "/rest/api/3/search/jql", {"jql": "project = APOL", "maxResults": 5000, "fields": ["*all"]}
        )
        assert len(ids_only["issues"]) == 150 and len(full["issues"]) == 100


async def test_inline_comments_stop_at_twenty_and_the_full_list_has_the_rest(sim, http):
    busy = next(i for i in sim.jira.all_issue_ids() if len(sim.jira.children("comment", i)) > 20)
    _, bulk = await post(http, sim, "/rest/api/3/issue/bulkfetch", {"issueIdsOrKeys": [busy], "fields": ["*all"]})
    inline = bulk["issues"][0]["fields"]["comment"]
    assert len(inline["comments"]) == 20 < inline["total"]
    _, _, full = await get(http, sim, "jira", f"/rest/api/3/issue/{busy}/comment?maxResults=5000")
    assert full["maxResults"] == 100 and len(full["comments"]) == inline["total"]


async def test_bulkfetch_takes_at_most_100_ids(sim, http):
    status, body = await post(
        http, sim, "/rest/api/3/issue/bulkfetch", {"issueIdsOrKeys": [str(i) for i in range(101)]}
    )
    assert status == 400 and body["errorMessages"]


# -- JQL ---------------------------------------------------------------------------------------------
async def jql_ids(http, sim, jql):
    status, body = await post(http, sim, "/rest/api/3/search/jql", {"jql": jql, "maxResults": 5000})
    assert status == 200, body
    return {i["id"] for i in body["issues"]}


async def test_jql_date_literals_are_read_in_the_accounts_time_zone(sim, http):
    sim.overlay.clock = lambda: datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    edited = sim.jira_changes.edit_issue("APOL-3", summary="edited at noon UTC")
    # noon UTC is 04:00 in Los Angeles: a literal of 05:00 (read as LA time) is after the edit
    assert edited["id"] not in await jql_ids(http, sim, 'project = APOL AND updated >= "2026-11-20 05:00"')
    assert edited["id"] in await jql_ids(http, sim, 'project = APOL AND updated >= "2026-11-20 03:59"')
    # the same instant in epoch milliseconds needs no zone at all
    noon_ms = int(datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)
    assert edited["id"] in await jql_ids(http, sim, f"project = APOL AND updated >= {noon_ms}")
    assert edited["id"] not in await jql_ids(http, sim, f"project = APOL AND updated > {noon_ms}")


async def test_jql_relative_periods_keys_ids_and_or(sim, http):
    sim.jira_changes.edit_issue("BORE-2")
    assert await jql_ids(http, sim, "updated >= -15m") == {sim.jira.locate("BORE-2")}
    assert await jql_ids(http, sim, "project = APOL AND key <= APOL-3") == {"10000", "10001", "10002"}
    assert await jql_ids(http, sim, "id in (10000, 10002) OR key = BORE-1") == {"10000", "10002", "110000"}


@pytest.mark.parametrize("jql", ["", "ORDER BY updated", "order by key desc"])
async def test_unbounded_jql_is_refused(sim, http, jql):
    status, body = await post(http, sim, "/rest/api/3/search/jql", {"jql": jql})
    assert status == 400 and "Unbounded" in body["errorMessages"][0]


async def test_the_removed_search_endpoint_answers_410(sim, http):
    status, _, body = await get(http, sim, "jira", "/rest/api/3/search?jql=project%3DAPOL")
    assert status == 410 and "search/jql" in body["errorMessages"][0]


# -- downloads ---------------------------------------------------------------------------------------
async def test_downloads_redirect_to_a_media_host_that_refuses_tokens(sim, http):
    attachment = sim.confluence.all_attachments()[0]
    path = f"/wiki/rest/api/content/{attachment['_container']}/child/attachment/{attachment['id']}/download"
    url = gateway_path(sim, "confluence", path)
    async with http.get(url, headers=bearer(sim.token), allow_redirects=False) as r:
        assert r.status == 302
        location = r.headers["Location"]
    assert location.startswith(sim.media_url)
    async with http.get(location, headers=bearer(sim.token)) as r:
        assert r.status == 400
    async with http.get(location) as r:
        assert r.status == 200 and len(await r.read()) == attachment["fileSize"]
    assert sim.log.counters["media.authorization_refused"] == 1


async def test_legacy_download_path_refuses_token_auth(sim, http):
    status, _, _ = await get(http, sim, "confluence", "/wiki/download/attachments/1/file.png")
    assert status == 401


async def test_jira_attachment_content_303_or_bytes_with_redirect_false(sim, http):
    issue = next(i for i in sim.jira.all_issue_ids() if sim.jira.children("attachment", i))
    attachment = sim.jira.children("attachment", issue)[0]
    url = gateway_path(sim, "jira", f"/rest/api/3/attachment/content/{attachment['id']}")
    async with http.get(url, headers=bearer(sim.token), allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].startswith(sim.media_url)
    async with http.get(url + "?redirect=false", headers=bearer(sim.token)) as r:
        assert r.status == 200 and len(await r.read()) == attachment["size"]


# -- rate limits and faults --------------------------------------------------------------------------
async def test_rate_limit_answers_429_with_the_atlassian_headers(http):
    async with Simulator(SimConfig(rate_limit=1, burst=3, seed=5)) as sim:
        answers = [await get(http, sim, "confluence", f"{V2}/spaces") for _ in range(12)]
    statuses = [a[0] for a in answers]
    assert statuses[:2] == [200, 200] and 429 in statuses
    near = [a[1] for a in answers if a[0] == 200 and a[1].get("X-RateLimit-NearLimit") == "true"]
    assert near, "a request that leaves the bucket low is warned"
    limited = [a[1] for a in answers if a[0] == 429 and "Retry-After" in a[1]]
    assert limited and all(h["RateLimit-Reason"] == "confluence-burst-based" for h in limited)
    assert all({"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(h) for h in limited)


async def test_quota_limit_names_a_quota_reason(http):
    async with Simulator(SimConfig(quota=2, quota_window_s=60)) as sim:
        answers = [await get(http, sim, "jira", "/rest/api/3/field") for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 429]
    assert answers[2][1]["RateLimit-Reason"] == "jira-quota-tenant-based"
    assert 1 <= int(answers[2][1]["Retry-After"]) <= 60


async def test_faults_are_seeded_and_repeatable(http):
    async def outcome(sim):
        try:
            return (await get(http, sim, "jira", "/rest/api/3/field"))[0]
        except aiohttp.ClientPayloadError:
            return "dropped mid-body"
        except ValueError:
            return "cut-off JSON"

    async def outcomes(seed):
        async with Simulator(SimConfig(faults=0.3, seed=seed, stall_s=0.05)) as sim:
            answers = [await outcome(sim) for _ in range(40)]
            return answers, {k: v for k, v in sim.log.counters.items() if k.startswith("faults.")}

    first = await outcomes(11)
    assert first == await outcomes(11)
    answers, dealt = first
    assert {500, 503, 429, "dropped mid-body", "cut-off JSON"} <= set(answers)
    # a stall that ends in a closed connection is tried again by aiohttp itself, so only the count shows it
    assert {f"faults.{kind}" for kind in FAULT_KINDS["gateway"]} == set(dealt)


# -- data and mutations ------------------------------------------------------------------------------
def test_generated_data_is_deterministic_per_seed():
    def snapshot(seed):
        sim = Simulator(SimConfig(seed=seed, scale="tiny"))
        pages = [p["_body"] for p in sim.confluence.contents("page")]
        issues = [sim.jira.issue(i)["summary"] for i in sim.jira.all_issue_ids()]
        return pages, issues

    assert snapshot(1) == snapshot(1)
    assert snapshot(1) != snapshot(2)


def test_the_data_has_the_awkward_cases():
    sim = Simulator(SimConfig(seed=1, scale="small"))
    attachments = sim.confluence.all_attachments()
    titles = {a["title"] for a in attachments}
    assert any("/" in t or "\\" in t for t in titles), "hostile file names"
    assert any(a["fileSize"] == 0 for a in attachments), "empty files"
    assert len({a["_seed"] for a in attachments}) < len(attachments), "the same bytes attached twice"
    statuses = {p["status"] for p in sim.confluence.contents("page")}
    assert {"current", "archived", "draft"} <= statuses
    assert any(any(ord(ch) > 0xFFFF for ch in p["title"] + p["_body"]) for p in sim.confluence.contents("page"))
    depth = max(page_depth(sim, p["id"]) for p in sim.confluence.contents("page"))
    assert depth >= 5, "deep page trees"
    bigger = Simulator(SimConfig(seed=1, scale="medium")).confluence.all_attachments()
    assert any(a["fileSize"] > 1_000_000 for a in bigger), "multi-MB attachments"


def page_depth(sim, page_id):
    depth = 0
    while (page := sim.confluence.content(page_id)) and page.get("parentId"):
        page_id, depth = page["parentId"], depth + 1
    return depth


def test_large_scale_starts_without_generating_anything():
    sim = Simulator(SimConfig(scale="large"))
    assert len(sim.jira.all_issue_ids()) == 200_000
    assert len(sim.confluence.all_content_ids("page")) == 100_000


async def test_mutations_show_through_the_api(sim, http):
    changes = sim.confluence_changes
    page = next(sim.confluence.contents("page"))
    changes.edit(page["id"], title="Renamed 🚚")
    added = changes.add("page", page["spaceId"], "Brand new", parent_id=page["id"])
    trashed = changes.set_status(added["id"], "trashed")
    _, _, listed = await get(http, sim, "confluence", f"{V2}/spaces/{page['spaceId']}/pages?limit=250")
    by_id = {p["id"]: p for p in listed["results"]}
    assert (
        by_id[page["id"]]["title"] == "Renamed 🚚"
        and by_id[page["id"]]["version"]["number"] == page["version"]["number"] + 1
    )
    assert trashed["id"] not in by_id
    _, _, trash = await get(http, sim, "confluence", f"{V2}/spaces/{page['spaceId']}/pages?status=trashed")
    assert [p["id"] for p in trash["results"]] == [added["id"]]
    issue = sim.jira_changes.add_issue("APOL", "new issue")
    comment = sim.jira_changes.add_child("comment", issue["key"])
    _, _, comments = await get(http, sim, "jira", f"/rest/api/3/issue/{issue['key']}/comment")
    assert [c["id"] for c in comments["comments"]] == [comment["id"]]
    sim.jira_changes.delete_issue(issue["key"])
    assert (await get(http, sim, "jira", f"/rest/api/3/issue/{issue['key']}/comment"))[0] == 404


def test_every_read_scope_token_covers_every_operation():
    from pipeline.scopes import OPERATIONS

    sim = Simulator(SimConfig())
    granted = sim.tokens.tokens[sim.token].scopes
    assert granted == ALL_READ_SCOPES
    assert [op.name for op in OPERATIONS if not op.allows(granted)] == []


# -- what real sites send beyond the specs (API_NOTES §7) ------------------------------------------
@pytest.mark.parametrize("quirks", [True, False])
async def test_real_sites_quirks_are_on_unless_checking_the_schemas(http, quirks):
    async with Simulator(SimConfig(scale="small", seed=3, real_quirks=quirks)) as sim:
        issue = next(i for i in sim.jira.all_issue_ids() if sim.jira.children("changelog", i))
        status, body = await post(http, sim, "/rest/api/3/changelog/bulkfetch", {"issueIdsOrKeys": [issue]})
        created = [h["created"] for log in body["issueChangeLogs"] for h in log["changeHistories"]]
        with_attachments = next(i for i in sim.jira.all_issue_ids() if len(sim.jira.children("attachment", i)) > 1)
        _, fetched = await post(http, sim, "/rest/api/3/issue/bulkfetch", {"issueIdsOrKeys": [with_attachments]})
        urls = [a["content"].removeprefix(sim.site_url) for a in fetched["issues"][0]["fields"]["attachment"]]
        contents = {re.sub(r"/\d{5,}(/.*)?$", "", url) for url in urls}  # the form, without id and file name
        types = {sim.confluence.space(s)["type"] for s in sim.confluence.space_ids()}
        stamps = [p["version"]["createdAt"] for p in sim.confluence.contents("page")]
    assert status == 200 and created
    if quirks:  # epoch milliseconds, as live sites send; content URLs in more than today's form
        assert all(isinstance(c, int) and c > 10**12 for c in created)
        assert len(contents) > 1
    else:
        assert all(isinstance(c, str) for c in created)
        assert contents == {"/rest/api/3/attachment/content"}
    # valid in the spec either way: space types beyond global/personal, times on a whole second without `.mmm`
    assert {"global", "knowledge_base", "onboarding", "personal"} <= types
    assert any("." not in s for s in stamps) and any("." in s for s in stamps)


# -- statuses --------------------------------------------------------------------------------------
async def test_pages_list_current_and_archived_by_default_and_refuse_drafts(http):
    """The v2 spec's default, which a live site follows: drafts and trashed content are not listed."""
    async with Simulator(SimConfig(scale="small", seed=1)) as sim:
        statuses = {p["status"] for p in sim.confluence.contents("page")}
        assert {"current", "archived", "draft"} <= statuses, "the site has all three"
        listed = set()
        path = f"{V2}/pages?limit=250"
        while path:
            status, _, body = await get(http, sim, "confluence", path)
            listed |= {p["status"] for p in body["results"]}
            path = body["_links"].get("next")
        assert listed == {"current", "archived"}
        status, _, _ = await get(http, sim, "confluence", f"{V2}/pages?status=draft")
        assert status == 400
        _, _, body = await get(http, sim, "confluence", f"{V2}/pages?status=current&status=archived&limit=250")
        assert {p["status"] for p in body["results"]} == {"current", "archived"}


async def test_blog_posts_list_current_by_default_and_refuse_archived_as_their_enum_does(http):
    """/blogposts and /spaces/{id}/blogposts: status is one of current, deleted, trashed (default current)."""
    async with Simulator(SimConfig(scale="small", seed=1)) as sim:
        space_id = sim.confluence.space_ids()[0]
        assert "archived" not in {b["status"] for b in sim.confluence.contents("blogpost")}, "none can be"
        for path in (f"{V2}/blogposts", f"{V2}/spaces/{space_id}/blogposts"):
            status, _, body = await get(http, sim, "confluence", f"{path}?limit=250")
            assert status == 200 and {b["status"] for b in body["results"]} == {"current"}, path
            status, _, _ = await get(http, sim, "confluence", f"{path}?status=current&status=archived")
            assert status == 400, path
            status, _, _ = await get(http, sim, "confluence", f"{path}?status=current&status=trashed")
            assert status == 200, path
