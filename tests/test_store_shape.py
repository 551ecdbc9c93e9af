"""A store for people and tools: plain text, full-text search, views with names, Datasette as it is."""

from __future__ import annotations

import sqlite3

from helpers import run_sync

from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator
from pipeline.store import Store
from pipeline.text import from_adf, from_storage


def test_code_blocks_and_link_bodies_are_searchable_text():
    xhtml = (
        '<p>Run:</p><ac:structured-macro ac:name="code"><ac:parameter ac:name="language">sh</ac:parameter>'
        '<ac:plain-text-body><![CDATA[make test && echo "a <b>"]]></ac:plain-text-body></ac:structured-macro>'
        '<p>see <ac:link><ri:page ri:content-title="Home" /><ac:plain-text-link-body><![CDATA[the home page]]>'
        "</ac:plain-text-link-body></ac:link>&nbsp;<!-- a <p> in a comment --></p>"
    )
    assert from_storage(xhtml) == 'Run:\nmake test && echo "a <b>"\nsee the home page'


def test_plain_text_from_storage_xhtml():
    xhtml = (
        "<h1>Plan &amp; ship</h1><p>Step <strong>one</strong> 🚀</p><ul><li>a</li><li>b</li></ul>"
        '<ac:structured-macro><ac:parameter ac:name="x">hidden</ac:parameter></ac:structured-macro>'
        '<ac:image><ri:attachment ri:filename="chart.png" /></ac:image>'
    )
    assert from_storage(xhtml) == "Plan & ship\nStep one 🚀\na\nb\nchart.png"
    assert from_storage(None) is None and from_storage("") is None


def test_plain_text_from_atlassian_document_format():
    doc = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "heading", "content": [{"type": "text", "text": "Título"}]},
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Hi "},
                    {"type": "mention", "attrs": {"text": "@Ana"}},
                    {"type": "hardBreak"},
                    {"type": "text", "text": "bye"},
                ],
            },
        ],
    }
    assert from_adf(doc) == "Título\nHi @Ana\nbye"
    assert from_adf('{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"x"}]}]}') == "x"
    assert from_adf(None) is None


async def test_search_and_views_after_a_sync(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=8)) as sim:
        await run_sync(sim, tmp_path)
        page = next(sim.confluence.contents("page"))
        issue = sim.jira.issue(sim.jira.all_issue_ids()[3])
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    word = page["title"].split()[0]
    hits = conn.execute("SELECT rowid FROM confluence_pages_fts WHERE confluence_pages_fts MATCH ?", (word,)).fetchall()
    assert hits, "page titles are searchable"
    summary_word = issue["summary"].split()[0]
    found = conn.execute(
        "SELECT i.key FROM jira_issues i JOIN jira_issues_fts f ON f.rowid = i.rowid WHERE jira_issues_fts MATCH ?",
        (summary_word,),
    ).fetchall()
    assert (issue["key"],) in found
    space_key = sim.confluence.space(page["spaceId"])["key"]
    assert conn.execute("SELECT space_key FROM confluence_pages_view WHERE id = ?", (page["id"],)).fetchone() == (
        space_key,
    )
    row = conn.execute("SELECT project_key, reporter FROM jira_issues_view WHERE key = ?", (issue["key"],)).fetchone()
    assert row[0] == issue["key"].split("-")[0] and row[1].startswith("User ")


def test_shaping_is_idempotent_and_upgrades_an_older_database(tmp_path):
    from pipeline.store import SCHEMA

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(SCHEMA)  # the first schema, before search text and sweep columns
    conn.close()
    for _ in range(2):
        store = Store(db).open()
        store.close()
    columns = {r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(confluence_pages)")}
    assert {"body_text", "seen_sweep", "labels_version"} <= columns


def test_a_file_that_is_not_a_database_is_named(tmp_path):
    import pytest

    from pipeline.errors import ConfigError

    path = tmp_path / "notes.db"
    path.write_text("just some text, not SQLite " * 100)
    with pytest.raises(ConfigError, match="not a database this tool can use"):
        Store(path).open()


async def test_datasette_opens_the_store_as_it_is_and_search_works(tmp_path):
    from datasette.app import Datasette

    async with Simulator(SimConfig(scale="tiny", seed=8)) as sim:
        await run_sync(sim, tmp_path)
        issue = sim.jira.issue(sim.jira.all_issue_ids()[0])
    datasette = Datasette([str(tmp_path / "atlassian.db")])
    response = await datasette.client.get(
        "/atlassian/jira_issues.json?_shape=array&_search=" + issue["summary"].split()[0]
    )
    assert response.status_code == 200
    assert issue["key"] in {row["key"] for row in response.json()}
    response = await datasette.client.get("/atlassian/confluence_pages_view.json?_shape=array&_size=5")
    assert response.status_code == 200 and {"space_key", "title"} <= set(response.json()[0])


def test_search_triggers_fire_only_for_indexed_columns(tmp_path):
    """Stamping sweep bookkeeping must not re-index a row: an unchanged night stays cheap."""
    from pipeline.store import SEARCH, Batch

    store = Store(tmp_path / "a.db").open()
    page = {"id": "1", "title": "Plan", "body_text": "ship it", "body_storage": "<p>ship it</p>", "version": 1}
    store.write(Batch("confluence_pages", [page]))
    index = "SELECT group_concat(hex(block)) FROM confluence_pages_fts_data"
    for column in ("seen_sweep", "labels_version", "deleted_at", "raw", "version"):
        before = store.conn.execute(index).fetchone()
        store.conn.execute(f"UPDATE confluence_pages SET {column} = 7 WHERE id = '1'")
        assert store.conn.execute(index).fetchone() == before, f"updating {column} wrote to the search index"
    for column in ("seen_sweep", "labels_version"):  # bookkeeping: nothing but the row itself is written
        before = store.conn.total_changes
        store.conn.execute(f"UPDATE confluence_pages SET {column} = 8 WHERE id = '1'")
        assert store.conn.total_changes - before == 1
    before = store.conn.execute(index).fetchone()
    store.conn.execute("UPDATE confluence_pages SET body_text = 'ship it now' WHERE id = '1'")
    assert store.conn.execute(index).fetchone() != before  # an indexed column still re-indexes
    found = store.conn.execute("SELECT rowid FROM confluence_pages_fts WHERE confluence_pages_fts MATCH 'now'")
    assert found.fetchall()
    for table, columns in SEARCH.items():  # every searched table, including those added later
        sql = store.conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (f"{table}_au",)).fetchone()[0]
        assert "UPDATE OF" in sql and all(c in sql for c in columns)
    store.close()


def test_an_older_database_gets_the_narrow_search_triggers(tmp_path):
    from pipeline.store import SEARCH

    db = tmp_path / "old.db"
    store = Store(db).open()
    store.close()
    conn = sqlite3.connect(db)  # as an older version (sqlite-utils' enable_fts) left it: triggers on every update
    for table, columns in SEARCH.items():
        fts, cols = f"{table}_fts", ", ".join(columns)
        old, new = (", ".join(f"{side}.{c}" for c in columns) for side in ("old", "new"))
        conn.execute(f"DROP TRIGGER {table}_au")
        conn.execute(
            f"CREATE TRIGGER {table}_au AFTER UPDATE ON {table} BEGIN "
            f"INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES('delete', old.rowid, {old}); "
            f"INSERT INTO {fts} (rowid, {cols}) VALUES (new.rowid, {new}); END"
        )
    conn.commit()
    conn.close()
    store = Store(db).open()
    for table in SEARCH:
        sql = store.conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (f"{table}_au",)).fetchone()[0]
        assert "UPDATE OF" in sql
    store.close()
