"""Response bodies recorded from real sites (and Atlassian's spec examples) through the sync's own code.

The bodies are not part of this repository: they are read from ATLASSIAN_REAL_RESPONSES_DIR, by default
the shared folder beside the checkout (../shared/real-responses, with PROVENANCE.md saying where each
came from). Without them these tests skip.

A replay gateway on loopback serves each body at the path the sync asks for, to the sync's own
GatewayClient (parsing, link re-rooting), paginators, source functions, row mappers and Store. Where no
body was recorded for an endpoint (PROVENANCE: "the replay assembles them"), the recorded objects are put
in the recorded envelope of a sibling listing, and the tests say so. Every assertion is a value read
from the files: ids, parents, versions, and times in the one stored form.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import anyio
import pytest
from aiohttp import web

from pipeline.auth import Credentials
from pipeline.blobs import BlobStore
from pipeline.config import Settings, load_settings
from pipeline.context import DownloadJob, SyncContext
from pipeline.http import ApiResponse, GatewayClient
from pipeline.links import reroot
from pipeline.paginate import next_link
from pipeline.progress import Progress
from pipeline.runner import writer
from pipeline.sources.confluence.attachments import sync_attachments
from pipeline.sources.confluence.comments import sync_comments
from pipeline.sources.confluence.contents import sync_contents
from pipeline.sources.confluence.rows import label_row, space_row
from pipeline.sources.confluence.spaces import sync_spaces
from pipeline.sources.jira.attachments import catch_up
from pipeline.sources.jira.issues import sync_new_project
from pipeline.sources.jira.projects import sync_fields, sync_projects
from pipeline.sources.jira.rows import attachment_row
from pipeline.sources.jira.worklogs import sync_worklogs
from pipeline.store import Batch, Store
from pipeline.tenant import discover_cloud_id

REAL = Path(
    os.environ.get("ATLASSIAN_REAL_RESPONSES_DIR", Path(__file__).resolve().parents[2] / "shared/real-responses")
)
pytestmark = pytest.mark.skipif(
    not (REAL / "PROVENANCE.md").is_file(),
    reason=f"no recorded responses at {REAL} (set ATLASSIAN_REAL_RESPONSES_DIR to replay them)",
)
CLOUD = "c57406ca-2b2f-4a8e-9f5c-5a2b8d1e0f11"
SITE = "https://text2conf.atlassian.net"
REPLAYED = {  # every file the tests below read; a file added to the folder and not replayed fails the suite
    "confluence/footer-comment-single__aai-cli-reply-idx55335955367.json",
    "confluence/footer-comment-single__aai-cli-top-idx55335955367.json",
    "confluence/inline-comments__skyscanner-idx8529192759.json",
    "confluence/link-header__doctoolchain-pr1459.json",
    "confluence/page-attachments-2__text2confl.json",
    "confluence/page-attachments__text2confl.json",
    "confluence/page-labels__text2confl.json",
    "confluence/page-single__aai-cli-idx55335955367.json",
    "confluence/page-single__acli-drawio-configuration-idx66952296990.json",
    "confluence/page-single__acli-drawio-home-idx66804479233.json",
    "confluence/page-single__rust-serde-test-idx22268224716.json",
    "confluence/page-single__text2confl-after-create.json",
    "confluence/page-single__text2confl-after-rename.json",
    "confluence/page-single__text2confl-after-update.json",
    "confluence/page-single__text2confl-space-home.json",
    "confluence/space-single__aai-cli-idx55335955367.json",
    "confluence/spaces__text2confl.json",
    "jira/attachment-metadata__go-atlassian.json",
    "jira/changelog-bulkfetch__openapi-example.json",
    "jira/field__go-atlassian.json",
    "jira/field__openapi-example.json",
    "jira/issue-bulkfetch__openapi-example.json",
    "jira/issue-comment__airbyte.json",
    "jira/issue-comment__go-atlassian.json",
    "jira/issue-comment__openapi-example.json",
    "jira/issue-worklog__go-atlassian.json",
    "jira/issue-worklog__openapi-example.json",
    "jira/issue__go-atlassian.json",
    "jira/myself__go-atlassian.json",
    "jira/myself__openapi-example.json",
    "jira/project-search__go-atlassian.json",
    "jira/project-search__openapi-example.json",
    "jira/search-jql__openapi-example.json",
    "jira/search-legacy__go-atlassian.json",
    "site/tenant-info__hand-written.json",
}


def recorded(name: str) -> Any:
    assert name in REPLAYED, f"{name}: add it to REPLAYED"
    return json.loads((REAL / name).read_text(encoding="utf-8"))


# -- the replay gateway ------------------------------------------------------------------------------
@dataclass
class Answer:
    method: str
    path: str
    body: Any
    query: dict[str, str] = field(default_factory=dict)  # parameters that must match
    posted: dict[str, Any] = field(default_factory=dict)  # JSON body fields that must match
    headers: dict[str, str] = field(default_factory=dict)


class ReplayGateway:
    """Recorded bodies at the gateway's paths: /ex/{product}/{cloudId}/<the API path>."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.asked: list[tuple[str, str, dict[str, str], Any]] = []
        self.url = ""

    def answer(self, method: str, path: str, body: Any, **match: Any) -> None:
        self.answers.append(Answer(method, path, body, **match))

    async def handle(self, request: web.Request) -> web.Response:
        if request.match_info["cloud"] != CLOUD:
            return web.json_response({"code": 404, "message": "Cannot find cloud with the given cloudId"}, status=404)
        path = "/" + request.match_info["tail"]
        posted = await request.json() if request.method == "POST" else None
        self.asked.append((request.method, path, dict(request.query), posted))
        candidates = sorted(self.answers, key=lambda a: -(len(a.query) + len(a.posted)))
        for a in candidates:
            if (a.method, a.path) != (request.method, path):
                continue
            if any(request.query.get(k) != v for k, v in a.query.items()):
                continue
            if any((posted or {}).get(k) != v for k, v in a.posted.items()):
                continue
            return web.json_response(a.body, headers=a.headers)
        return web.json_response({"errorMessages": [f"nothing recorded for {request.method} {path}"]}, status=404)


@pytest.fixture
async def replay() -> AsyncIterator[ReplayGateway]:
    gateway = ReplayGateway()
    app = web.Application()
    app.router.add_route("*", "/ex/{product}/{cloud}/{tail:.*}", gateway.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    gateway.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield gateway
    await runner.cleanup()


def settings_for(replay: ReplayGateway, tmp_path: Path, **overrides: Any) -> Settings:
    flags = {
        "site": SITE,
        "cloud_id": CLOUD,
        "gateway": replay.url,
        "db": tmp_path / "real.db",
        "attachments_dir": tmp_path / "blobs",
        "max_retries": 0,
        **overrides,
    }
    return load_settings(flags, environ={}, default_config=False)


@dataclass
class Replayed:
    db: sqlite3.Connection
    downloads: list[DownloadJob]
    errors: list


async def in_sync(
    replay: ReplayGateway, tmp_path: Path, work: Callable[[SyncContext], Awaitable[Any]], **overrides: Any
) -> Replayed:
    """Run source code as the sync does: a real client, context, single writer and store; downloads are
    collected, not fetched (no bytes were recorded)."""
    settings = settings_for(replay, tmp_path, **overrides)
    store = Store(settings.db).open()
    write_send, write_receive = anyio.create_memory_object_stream[Batch](100)
    download_send, download_receive = anyio.create_memory_object_stream[DownloadJob](1000)
    credentials = Credentials.from_env({"ATLASSIAN_TOKEN": "replay-token"})
    async with GatewayClient(settings, credentials, CLOUD, settings.site) as client:
        ctx = SyncContext(
            settings,
            client,
            store,
            BlobStore(settings.attachments_dir),
            write_send,
            {"confluence": download_send, "jira": download_send},
            Progress("quiet"),
            run_id=1,
        )
        async with anyio.create_task_group() as group:
            group.start_soon(writer, store, write_receive, ctx.write_gate)
            await work(ctx)
            await ctx.flush()
            write_send.close()
    download_send.close()
    downloads = [job async for job in download_receive]
    ctx.db.close()
    store.close()
    return Replayed(sqlite3.connect(settings.db), downloads, ctx.errors)


async def get(replay: ReplayGateway, tmp_path: Path, product: str, path: str) -> ApiResponse:
    settings = settings_for(replay, tmp_path)
    credentials = Credentials.from_env({"ATLASSIAN_TOKEN": "replay-token"})
    async with GatewayClient(settings, credentials, CLOUD, settings.site) as client:
        return await client.get(product, path)


def jira_project(project: dict[str, str]) -> Callable[[SyncContext], Awaitable[None]]:
    """One project's issues as `pipeline.sources.jira.sync` runs them: listed, fetched, then bytes queued."""

    async def run(ctx: SyncContext) -> None:
        await sync_new_project(ctx, project, anyio.Semaphore(2))
        await ctx.flush()
        if ctx.settings.jira_worklogs:  # worklogs come site-wide, after the issues
            await sync_worklogs(ctx, [project])
        await catch_up(ctx)

    return run


async def replay_issues(replay: ReplayGateway, tmp_path: Path, bulkfetch: dict, **overrides: Any) -> Replayed:
    """One project synced as the sync does it: search/jql lists the ids (the recorded shape: no total),
    bulkfetch answers `bulkfetch`, then whatever the issues lead to (answers the test registered)."""
    ids = list(dict.fromkeys(str(issue["id"]) for issue in bulkfetch["issues"]))
    replay.answer("POST", "/rest/api/3/search/jql", {"issues": [{"id": i} for i in ids], "isLast": True})
    replay.answer("POST", "/rest/api/3/issue/bulkfetch", bulkfetch)
    # field history and worklogs are on by default: none unless the test registered some (its answers come first)
    replay.answer("POST", "/rest/api/3/changelog/bulkfetch", {"issueChangeLogs": []})
    for listing in ("updated", "deleted"):
        replay.answer("GET", f"/rest/api/3/worklog/{listing}", {"values": [], "since": 0, "until": 0, "lastPage": True})
    return await in_sync(replay, tmp_path, jira_project({"id": "10000", "key": "AB"}), **overrides)


def site_wide_worklogs(replay: ReplayGateway, worklogs: list) -> None:
    """Recorded worklog objects as the site-wide listings give them: worklog/updated names their ids (numbers
    in the schema; the placeholders of a doc example are not, so they are numbered), worklog/list answers."""
    ids = [
        {"worklogId": int(w["id"]) if str(w["id"]).isdigit() else n, "updatedTime": 1} for n, w in enumerate(worklogs)
    ]
    replay.answer("GET", "/rest/api/3/worklog/updated", {"values": ids, "since": 0, "until": 1, "lastPage": True})
    replay.answer("POST", "/rest/api/3/worklog/list", worklogs)


def fetched(issues: list) -> dict:
    return {"issues": issues, "issueErrors": []}


def envelope(results: list, base: str, following: str | None = None) -> dict:
    """The recorded envelope of Confluence v2 listings, around recorded objects."""
    links = {"base": base, **({"next": following} if following else {})}
    return {"results": results, "_links": links}


def table(db: sqlite3.Connection, sql: str) -> set[tuple]:
    return set(db.execute(sql).fetchall())


# -- Confluence --------------------------------------------------------------------------------------
async def test_spaces_of_real_types_are_stored_with_utc_times(replay, tmp_path):
    replay.answer("GET", "/wiki/api/v2/spaces", recorded("confluence/spaces__text2confl.json"))
    result = await in_sync(replay, tmp_path, sync_spaces)
    assert not result.errors
    single = recorded("confluence/space-single__aai-cli-idx55335955367.json")
    row = space_row(single)
    assert table(result.db, "SELECT id, key, type, status, homepage_id, created_at FROM confluence_spaces") == {
        ("98445", "Docs", "knowledge_base", "current", "98581", "2025-03-01T15:25:49.883Z")
    }
    assert (row["id"], row["key"], row["type"], row["homepage_id"], row["created_at"]) == (
        "98309",
        "SD",
        "onboarding",
        "98422",
        "2026-05-13T14:55:20.941Z",
    )


PAGES = {  # file: (id, parent_id, space_id, version, created_at, updated_at, body_storage)
    "page-single__aai-cli-idx55335955367.json": (
        "3964929",
        "98422",
        "98309",
        2,
        "2026-05-27T07:09:12.000Z",  # recorded as 2026-05-27T07:09:12Z, without milliseconds
        "2026-05-27T07:13:32.034Z",
        "Updated body content for skill documentation.",
    ),
    "page-single__acli-drawio-configuration-idx66952296990.json": (
        "18753814575",
        "18753552796",
        "18753552445",
        1,
        "2023-10-03T13:27:34.086Z",
        "2023-10-03T13:27:34.086Z",
        None,  # "body": {}
    ),
    "page-single__acli-drawio-home-idx66804479233.json": (
        "18753552796",
        None,
        "18753552445",
        1,
        "2023-10-03T13:27:32.225Z",
        "2023-10-03T13:27:32.225Z",
        None,
    ),
    "page-single__rust-serde-test-idx22268224716.json": (
        "7700526",
        "98307",
        "98306",
        1,
        "2023-12-12T07:25:30.563Z",
        "2023-12-12T07:25:30.563Z",
        None,
    ),
    "page-single__text2confl-after-create.json": (
        "2719745",
        "851969",
        "458757",
        1,
        "2025-11-19T05:44:33.959Z",
        "2025-11-19T05:44:33.959Z",
        "<p>hello world</p>",
    ),
    "page-single__text2confl-space-home.json": (
        "98581",
        None,
        "98445",
        1,
        "2025-03-01T15:25:50.792Z",
        "2025-03-01T15:25:51.008Z",
        None,
    ),
    "page-single__text2confl-after-update.json": (
        "1441795",
        "851969",
        "458757",
        2,
        "2025-11-18T20:10:12.198Z",
        "2025-11-19T05:44:33.959Z",
        "<p>hello world</p>",
    ),
    "page-single__text2confl-after-rename.json": (  # the same page later: "body": null, version 9
        "1441795",
        None,
        "458757",
        9,
        "2025-11-18T20:10:12.198Z",
        "2025-11-19T05:44:33.959Z",
        None,
    ),
}


async def test_pages_follow_the_recorded_link_header_and_keep_ids_parents_versions_and_times(replay, tmp_path):
    """The recorded `Link` header (cursor with `=` padding, parameters after it) chains two listing pages
    assembled from every recorded page object; the rename answer comes last, so the store holds it."""
    header = recorded("confluence/link-header__doctoolchain-pr1459.json")["Link"]
    following = next_link(ApiResponse("", 200, {"Link": header}, {"results": []}))
    assert following.startswith("/wiki/api/v2/spaces/XXXXX/pages?cursor=")
    cursor = parse_qs(urlsplit(following).query)["cursor"][0]
    assert cursor.endswith("=") and parse_qs(urlsplit(following).query)["depth"] == ["all"]
    root = f"{replay.url}/ex/confluence/{CLOUD}"
    assert reroot(following, root) == root + following  # never the `base` the header also names
    objects = [recorded(f"confluence/{name}") for name in PAGES]
    base = "https://XXXXX.atlassian.net/wiki"
    replay.answer("GET", "/wiki/api/v2/spaces/XXXXX/pages", {"results": objects[:4]}, headers={"Link": header})
    replay.answer("GET", "/wiki/api/v2/spaces/XXXXX/pages", envelope(objects[4:], base), query={"cursor": cursor})

    result = await in_sync(replay, tmp_path, lambda ctx: sync_contents(ctx, {"id": "XXXXX"}, "page"))
    assert not result.errors
    asked = [(p, q) for _, p, q, _ in replay.asked]
    assert asked == [
        # statuses current and archived, asked for explicitly (the first of the repeated values shows here)
        ("/wiki/api/v2/spaces/XXXXX/pages", {"limit": "250", "status": "current", "body-format": "storage"}),
        ("/wiki/api/v2/spaces/XXXXX/pages", {"cursor": cursor, "depth": "all", "limit": "100"}),
    ]
    stored = table(
        result.db,
        "SELECT id, parent_id, space_id, version, created_at, updated_at, body_storage FROM confluence_pages "
        "WHERE deleted_at IS NULL",
    )
    final = {want[0]: want for want in PAGES.values()}  # a later answer for the same id wins
    assert stored == set(final.values())


async def test_attachments_chain_by_next_link_and_download_through_the_v1_route(replay, tmp_path):
    first = recorded("confluence/page-attachments__text2confl.json")
    second = recorded("confluence/page-attachments-2__text2confl.json")
    # the site-wide listing the sync uses has the recorded envelope of the per-page one; its next link
    # (hand-edited by the author to cursor=abc) is followed as it is
    replay.answer("GET", "/wiki/api/v2/attachments", first)
    replay.answer("GET", "/wiki/api/v2/pages/1507344/attachments", second, query={"cursor": "abc"})
    result = await in_sync(replay, tmp_path, sync_attachments)
    assert not result.errors
    assert table(
        result.db,
        "SELECT id, container_id, container_type, title, file_size, version, created_at, file_id "
        "FROM confluence_attachments",
    ) == {
        (
            "att1441849",
            "1507344",
            "page",
            "test.txt",
            14,
            5,
            "2025-11-18T20:57:17.434Z",
            "b80a5250-1d45-4d43-9d6b-4715ab7f7640",
        ),
        (
            "att3309693",
            "1507344",
            "page",
            "test link21",
            14,
            1,
            "2025-11-20T09:09:03.397Z",
            "ed1492b4-3f0f-441a-a86b-ba147275f109",
        ),
    }
    # never the downloadLink servlet (401 to tokens): the v1 route, by container and id
    assert {(j.item_id, j.path, j.version, j.size) for j in result.downloads} == {
        ("att1441849", "/wiki/rest/api/content/1507344/child/attachment/att1441849/download", 5, 14),
        ("att3309693", "/wiki/rest/api/content/1507344/child/attachment/att3309693/download", 1, 14),
    }


async def test_labels_map_to_rows(replay, tmp_path):
    replay.answer("GET", "/wiki/api/v2/pages/1507344/labels", recorded("confluence/page-labels__text2confl.json"))
    response = await get(replay, tmp_path, "confluence", "/wiki/api/v2/pages/1507344/labels")
    rows = [label_row(item) for item in response.data["results"]]
    assert [(r["id"], r["name"], r["prefix"]) for r in rows] == [
        ("131075", "aaa", "global"),
        ("524289", "abc", "global"),
    ]
    assert next_link(response) is None


async def test_inline_comments_keep_versions_authors_and_the_newest_mark(replay, tmp_path):
    replay.answer(
        "GET", "/wiki/api/v2/inline-comments", recorded("confluence/inline-comments__skyscanner-idx8529192759.json")
    )
    result = await in_sync(replay, tmp_path, lambda ctx: sync_comments(ctx, "inline"))
    assert not result.errors
    assert table(
        result.db,
        "SELECT id, container_id, container_type, parent_comment_id, version, updated_at, author_id "
        "FROM confluence_comments",
    ) == {
        (
            "1364722844",
            "1362950472",
            "page",
            None,
            1,
            "2025-05-06T14:09:29.345Z",
            "712020:18682b8d-c1c4-432b-8a74-b72ad9e829d9",
        ),
        (
            "1365253709",
            "1362950472",
            "page",
            None,
            1,
            "2025-05-07T09:14:39.291Z",
            "70121:045cf23e-02d1-4092-8e52-ec7107f31052",
        ),
        (
            "1365351617",
            "1362950472",
            "page",
            None,
            2,
            "2025-05-07T09:20:35.952Z",
            "70121:63605fc5-aafb-402c-87ba-466682824f5f",
        ),
        (
            "1365319590",
            "1362950472",
            "page",
            None,
            1,
            "2025-05-07T09:18:19.714Z",
            "70121:63605fc5-aafb-402c-87ba-466682824f5f",
        ),
        ("1368670362", "1362950472", "page", None, 1, "2025-05-13T12:37:09.915Z", "6061e38d610003006804744c"),
    }
    mark = result.db.execute("SELECT value FROM sync_state WHERE stream = 'confluence:comments:inline:mark'").fetchone()
    assert json.loads(mark[0]) == {"mark": "2025-05-13T12:37:09.915Z"}
    body = result.db.execute("SELECT body_storage FROM confluence_comments WHERE id = '1364722844'").fetchone()[0]
    assert body == "<p>using AWS <strong><u>service managed</u></strong> admin role</p>"


async def test_footer_comments_and_their_reply(replay, tmp_path):
    top = recorded("confluence/footer-comment-single__aai-cli-top-idx55335955367.json")
    reply = recorded("confluence/footer-comment-single__aai-cli-reply-idx55335955367.json")
    replay.answer("GET", "/wiki/api/v2/footer-comments", envelope([top, reply], top["_links"]["base"]))
    result = await in_sync(replay, tmp_path, lambda ctx: sync_comments(ctx, "footer"))
    assert not result.errors
    assert table(
        result.db,
        "SELECT id, container_id, parent_comment_id, kind, version, updated_at, body_text FROM confluence_comments",
    ) == {
        ("4063233", "3964929", None, "footer", 1, "2026-05-27T07:15:13.896Z", "This is a skill doc test comment."),
        ("3964950", "3964929", "4063233", "footer", 1, "2026-05-27T07:17:58.189Z", "This is a reply comment."),
    }


# -- Jira --------------------------------------------------------------------------------------------
async def test_fields_both_recorded_lists(replay, tmp_path):
    replay.answer("GET", "/rest/api/3/field", recorded("jira/field__go-atlassian.json"))
    result = await in_sync(replay, tmp_path, sync_fields)
    assert result.db.execute("SELECT COUNT(*), SUM(custom) FROM jira_fields").fetchone() == (81, 37)
    assert result.db.execute("SELECT custom FROM jira_fields WHERE id = 'customfield_10032'").fetchone() == (1,)
    replay.answers.clear()
    replay.answer("GET", "/rest/api/3/field", recorded("jira/field__openapi-example.json"))
    result = await in_sync(replay, tmp_path / "example", sync_fields)
    assert table(result.db, "SELECT id, name, custom FROM jira_fields") == {
        ("description", "Description", 0),
        ("summary", "Summary", 0),
    }


@pytest.mark.parametrize(
    "name", ["jira/project-search__go-atlassian.json", "jira/project-search__openapi-example.json"]
)
async def test_projects_page_one_sets_the_offsets_asked_next(replay, tmp_path, name):
    replay.answer("GET", "/rest/api/3/project/search", recorded(name), query={"startAt": "0"})
    # only page 1 was recorded (total 7, two a page): the rest are answered empty, and the sync must
    # have asked for them at the offsets page 1 implies
    replay.answer("GET", "/rest/api/3/project/search", {"values": [], "total": 7, "isLast": True})
    found: list = []
    result = await in_sync(replay, tmp_path, lambda ctx: sync_projects(ctx, found))
    assert not result.errors
    live = [q for _, _, q, _ in replay.asked if "status" not in q]  # then status=archived, listed the same way
    assert sorted(int(q["startAt"]) for q in live) == [0, 2, 4, 6]
    # its site-absolute nextPage re-roots on the gateway (the sync pages by offset, but follows links so)
    root = f"{replay.url}/ex/jira/{CLOUD}"
    assert reroot(recorded(name)["nextPage"], root) == f"{root}/rest/api/3/project/search?startAt=2&maxResults=2"
    assert table(result.db, "SELECT id, key, name FROM jira_projects WHERE deleted_at IS NULL") == {
        ("10000", "EX", "Example"),
        ("10001", "ABC", "Alphabetical"),
    }


async def test_the_spec_example_issue_through_search_bulkfetch_children_and_changelogs(replay, tmp_path):
    """search/jql (ids), bulkfetch (the same issue with every field), its comment list (inline as a bare list,
    so fetched in full), its worklogs (through the site-wide listings), and changelog/bulkfetch with
    `created` as a number."""
    search = recorded("jira/search-jql__openapi-example.json")
    replay.answer("GET", "/rest/api/3/issue/10002/comment", recorded("jira/issue-comment__openapi-example.json"))
    site_wide_worklogs(replay, recorded("jira/issue-worklog__openapi-example.json")["worklogs"])
    changelogs = recorded("jira/changelog-bulkfetch__openapi-example.json")
    replay.answer("POST", "/rest/api/3/changelog/bulkfetch", changelogs)
    # its nextPageToken leads to a page that was not recorded: what a live site answers when no more
    # history is left (PROVENANCE: `{"issueChangeLogs": []}`)
    replay.answer(
        "POST", "/rest/api/3/changelog/bulkfetch", {"issueChangeLogs": []}, posted={"nextPageToken": "UxAQBFRF"}
    )
    result = await replay_issues(replay, tmp_path, fetched(search["issues"]), jira_worklogs=True, jira_changelogs=True)
    assert not result.errors
    # `updated: 1` in the example is a number: epoch seconds by the documented rule
    assert table(result.db, "SELECT id, key, project_id, created, updated FROM jira_issues") == {
        ("10002", "ED-1", "10000", None, "1970-01-01T00:00:01.000Z")
    }
    assert table(result.db, "SELECT id, issue_id, created, updated, body_text FROM jira_comments") == {
        (
            "10000",
            "10002",
            "2021-01-17T12:34:00.000Z",
            "2021-01-18T23:45:00.000Z",
            "Lorem ipsum dolor sit amet, consectetur adipiscing elit. Pellentesque eget venenatis elit. Duis eu "
            "justo eget augue iaculis fermentum. Sed semper quam laoreet nisi egestas at posuere augue semper.",
        )
    }
    assert table(result.db, "SELECT id, issue_id, started, updated, time_spent_seconds FROM jira_worklogs") == {
        ("100028", "10002", "2021-01-17T12:34:00.000Z", "2021-01-18T23:45:00.000Z", 12000)
    }
    # the attachment's id is a number and its content the `/jira/rest/api/3/...` form: bytes by id
    assert table(result.db, "SELECT id, issue_id, filename, size, created FROM jira_attachments") == {
        ("10001", "10002", "debuglog.txt", 2460, "2023-06-24T19:24:50.000Z")
    }
    assert [(j.item_id, j.path) for j in result.downloads] == [("10001", "/rest/api/3/attachment/content/10001")]
    # the epoch numbers of the example (1492070429, 1492071429) are seconds by the rule
    assert table(result.db, "SELECT id, issue_id, created FROM jira_changelogs") == {
        ("10001", "10100", "2017-04-13T08:00:29.000Z"),
        ("10002", "10100", "2017-04-13T08:17:09.000Z"),
    }
    # flattened: one row per changed item, at the history's time, by its author
    history = "SELECT id, changelog_id, issue_id, field_id, changed_at, author_id, from_string, to_string"
    assert table(result.db, f"{history} FROM jira_issue_field_history") == {
        (
            "10001:0",
            "10001",
            "10100",
            "fieldId",
            "2017-04-13T08:00:29.000Z",
            "5b10a2844c20165700ede21g",
            "old summary",
            "new summary",
        ),
        (
            "10002:0",
            "10002",
            "10100",
            "fieldId",
            "2017-04-13T08:17:09.000Z",
            "5b10a2844c20165700ede21g",
            "old summary 2",
            "new summary 2",
        ),
    }
    tokens = [body.get("nextPageToken") for _, path, _, body in replay.asked if path.endswith("changelog/bulkfetch")]
    assert tokens == [None, "UxAQBFRF"]


async def test_recorded_issues_with_offsets_inline_children_and_old_attachment_urls(replay, tmp_path):
    """18 issues recorded from a real site (the removed /search's answer), fetched as bulkfetch answers
    them; the single-issue answer of KP-19 is the same issue and must map to the same row."""
    legacy = recorded("jira/search-legacy__go-atlassian.json")
    single = recorded("jira/issue__go-atlassian.json")
    ids = [i["id"] for i in legacy["issues"]]
    result = await replay_issues(replay, tmp_path, fetched(legacy["issues"]), jira_worklogs=True)
    assert not result.errors
    issues = {r[0]: r[1:] for r in result.db.execute("SELECT id, key, project_id, created, updated FROM jira_issues")}
    assert len(issues) == 18 and {v[1] for v in issues.values()} == {"10000"}
    assert issues["10032"] == ("KP-19", "10000", "2021-05-08T06:04:25.376Z", "2021-11-18T00:18:29.845Z")  # +0100, +0000
    assert issues["10007"] == ("KP-1", "10000", "2021-01-09T04:48:24.162Z", "2021-07-17T19:53:43.107Z")
    fields = json.loads(result.db.execute("SELECT fields FROM jira_issues WHERE id = '10032'").fetchone()[0])
    assert fields["created"] == single["fields"]["created"] == "2021-05-08T07:04:25.376+0100"  # as received
    comments = result.db.execute("SELECT issue_id, COUNT(*) FROM jira_comments GROUP BY issue_id").fetchall()
    assert dict(comments) == {"10032": 1, "10009": 17, "10007": 5}
    assert result.db.execute("SELECT issue_id, created FROM jira_comments WHERE id = '10009'").fetchone() == (
        "10009",
        "2021-02-27T20:33:21.051Z",
    )
    assert table(result.db, "SELECT id, issue_id, started, updated FROM jira_worklogs") == {
        ("10001", "10007", "2021-07-16T07:01:10.774Z", "2021-07-17T18:51:50.285Z"),
        ("10002", "10007", "2021-07-16T07:01:10.774Z", "2021-07-17T18:52:14.837Z"),
    }
    assert table(result.db, "SELECT id, issue_id, created, json_extract(raw, '$.content') FROM jira_attachments") == {
        (
            "10011",
            "10009",
            "2021-07-16T05:59:51.652Z",
            "https://ctreminiom.atlassian.net/secure/attachment/10011/image-mock-00.png",
        ),
        (
            "10000",
            "10007",
            "2021-01-23T21:54:52.776Z",
            "https://ctreminiom.atlassian.net/secure/attachment/10000/Screenshot_4.png",
        ),
    }
    assert sorted((j.item_id, j.path) for j in result.downloads) == [
        ("10000", "/rest/api/3/attachment/content/10000"),
        ("10011", "/rest/api/3/attachment/content/10011"),
    ]
    assert [i for i in ids if ids.count(i) > 1] == []
    assert single["id"] == "10032" and single["key"] == "KP-19"


NO_COMMENTS = {"comments": [], "startAt": 0, "maxResults": 5000, "total": 0}


async def test_the_bulkfetch_example_with_a_repeated_id(replay, tmp_path):
    """The example asked for three fields, so it has no inline comments: the sync asks for each issue's
    full list (not recorded: answered empty here)."""
    replay.answer("GET", "/rest/api/3/issue/10002/comment", NO_COMMENTS)
    replay.answer("GET", "/rest/api/3/issue/10005/comment", NO_COMMENTS)
    result = await replay_issues(replay, tmp_path, recorded("jira/issue-bulkfetch__openapi-example.json"))
    assert not result.errors
    # 10005 comes twice (EX-2 in project 10001, then EX-4 in 10002): one row, the last answer's
    assert table(result.db, "SELECT id, key, project_id, summary FROM jira_issues") == {
        ("10002", "EX-1", "10000", "My first example issue"),
        ("10005", "EX-4", "10002", "My fourth example issue"),
    }


@pytest.mark.parametrize(
    ("name", "issue", "want"),
    [
        # recorded on a real site with -0700 offsets; the envelope was trimmed (no startAt/total)
        (
            "jira/issue-comment__airbyte.json",
            "10625",
            {
                ("10755", "2022-05-17T11:06:55.076Z", "2022-05-17T11:06:55.076Z"),
                ("10521", "2021-04-14T21:32:43.099Z", "2021-04-14T21:32:43.099Z"),
            },
        ),
        # a docs example: the same comment fourteen times under total 1
        (
            "jira/issue-comment__go-atlassian.json",
            "10010",
            {("10000", "2021-02-26T01:45:03.821Z", "2021-02-26T01:45:03.821Z")},
        ),
    ],
)
async def test_full_comment_lists(replay, tmp_path, name, issue, want):
    """An issue whose inline comment list is incomplete gets its full list: these bodies answer it."""
    stub = {"id": issue, "fields": {"project": {"id": "10000"}, "comment": {"comments": [], "total": 99}}}
    replay.answer("GET", f"/rest/api/3/issue/{issue}/comment", recorded(name))
    result = await replay_issues(replay, tmp_path, fetched([stub]))
    assert not result.errors
    assert table(result.db, "SELECT id, created, updated FROM jira_comments WHERE issue_id = '" + issue + "'") == want


async def test_a_worklog_of_placeholders_keeps_its_raw_and_null_times(replay, tmp_path):
    """Postman placeholders (`"<string>"` times, startAt 49 > total 34): no time can be read, nothing fails."""
    stub = {
        "id": "10002",
        "fields": {"project": {"id": "10000"}, "comment": NO_COMMENTS, "worklog": {"worklogs": [], "total": 34}},
    }
    site_wide_worklogs(replay, recorded("jira/issue-worklog__go-atlassian.json")["worklogs"])
    result = await replay_issues(replay, tmp_path, fetched([stub]), jira_worklogs=True)
    assert not result.errors
    assert table(
        result.db, "SELECT id, started, updated, time_spent_seconds, json_extract(raw, '$.started') FROM jira_worklogs"
    ) == {("<string>", None, None, 192, "<string>")}


def test_attachment_metadata_with_a_numeric_id_and_yet_another_content_form():
    item = recorded("jira/attachment-metadata__go-atlassian.json")
    row = attachment_row(item, "10010")
    assert (row["id"], row["filename"], row["size"], row["created"]) == (
        "10000",
        "picture.jpg",
        23123,
        "2021-01-22T07:18:27.064Z",
    )
    assert item["content"] == "https://your-domain.atlassian.net/jira/secure/attachments/10000/picture.jpg"


@pytest.mark.parametrize(
    ("name", "account", "zone"),
    [
        ("jira/myself__go-atlassian.json", "5b86be50b8e3cb5895860d6d", "America/Guatemala"),
        ("jira/myself__openapi-example.json", "5b10a2844c20165700ede21g", "Australia/Sydney"),
    ],
)
async def test_myself_answers_parse(replay, tmp_path, name, account, zone):
    replay.answer("GET", "/rest/api/3/myself", recorded(name))
    response = await get(replay, tmp_path, "jira", "/rest/api/3/myself")
    assert (response.data["accountId"], response.data["timeZone"]) == (account, zone)


async def test_the_cloud_id_from_tenant_info(tmp_path):
    body = recorded("site/tenant-info__hand-written.json")

    async def tenant_info(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/_edge/tenant_info", tenant_info)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with aiohttp.ClientSession() as session:
            found = await discover_cloud_id(session, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")
    finally:
        await runner.cleanup()
    assert found == CLOUD


def test_every_recorded_body_is_replayed():
    present = {str(p.relative_to(REAL)) for p in REAL.rglob("*.json")}
    assert present == REPLAYED
