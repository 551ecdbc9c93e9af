"""The GitHub Actions job users copy: valid, scheduled, secrets only from secrets, and the same commands the
README documents, each a command line the CLI accepts."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
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


# -- the workflow for many sites: one job per site from a matrix ------------------------------------------
SITES_WORKFLOW = ROOT / ".github" / "workflows" / "atlassian-backup-sites.yml"


@pytest.fixture(scope="module")
def sites_workflow() -> dict:
    return yaml.safe_load(SITES_WORKFLOW.read_text())


def test_one_job_per_site_from_one_repository_variable(sites_workflow):
    lister, job = sites_workflow["jobs"]["sites"], sites_workflow["jobs"]["sync"]
    assert lister["if"] == "vars.ATLASSIAN_SITES != ''"
    assert job["needs"] == "sites"
    assert job["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.sites.outputs.matrix) }}"
    assert job["strategy"]["fail-fast"] is False, "one site failing does not cancel the others"
    assert "matrix.name" in job["concurrency"]["group"], "each site's store is written by one job at a time"


def list_sites(sites_workflow, sites: str) -> subprocess.CompletedProcess:
    """The lister step's script, run as the workflow runs it, with the repository variable `sites`."""
    run = sites_workflow["jobs"]["sites"]["steps"][0]["run"]
    assert run.startswith("python3 - <<'EOF' >> \"$GITHUB_OUTPUT\"\n")
    script = run.split("\n", 1)[1].split("\nEOF", 1)[0]
    return subprocess.run([sys.executable, "-c", script], env={"SITES": sites}, capture_output=True, text=True)


def matrix_of(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().removeprefix("matrix="))


def test_the_site_list_becomes_the_matrix(sites_workflow, tmp_path):
    matrix = matrix_of(
        list_sites(sites_workflow, " acme.atlassian.net,https://my-shop.atlassian.net/\n globex.atlassian.net ")
    )
    assert matrix == [
        {"name": "acme", "site": "acme.atlassian.net", "secret": "ACME"},
        {"name": "my-shop", "site": "my-shop.atlassian.net", "secret": "MY_SHOP"},
        {"name": "globex", "site": "globex.atlassian.net", "secret": "GLOBEX"},
    ]


@pytest.mark.parametrize("sites", ["acme.atlassian.net,", ", acme.atlassian.net ,, ", "acme.atlassian.net\n,\n"])
def test_stray_commas_make_no_empty_job(sites_workflow, sites):
    assert matrix_of(list_sites(sites_workflow, sites)) == [
        {"name": "acme", "site": "acme.atlassian.net", "secret": "ACME"}
    ]


@pytest.mark.parametrize(
    "sites",
    [
        "acme.atlassian.net acme.atlassian.net",
        "acme.atlassian.net https://acme.atlassian.net/wiki",  # one site written two ways
        "acme.atlassian.net acme.jira-dev.com",  # two sites with one name: one store, one cache key
        "my-shop.atlassian.net my_shop.atlassian.net",  # one set of secrets
    ],
)
def test_a_site_list_naming_one_store_twice_fails(sites_workflow, sites):
    done = list_sites(sites_workflow, sites)
    assert done.returncode != 0 and "twice" in done.stderr, done.stderr
    assert "matrix=" not in done.stdout


def test_each_site_has_its_own_secrets_store_and_cache(sites_workflow):
    job = sites_workflow["jobs"]["sync"]
    for name in ("ATLASSIAN_TOKEN", "ATLASSIAN_EMAIL", "ATLASSIAN_CLIENT_ID", "ATLASSIAN_CLIENT_SECRET"):
        assert job["env"][name] == "${{ secrets[format('" + name + "_{0}', matrix.secret)] }}"
    steps = job["steps"]
    uses = {step.get("uses", "").split("@")[0]: step for step in steps}
    assert "matrix.name" in uses["actions/cache/restore"]["with"]["key"]
    assert uses["actions/cache/save"]["with"]["key"] == uses["actions/cache/restore"]["with"]["key"]
    assert uses["actions/cache/save"]["if"] == "always()"
    found = [line.strip() for s in steps for line in s.get("run", "").splitlines() if "atlassian-to-sqlite" in line]
    assert "secrets." not in " ".join(found)
    readme = (ROOT / "README.md").read_text()
    for command in found:
        assert command in readme, f"the README does not show: {command}"
        words = shlex.split(command.split(">>")[0].replace("$FULL", "--full").replace("$SITE_NAME", "acme"))[1:]
        main.make_context("atlassian-to-sqlite", list(words))
    for secret in ("ATLASSIAN_SITES", "ATLASSIAN_TOKEN_ACME", "ATLASSIAN_CLIENT_ID_ACME"):
        assert f"`{secret}`" in readme
