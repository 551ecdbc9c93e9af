"""Where attachment bytes are asked for: the one route the gateway serves, whatever the listing says."""

from __future__ import annotations

import sqlite3

from expected import differences, expected, stored
from helpers import run_sync

from pipeline.report import refused
from pipeline.sources.confluence.attachments import NO_CONTAINER


async def test_jira_bytes_come_by_id_whatever_form_the_content_url_has(sim, tmp_path):
    shapes = [
        sim.jira_api.attachment_shape(a) for i in sim.jira.all_issue_ids() for a in sim.jira.children("attachment", i)
    ]
    forms = {a["content"].removeprefix(sim.site_url).replace(a["id"], "{id}").split("{id}")[0] for a in shapes}
    # the simulator hands out the older forms real sites still have (API_NOTES §7)
    assert forms == {"/rest/api/3/attachment/content/", "/secure/attachment/", "/jira/rest/api/3/attachment/content/"}
    result = await run_sync(sim, tmp_path, products=("jira",))
    assert result.status == "ok", result.errors
    downloads = {e.path.split("/ex/jira/", 1)[1].split("/", 1)[1] for e in sim.log.gateway() if "attachment" in e.path}
    wanted = {a["id"] for i in sim.jira.all_issue_ids() for a in sim.jira.children("attachment", i)}
    assert downloads == {f"rest/api/3/attachment/content/{a}" for a in wanted}
    assert of(differences(expected(sim), stored(tmp_path / "atlassian.db")), "jira") == {}


async def test_a_confluence_attachment_listed_without_container_is_kept_without_bytes(sim, tmp_path):
    unnamed = sim.confluence.all_attachments()[0]["id"]
    sim.confluence_changes.unname_container(unnamed)
    result = await run_sync(sim, tmp_path, products=("confluence",))
    assert result.status == "ok", result.errors
    assert not [e.path for e in sim.log.gateway() if "None" in e.path]
    assert of(differences(expected(sim), stored(tmp_path / "atlassian.db")), "confluence") == {}
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    row = conn.execute(
        "SELECT container_id, sha256, download_refused FROM confluence_attachments WHERE id = ?", (unnamed,)
    ).fetchone()
    assert row == (None, None, NO_CONTAINER)
    title = sim.confluence.attachment(unnamed)["title"]
    conn.row_factory = sqlite3.Row  # as report opens it
    assert [(r["product"], r["name"], r["reason"]) for r in refused(conn)] == [("confluence", title, NO_CONTAINER)]


def of(diff: dict, product: str) -> dict:
    return {table: d for table, d in diff.items() if table.startswith(product)}
