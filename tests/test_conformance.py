"""The simulator's responses validate against Atlassian's published OpenAPI specs.

The specs are not part of this repository: they are read from ATLASSIAN_OPENAPI_DIR, by default the
shared folder beside the checkout (../shared/atlassian-openapi). Without them these tests skip.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from helpers import bearer, gateway_path
from openapi_schema_validator import OAS30ReadValidator, validate

from pipeline.scopes import AGILE_OPERATIONS, OPERATIONS
from pipeline.simulator.confluence_restore import restrictions
from pipeline.simulator.dataset import PEOPLE
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.jira_catalog import SPRINT_FIELD
from pipeline.simulator.server import Simulator

SPEC_DIR = Path(
    os.environ.get("ATLASSIAN_OPENAPI_DIR", Path(__file__).resolve().parents[2] / "shared/atlassian-openapi")
)
SPEC_FILES = {"confluence-v2.json": "/wiki/api/v2", "confluence-v1.json": "", "jira-v3.json": ""}
pytestmark = pytest.mark.skipif(
    not all((SPEC_DIR / name).is_file() for name in SPEC_FILES),
    reason=f"Atlassian's OpenAPI specs are not at {SPEC_DIR} (set ATLASSIAN_OPENAPI_DIR to check conformance)",
)


@pytest.fixture(scope="module")
def spec_operations():
    """(METHOD, full path template) -> (operation, that spec's components)."""
    found = {}
    for name, prefix in SPEC_FILES.items():
        spec = json.loads((SPEC_DIR / name).read_text())
        for path, ops in spec["paths"].items():
            for method, op in ops.items():
                if isinstance(op, dict) and "responses" in op:
                    found[(method.upper(), prefix + path)] = (op, spec["components"])
    return found


def template_for(spec_operations, method: str, path: str) -> tuple[dict, dict]:
    for (m, template), value in spec_operations.items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if m == method and re.match(pattern, path):
            return value
    raise AssertionError(f"{method} {path} is not in Atlassian's specs")


def folder_created_at(body: dict) -> dict:
    """A live site sends a folder's createdAt as epoch milliseconds (md2conf PR #290), not the spec's string."""
    assert isinstance(body["createdAt"], int), "the simulator keeps the real server's number"
    return {**body, "createdAt": "2026-01-01T00:00:00.000Z"}


# where real servers are known to differ from the spec, the simulator follows the servers
KNOWN_DEVIATIONS = {("GET", "/wiki/api/v2/folders/{id}"): folder_created_at}


def check(spec_operations, method: str, path: str, status: int, body) -> None:
    op, components = template_for(spec_operations, method, path.split("?")[0])
    deviation = KNOWN_DEVIATIONS.get((method, template_for_name(spec_operations, method, path)))
    if deviation and status == 200:
        body = deviation(body)
    assert str(status) in op["responses"], f"{method} {path}: status {status} is not documented"
    content = op["responses"][str(status)].get("content", {})
    schema = (content.get("application/json") or {}).get("schema")
    if schema is None or body is None:
        return
    validate(body, {**schema, "components": components}, cls=OAS30ReadValidator)


async def test_every_endpoint_the_simulator_serves_matches_the_spec(spec_operations, http):
    # quirks off: real sites' documented departures from the schemas (numeric changelog times) are
    # checked by test_real_bodies.py and the sync tests, not here
    async with Simulator(SimConfig(scale="tiny", seed=4, real_quirks=False)) as sim:
        c, j = sim.confluence, sim.jira
        page = next(p for p in c.contents("page") if c.comments(p["id"]) and c.attachments_of(p["id"]))
        blog = next(c.contents("blogpost"))
        footer = next(x for x in c.all_comments("footer"))
        inline = next(x for x in c.all_comments("inline"))
        attachment = c.all_attachments()[0]
        label = c.labels_of(page["id"])[0]["id"] if c.labels_of(page["id"]) else c.all_labels()[0]["id"]
        space = c.space_ids()[0]
        nodes = {}
        for node in sorted(c.tree.nodes(), key=lambda n: -len(c.tree.children(n["id"]))):
            nodes.setdefault(node["type"], node["id"])  # of each kind, the one with most children
        restricted = next(p["id"] for p in c.contents("page") if restrictions(sim.config.seed, sim.overlay, p["id"]))
        with_props = next(p["id"] for p in c.contents("page") if sim.restore.properties(p["id"]))
        parent_page = next(p["id"] for p in c.contents("page") if c.tree.children(p["id"]))
        issue = next(i for i in j.all_issue_ids() if j.children("attachment", i))
        jira_attachment = j.children("attachment", issue)[0]
        since = min(t for t, _ in j.worklog_changes()) - 1
        worklog = j.worklog_changes()[0][1]
        sim.jira_changes.delete_child("worklog", j.worklog_changes()[-1][1])
        sim.jira_api.worklog_settle_s = 0  # the deletion just made shows at once
        linked = next(i for i in j.all_issue_ids() if j.links_of(i))
        v2 = "/wiki/api/v2"
        gets = [
            ("confluence", f"{v2}/spaces?limit=2"),
            ("confluence", f"{v2}/spaces/{space}/pages?body-format=storage"),
            ("confluence", f"{v2}/spaces/{space}/blogposts?body-format=atlas_doc_format"),
            ("confluence", f"{v2}/pages?limit=3&body-format=storage"),
            ("confluence", f"{v2}/pages/{page['id']}"),
            ("confluence", f"{v2}/blogposts?limit=3"),
            ("confluence", f"{v2}/blogposts/{blog['id']}?body-format=storage"),
            ("confluence", f"{v2}/pages/{page['id']}/versions"),
            ("confluence", f"{v2}/blogposts/{blog['id']}/versions?sort=modified-date"),
            ("confluence", f"{v2}/pages/{page['id']}?version=1&body-format=storage"),
            ("confluence", f"{v2}/pages/{page['id']}/labels"),
            ("confluence", f"{v2}/blogposts/{blog['id']}/labels"),
            ("confluence", f"{v2}/labels"),
            ("confluence", f"{v2}/labels/{label}/pages"),
            ("confluence", f"{v2}/labels/{label}/blogposts"),
            ("confluence", f"{v2}/attachments?limit=5"),
            ("confluence", f"{v2}/pages/{page['id']}/attachments"),
            ("confluence", f"{v2}/blogposts/{blog['id']}/attachments"),
            ("confluence", f"{v2}/footer-comments?body-format=storage"),
            ("confluence", f"{v2}/inline-comments?body-format=storage"),
            ("confluence", f"{v2}/pages/{page['id']}/footer-comments"),
            ("confluence", f"{v2}/pages/{page['id']}/inline-comments"),
            ("confluence", f"{v2}/blogposts/{blog['id']}/footer-comments"),
            ("confluence", f"{v2}/blogposts/{blog['id']}/inline-comments"),
            ("confluence", f"{v2}/footer-comments/{footer['id']}/children"),
            ("confluence", f"{v2}/footer-comments/{footer['id']}?body-format=storage"),
            ("confluence", f"{v2}/inline-comments/{inline['id']}"),
            ("confluence", f"{v2}/inline-comments/{inline['id']}/children"),
            (
                "confluence",
                f"/wiki/rest/api/content/{attachment['_container']}/child/attachment/{attachment['id']}/download",
            ),
            *(("confluence", f"{v2}/{kind}s/{node_id}") for kind, node_id in nodes.items()),
            *(("confluence", f"{v2}/{kind}s/{node_id}/direct-children") for kind, node_id in nodes.items()),
            ("confluence", f"{v2}/pages/{parent_page}/direct-children"),
            ("confluence", "/wiki/rest/api/search?cql=type%20in%20(folder,whiteboard,database,embed)&limit=3"),
            ("confluence", f"{v2}/tasks?limit=5&body-format=storage"),
            ("confluence", f"{v2}/pages/{with_props}/properties"),
            ("confluence", f"{v2}/blogposts/{blog['id']}/properties"),
            ("confluence", f"{v2}/spaces/{space}/properties"),
            ("confluence", f"{v2}/spaces/{space}/permissions"),
            ("confluence", f"/wiki/rest/api/content/{restricted}/restriction"),
            ("confluence", f"{v2}/tasks?status=complete&completed-at-from=0&page-id={page['id']}"),
            ("jira", "/rest/api/3/project/search"),
            ("jira", "/rest/api/3/field"),
            ("jira", "/rest/api/3/myself"),
            ("jira", "/rest/api/3/search/jql?jql=project%3DAPOL&fields=*all&maxResults=3&expand=names,changelog"),
            ("jira", f"/rest/api/3/issue/{issue}/comment"),
            ("jira", f"/rest/api/3/issue/{issue}/changelog"),
            ("jira", f"/rest/api/3/issue/{issue}/worklog"),
            ("jira", f"/rest/api/3/attachment/content/{jira_attachment['id']}"),
            ("jira", f"/rest/api/3/attachment/{jira_attachment['id']}"),
            ("confluence", f"{v2}/attachments/{attachment['id']}"),
            ("jira", "/rest/api/3/project/search?status=archived"),
            ("jira", "/rest/api/3/status"),
            ("jira", "/rest/api/3/priority"),
            ("jira", "/rest/api/3/resolution/search?maxResults=2"),
            ("jira", "/rest/api/3/issuetype"),
            ("jira", "/rest/api/3/issueLinkType"),
            ("jira", "/rest/api/3/project/APOL/versions"),
            ("jira", "/rest/api/3/project/APOL/components"),
            ("jira", "/rest/api/3/users/search?maxResults=3"),
            ("jira", f"/rest/api/3/user/bulk?accountId={PEOPLE[0]}&accountId={PEOPLE[11]}"),
            ("jira", f"/rest/api/3/worklog/updated?since={since}"),
            ("jira", "/rest/api/3/worklog/deleted?since=0"),
        ]
        posts = [
            ("/rest/api/3/search/jql", {"jql": "project = BORE", "fields": ["*all"], "maxResults": 2}),
            ("/rest/api/3/search/approximate-count", {"jql": "project = BORE"}),
            (
                "/rest/api/3/issue/bulkfetch",
                {"issueIdsOrKeys": [issue, "APOL-2"], "fields": ["*all"], "expand": ["names"]},
            ),
            ("/rest/api/3/changelog/bulkfetch", {"issueIdsOrKeys": [issue, "APOL-2"], "maxResults": 3}),
            ("/wiki/api/v2/users-bulk", {"accountIds": [page["authorId"], "unknown-account"]}),
            ("/rest/api/3/issue/bulkfetch", {"issueIdsOrKeys": [linked], "fields": ["issuelinks", SPRINT_FIELD]}),
            ("/rest/api/3/worklog/list", {"ids": [int(worklog)]}),
        ]
        for product, path in gets:
            async with http.get(
                gateway_path(sim, product, path), headers=bearer(sim.token), allow_redirects=False
            ) as r:
                body = await r.json(content_type=None) if r.status < 300 else None
                assert r.status < 400, (path, r.status, body)
                check(spec_operations, "GET", path, r.status, body)
        for path, payload in posts:
            product = "confluence" if path.startswith("/wiki/") else "jira"
            async with http.post(gateway_path(sim, product, path), headers=bearer(sim.token), json=payload) as r:
                assert r.status == 200, (path, await r.text())
                check(spec_operations, "POST", path, r.status, await r.json())
        served = {(op.method, op.path) for op in sim.operations.values() for op in [op[1]] if op is not None}
        served -= {(op.method, op.path) for op in AGILE_OPERATIONS}  # Jira Software's API: not in this spec
    exercised = {("GET", template_for_name(spec_operations, "GET", p)) for _, p in gets}
    exercised |= {("POST", template_for_name(spec_operations, "POST", p)) for p, _ in posts}
    unexercised = served - exercised - {("GET", "/rest/api/3/search"), ("POST", "/rest/api/3/search/jql")}
    assert not unexercised, f"endpoints served but not checked against the spec: {sorted(unexercised)}"


def template_for_name(spec_operations, method: str, path: str) -> str:
    for (m, template), _ in spec_operations.items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if m == method and re.match(pattern, path.split("?")[0]):
            return template
    return path


def test_the_scope_table_matches_the_specs(spec_operations):
    for op in OPERATIONS:
        spec_op, _ = spec_operations[(op.method, op.path)]
        listed = {tuple(entry["scopes"]) for entry in spec_op.get("x-atlassian-oauth2-scopes", [])}
        assert listed == set(op.scope_sets), op.name


def test_the_check_rejects_a_response_of_the_wrong_shape(spec_operations):
    """Guards the guard: a page whose id is a number, or a results field that is not a list, must fail."""
    with pytest.raises(Exception, match="is not of type"):
        check(spec_operations, "GET", "/wiki/api/v2/pages", 200, {"results": [{"id": 12}], "_links": {}})
    with pytest.raises(Exception, match="is not of type"):
        check(spec_operations, "GET", "/rest/api/3/project/search", 200, {"values": "none"})
    with pytest.raises(AssertionError, match="not documented"):
        check(spec_operations, "GET", "/rest/api/3/field", 302, None)
