"""The command line as a user meets it: exit codes, messages, the demo, reports, the simulator."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.request

from click.testing import CliRunner
from helpers import sync_cli_args

from pipeline.cli import main
from pipeline.scopes import ALL_READ_SCOPES

CONTRACT_TABLES = [
    "confluence_spaces",
    "confluence_pages",
    "confluence_blogposts",
    "confluence_comments",
    "confluence_attachments",
    "jira_projects",
    "jira_issues",
    "jira_comments",
    "jira_attachments",
    "sync_runs",
]


def invoke(args, env=None):
    runner = CliRunner()
    clean = {k: None for k in os.environ if k.startswith("ATLASSIAN_")}
    return runner.invoke(main, args, env={**clean, **(env or {})}, catch_exceptions=False)


def sync_args(sim, tmp_path, *more):
    return sync_cli_args(sim, tmp_path, *more)


def test_sync_exits_0_when_everything_was_synced(threaded_sim, tmp_path):
    result = invoke(sync_args(threaded_sim, tmp_path), {"ATLASSIAN_TOKEN": threaded_sim.token})
    assert result.exit_code == 0, result.output
    assert "sync run #1: ok" in result.stdout
    assert threaded_sim.token not in result.output


def test_sync_exits_2_and_names_what_failed_when_partly_synced(threaded_sim, tmp_path):
    from pipeline.scopes import ALL_READ_SCOPES

    token = threaded_sim.tokens.add_token(scopes=ALL_READ_SCOPES - {"read:comment:confluence"})
    result = invoke(sync_args(threaded_sim, tmp_path, "--only", "confluence"), {"ATLASSIAN_TOKEN": token})
    assert result.exit_code == 2
    assert "partial" in result.stdout and "failed: confluence footer comments" in result.stderr
    assert "read:comment:confluence" in result.stderr


def test_sync_exits_1_when_nothing_was_synced(threaded_sim, tmp_path):
    token = threaded_sim.tokens.add_token(scopes={s for s in ALL_READ_SCOPES if s.endswith(":confluence")})
    result = invoke(sync_args(threaded_sim, tmp_path, "--only", "jira"), {"ATLASSIAN_TOKEN": token})
    assert result.exit_code == 1 and "failed" in result.stdout and "read:jira-work" in result.stderr


def test_quiet_prints_only_the_result(threaded_sim, tmp_path):
    result = invoke(
        sync_args(threaded_sim, tmp_path, "--quiet", "--progress", "plain"), {"ATLASSIAN_TOKEN": threaded_sim.token}
    )
    assert result.exit_code == 0 and result.stderr == "" and result.stdout.count("\n") == 1


def test_json_log_format_is_one_object_a_line(threaded_sim, tmp_path):
    token = threaded_sim.tokens.add_token(scopes=ALL_READ_SCOPES - {"read:label:confluence"})
    result = invoke(sync_args(threaded_sim, tmp_path, "--log-format", "json"), {"ATLASSIAN_TOKEN": token})
    events = [json.loads(line) for line in (result.stderr + result.stdout).splitlines()]
    assert {e["event"] for e in events} == {"error", "result"}
    final = events[-1]
    assert final["status"] == "partial" and final["exit_code"] == 2 and final["counts"]["jira_issues"]["inserted"] > 0
    assert [e["stream"] for e in events if e["event"] == "error"] == ["confluence labels"]


def test_github_actions_gets_annotations(threaded_sim, tmp_path):
    token = threaded_sim.tokens.add_token(scopes=ALL_READ_SCOPES - {"read:label:confluence"})
    result = invoke(sync_args(threaded_sim, tmp_path), {"ATLASSIAN_TOKEN": token, "GITHUB_ACTIONS": "true"})
    assert "::error title=atlassian-to-sqlite%3A confluence labels::the token lacks a scope" in result.stderr


def test_sync_exits_1_with_a_short_message_for_bad_settings(threaded_sim, tmp_path):
    result = invoke(sync_args(threaded_sim, tmp_path))
    assert result.exit_code == 1 and result.stderr.startswith("error: no credentials")
    config = tmp_path / "bad.toml"
    config.write_text("sight = 'x'\n")
    result = invoke([*sync_args(threaded_sim, tmp_path), "--config", str(config)], {"ATLASSIAN_TOKEN": "t"})
    assert result.exit_code == 1 and "unknown key 'sight'" in result.stderr and "bad.toml" in result.stderr
    assert "Traceback" not in result.output


def test_cloud_id_prints_the_sites_cloud_id(threaded_sim):
    result = invoke(["cloud-id", threaded_sim.site_url])
    assert result.exit_code == 0 and result.stdout.strip() == threaded_sim.cloud_id


def test_report_in_three_formats(threaded_sim, tmp_path):
    invoke(sync_args(threaded_sim, tmp_path), {"ATLASSIAN_TOKEN": threaded_sim.token})
    db = str(tmp_path / "atlassian.db")
    text = invoke(["report", "--db", db]).stdout
    assert "jira_issues" in text and "#1" in text
    markdown = invoke(["report", "--db", db, "--format", "markdown"]).stdout
    assert markdown.startswith("## ") and "| jira_issues |" in markdown
    data = json.loads(invoke(["report", "--db", db, "--format", "json"]).stdout)
    issues = sqlite3.connect(db).execute("SELECT COUNT(*) FROM jira_issues").fetchone()[0]
    assert data["tables"]["jira_issues"]["rows"] == issues and data["runs"][0]["status"] == "ok"
    missing = invoke(["report", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 1 and "run `atlassian-to-sqlite sync` first" in missing.stderr


def test_demo_fills_every_table_of_the_contract(tmp_path):
    db = tmp_path / "demo.db"
    result = invoke(["demo", "--db", str(db), "--attachments-dir", str(tmp_path / "blobs"), "--progress", "quiet"])
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(db)
    for table in CONTRACT_TABLES:
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] > 0, table
    assert "Last runs:" in result.stdout


def test_simulate_serves_real_http_until_stopped():
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "simulate", "--port", "0", "--token", "t0k"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = {}
        for line in process.stdout:
            name, _, value = line.strip().partition(" ")
            lines[name] = value.strip()
            if name == "token":
                break
        with urllib.request.urlopen(f"{lines['site']}/_edge/tenant_info", timeout=10) as response:
            assert json.load(response) == {"cloudId": lines["cloudId"]}
        request = urllib.request.Request(
            f"{lines['gateway']}/ex/jira/{lines['cloudId']}/rest/api/3/field", headers={"Authorization": "Bearer t0k"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert any(f["id"] == "summary" for f in json.load(response))
        assert lines["token"] == "t0k"
    finally:
        process.terminate()
        process.wait(10)


def test_python_dash_m_pipeline_runs_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, check=True)
    assert "sync" in result.stdout and "simulate" in result.stdout
