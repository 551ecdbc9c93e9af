"""Helpers shared by tests and benchmarks: settings and a real sync against a simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import Settings, load_settings
from pipeline.progress import Progress
from pipeline.runner import SyncResult, sync
from pipeline.simulator.server import Simulator


def settings_for(sim: Simulator, tmp_path: Path, **overrides: Any) -> Settings:
    flags = {
        "site": sim.site_url,
        "gateway": sim.gateway_url,
        "auth_url": sim.auth_url,
        "db": tmp_path / "atlassian.db",
        "attachments_dir": tmp_path / "blobs",
        **overrides,
    }
    return load_settings(flags, environ={}, default_config=False)


async def run_sync(
    sim: Simulator, tmp_path: Path, environ: dict[str, str] | None = None, **overrides: Any
) -> SyncResult:
    environ = {"ATLASSIAN_TOKEN": sim.token} if environ is None else environ
    return await sync(settings_for(sim, tmp_path, **overrides), environ, Progress("quiet"))


def gateway_path(sim: Simulator, product: str, path: str) -> str:
    return f"{sim.gateway_url}/ex/{product}/{sim.cloud_id}{path}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sync_cli_args(sim: Simulator, tmp_path: Path, *more: str) -> list[str]:
    """`sync` arguments for the command line against a simulator, into tmp_path."""
    return [
        "sync",
        "--site",
        sim.site_url,
        "--gateway",
        sim.gateway_url,
        "--db",
        str(tmp_path / "atlassian.db"),
        "--attachments-dir",
        str(tmp_path / "blobs"),
        "--progress",
        "quiet",
        *more,
    ]


def cli_sync(
    sim: Simulator,
    tmp_path: Path,
    at: int | None = None,
    sig: int = 9,
    config: str = "",
    environ: dict[str, str] | None = None,
) -> tuple[int, str]:
    """`atlassian-to-sqlite sync` in a child process, as a scheduler runs it; signal `sig` (SIGKILL unless
    told) reaches it when the gateway sees its request number `at`. Returns the exit status and stderr."""
    import os
    import signal
    import subprocess
    import sys

    settings = tmp_path / "night.toml"
    settings.write_text(config)
    args = [sys.executable, "-m", "pipeline", *sync_cli_args(sim, tmp_path, "--concurrency", "4")]
    args += ["--config", str(settings)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLASSIAN_")}
    env |= environ if environ is not None else {"ATLASSIAN_TOKEN": sim.token}
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    start = sim.gateway_requests

    def stop(count: int) -> None:
        if at is not None and count - start == at:
            process.send_signal(signal.Signals(sig))

    sim.on_gateway_request = stop
    try:
        _, err = process.communicate(timeout=240)
    finally:
        sim.on_gateway_request = None
    return process.returncode, err.decode(errors="replace")


def change_a_share(sim: Simulator, share: float, seed: int = 0) -> dict[str, int]:
    """Change about `share` of every kind of item, the way people do: edits, additions, deletions."""
    import random

    rng = random.Random(seed)
    c, j = sim.confluence_changes, sim.jira_changes
    pick = lambda items, n: rng.sample(items, min(len(items), max(1, round(n)))) if items else []  # noqa: E731
    done = {"edited": 0, "added": 0, "deleted": 0}
    pages = [p for p in sim.confluence.contents("page") if p["status"] == "current"]
    blogs = [b for b in sim.confluence.contents("blogpost") if b["status"] == "current"]
    chosen = pick(pages, share * len(pages) * 1.5)
    for page in chosen[: len(chosen) * 2 // 3]:
        c.edit(page["id"], title=page["title"] + " (edited)")
        c.set_labels(page["id"], ["runbook", "incident"])
        done["edited"] += 1
    for page in chosen[len(chosen) * 2 // 3 :]:
        c.set_status(page["id"], "trashed")
        done["deleted"] += 1
    for blog in pick(blogs, share * len(blogs) + 1):
        c.edit(blog["id"])
        done["edited"] += 1
    for space_id in sim.confluence.space_ids()[:2]:
        c.add("page", space_id, "Fresh page ✨")
        done["added"] += 1
    comments = sim.confluence.all_comments("footer") + sim.confluence.all_comments("inline")
    chosen = pick(comments, share * len(comments) * 2)
    for comment in chosen[::2]:
        c.edit_comment(comment["id"])
        done["edited"] += 1
    for comment in chosen[1::2]:
        c.delete_comment(comment["id"])
        done["deleted"] += 1
    c.add_comment(pages[0]["id"], "inline")
    attachments = sim.confluence.all_attachments()
    chosen = pick(attachments, share * len(attachments) * 2)
    for attachment in chosen[::2]:
        c.replace_attachment(attachment["id"], f"new-bytes-{attachment['id']}", 1234)
        done["edited"] += 1
    for attachment in chosen[1::2]:
        c.delete_attachment(attachment["id"])
        done["deleted"] += 1
    c.add_attachment(pages[1]["id"], "added.bin", "added-bytes", 777)
    issues = [i for i in sim.jira.all_issue_ids() if sim.jira.issue(i)]  # not those deleted on an earlier night
    chosen = pick(issues, share * len(issues) * 1.5)
    for issue_id in chosen[: len(chosen) * 2 // 3]:
        j.edit_issue(issue_id)
        done["edited"] += 1
    for issue_id in chosen[len(chosen) * 2 // 3 :]:
        j.delete_issue(issue_id)
        done["deleted"] += 1
    project = sim.jira.projects()[0]["key"]
    j.add_issue(project, "A new issue 🆕")
    for issue_id in pick(
        [i for i in issues if i not in chosen and sim.jira.children("comment", i)], share * len(issues)
    ):
        comment = sim.jira.children("comment", issue_id)[0]
        j.delete_child("comment", comment["id"]) if rng.random() < 0.5 else j.edit_comment(comment["id"])
        j.add_child("comment", issue_id)
        done["edited"] += 1
    return done
