"""The GitHub Actions job users copy: valid, scheduled, secrets only from secrets, and the same commands the
README documents, each a command line the CLI accepts."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "atlassian-backup.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def commands(workflow: dict) -> list[str]:
    steps = workflow["jobs"]["sync"]["steps"]
    return [
        line.strip() for step in steps for line in step.get("run", "").splitlines() if "atlassian-to-sqlite" in line
    ]


def test_it_runs_nightly_and_by_hand(workflow):
    triggers = workflow.get("on") or workflow.get(True)  # YAML 1.1 reads a bare `on` as true
    assert triggers["schedule"][0]["cron"].count(" ") == 4
    assert "workflow_dispatch" in triggers


def test_credentials_come_from_secrets_and_nothing_runs_until_the_site_is_set(workflow):
    job = workflow["jobs"]["sync"]
    assert job["if"] == "vars.ATLASSIAN_SITE != ''"
    for name in ("ATLASSIAN_TOKEN", "ATLASSIAN_EMAIL", "ATLASSIAN_CLIENT_ID", "ATLASSIAN_CLIENT_SECRET"):
        assert job["env"][name] == "${{ secrets." + name + " }}"
    assert "secrets." not in " ".join(commands(workflow)), "secrets reach the tool through the environment only"


def test_the_store_is_carried_from_run_to_run(workflow):
    steps = workflow["jobs"]["sync"]["steps"]
    uses = {step.get("uses", "").split("@")[0]: step for step in steps}
    assert uses["actions/cache/restore"]["with"]["path"] == uses["actions/cache/save"]["with"]["path"] == "data"
    assert uses["actions/cache/save"]["if"] == "always()", "a failed run still saves what it fetched"
    assert uses["actions/upload-artifact"]["with"]["path"] == "data/atlassian.db"


def test_its_commands_are_the_readmes_and_the_cli_accepts_them(workflow):
    readme = (ROOT / "README.md").read_text()
    found = commands(workflow)
    assert any(c.startswith("atlassian-to-sqlite sync") for c in found)
    assert 'atlassian-to-sqlite report --format markdown >> "$GITHUB_STEP_SUMMARY"' in found
    for command in found:
        assert command in readme, f"the README does not show: {command}"
        words = shlex.split(command.split(">>")[0].replace("$FULL", "--full"))[1:]
        main.make_context("atlassian-to-sqlite", list(words))  # raises on an unknown option


def test_the_readme_names_every_secret_the_workflow_reads(workflow):
    readme = (ROOT / "README.md").read_text()
    for name in [*re.findall(r"secrets\.(\w+)", WORKFLOW.read_text()), "ATLASSIAN_SITE"]:
        assert f"`{name}`" in readme


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed on this machine")
def test_actionlint_finds_nothing():
    result = subprocess.run(["actionlint", str(WORKFLOW)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
