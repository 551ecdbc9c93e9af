"""A failure is never forgotten: what failed is owed, stored with the progress it interrupts, paid first by
the next run, and until then named by `report` and keeping the exit status at 2."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from expected import blob_files, differences, expected, stored
from helpers import cli_sync, run_sync

from pipeline.report import summarize
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator


def debts(db: Path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return set(conn.execute("SELECT kind, key FROM sync_debts").fetchall())
    finally:
        conn.close()


def one(db: Path, sql: str, *params) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchone()
    finally:
        conn.close()


async def test_issues_jira_could_not_return_are_owed_and_fetched_first_by_the_next_run(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=3)) as sim:
        stuck = sim.jira.all_issue_ids()[:2]
        sim.troubles.issue_errors.update(stuck)
        first = await run_sync(sim, tmp_path)
        db = tmp_path / "atlassian.db"
        assert first.exit_code == 2, "a run that could not fetch some issues is not a success"
        assert debts(db) == {("jira_issue", i) for i in stuck}
        tried = [ids for ids in sim.jira_api.bulkfetched if set(ids) & set(stuck)]
        assert [len(ids) for ids in tried][-2:] == [1, 1], "asked again in smaller batches, then one by one"

        again = await run_sync(sim, tmp_path)  # the fault persists: the debt stays, and so does the exit status
        assert again.exit_code == 2 and debts(db) == {("jira_issue", i) for i in stuck}
        owed = summarize(db)["owed"]
        assert {d["key"] for d in owed} == set(stuck) and all(d["attempts"] == 2 for d in owed)
        assert all("could not return" in d["last_error"] for d in owed)

        sim.troubles.clear()
        sim.jira_api.bulkfetched.clear()
        paid = await run_sync(sim, tmp_path)
        assert paid.exit_code == 0, paid.errors
        assert set(sim.jira_api.bulkfetched[0]) == set(stuck), "the debt is paid first, and only it"
        assert debts(db) == set()
        assert differences(expected(sim), stored(db)) == {}


async def test_a_batch_that_keeps_failing_is_owed_although_the_projects_mark_moves_on(tmp_path):
    """The bug: the batch's error was recorded, the project's mark moved past it, and the next night never
    asked for those issues again, exiting 0 with them missing."""
    async with Simulator(SimConfig(scale="tiny", seed=4)) as sim:
        await run_sync(sim, tmp_path)
        edited = sim.jira.all_issue_ids()[0]
        sim.jira_changes.edit_issue(edited)
        sim.troubles.failing_paths.add("/rest/api/3/issue/bulkfetch")
        failed = await run_sync(sim, tmp_path, max_retries=1)
        assert failed.exit_code == 2 and ("jira_issue", edited) in debts(tmp_path / "atlassian.db")
        sim.troubles.clear()
        quiet = await run_sync(sim, tmp_path)  # nothing changed since: only the debt brings the edit in
        assert quiet.exit_code == 0, quiet.errors
        assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}


async def test_a_listing_that_fails_every_night_keeps_the_exit_status_at_2_until_it_succeeds(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=5)) as sim:
        space = sim.confluence.space(sim.confluence.space_ids()[0])
        sim.troubles.failing_paths.add(f"/wiki/api/v2/spaces/{space['id']}/pages")
        db = tmp_path / "atlassian.db"
        first = await run_sync(sim, tmp_path, max_retries=1)
        assert first.exit_code == 2 and debts(db) == {("stream", f"confluence pages of {space['key']}")}
        # later runs list pages site-wide (one chain for the whole site): make that one fail too
        sim.troubles.failing_paths.add("/wiki/api/v2/pages")
        second = await run_sync(sim, tmp_path, max_retries=1)
        assert second.exit_code == 2 and ("stream", "confluence pages") in debts(db)
        sim.troubles.clear()
        result = await run_sync(sim, tmp_path)
        assert result.exit_code == 0, result.errors
        assert debts(db) == set()
        assert differences(expected(sim), stored(db)) == {}


async def test_a_forbidden_attachment_is_reported_not_failed_and_a_vanished_one_is_marked_deleted(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=6)) as sim:
        forbidden = sim.confluence.all_attachments()[0]["id"]
        issue = next(i for i in sim.jira.all_issue_ids() if sim.jira.children("attachment", i))
        vanished = sim.jira.children("attachment", issue)[0]["id"]
        sim.troubles.forbidden_attachments.add(forbidden)
        sim.troubles.gone_attachments.add(vanished)
        result = await run_sync(sim, tmp_path)
        db = tmp_path / "atlassian.db"
        assert result.exit_code == 0, result.errors
        assert {w.stream for w in result.warnings} == {
            f"confluence attachment {forbidden}",
            f"jira attachment {vanished}",
        }
        sha, reason = one(db, "SELECT sha256, download_refused FROM confluence_attachments WHERE id = ?", forbidden)
        assert sha is None and "403" in reason
        assert one(db, "SELECT deleted_at FROM jira_attachments WHERE id = ?", vanished)[0] is not None
        assert [r["name"] for r in summarize(db)["refused"]] == [sim.confluence.attachment(forbidden)["title"]]
        sim.log.clear()
        again = await run_sync(sim, tmp_path)
        assert again.exit_code == 0 and debts(db) == set()
        asked = [e.path for e in sim.log.gateway() if forbidden in e.path]
        assert not asked, "a refused attachment is not asked again every night (--full asks again)"


# -- night by night, through the command line ------------------------------------------------------------
def cli_night(sim: Simulator, tmp_path: Path, stop_at: int | None = None) -> int:
    """One nightly `sync` in a child process, failing fast (one retry); SIGTERM at gateway request `stop_at`."""
    code, err = cli_sync(sim, tmp_path, stop_at, signal.SIGTERM, "max_retries = 1\n")
    assert "Traceback" not in err, err
    return code


def test_a_week_of_nights_with_failures_ends_exact_once_the_faults_are_gone(threaded_sim, tmp_path):
    sim, db = threaded_sim, tmp_path / "atlassian.db"
    space = sim.confluence.space(sim.confluence.space_ids()[1])
    forbidden = sim.confluence.all_attachments()[1]["id"]
    issue = next(i for i in sim.jira.all_issue_ids() if sim.jira.children("attachment", i))
    vanished = sim.jira.children("attachment", issue)[0]["id"]
    stuck = sim.jira.all_issue_ids()[-1]
    sim.troubles.issue_errors.add(stuck)
    sim.troubles.failing_paths.add(f"/wiki/api/v2/spaces/{space['id']}/blogposts")
    sim.troubles.forbidden_attachments.add(forbidden)
    sim.troubles.gone_attachments.add(vanished)

    assert cli_night(sim, tmp_path) == 2, "night 1: issue errors and a failing listing"
    assert {("jira_issue", stuck), ("stream", f"confluence blogposts of {space['key']}")} <= debts(db)

    assert cli_night(sim, tmp_path, stop_at=6) == 128 + signal.SIGTERM, "night 2: stopped by SIGTERM"
    assert one(db, "SELECT status FROM sync_runs ORDER BY id DESC LIMIT 1") == ("interrupted",)
    assert not list((tmp_path / "blobs" / ".partial").rglob("*.part")), "partial downloads removed"

    sim.troubles.issue_errors.clear()  # night 3: the site recovers, but for the forbidden attachment,
    sim.troubles.failing_paths.clear()  # and the vanished attachment is really gone now
    sim.troubles.gone_attachments.clear()
    sim.jira_changes.delete_child("attachment", vanished)
    assert cli_night(sim, tmp_path) == 0
    want = expected(sim)
    want["confluence_attachments"] = {
        (*a[:-1], None) if a[0] == forbidden else a for a in want["confluence_attachments"]
    }
    assert differences(want, stored(db)) == {}
    assert debts(db) == set()
    assert one(db, "SELECT COUNT(*) FROM sync_runs WHERE status = 'running'") == (0,)
    assert [r["reason"][:3] for r in summarize(db)["refused"]] != [], "the forbidden attachment is reported"
    for name, data in blob_files(tmp_path / "blobs").items():
        import hashlib

        assert hashlib.sha256(data).hexdigest() == name


async def test_an_owed_download_of_an_attachment_deleted_since_is_settled_not_owed_forever(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=8)) as sim:
        issue = next(i for i in sim.jira.all_issue_ids() if sim.jira.children("attachment", i))
        attachment = sim.jira.children("attachment", issue)[0]["id"]
        sim.troubles.failing_paths.add(f"/attachment/content/{attachment}")
        first = await run_sync(sim, tmp_path, max_retries=1)
        db = tmp_path / "atlassian.db"
        assert first.exit_code == 2 and debts(db) == {("download", f"jira_attachments:{attachment}")}
        sim.troubles.clear()
        sim.jira_changes.delete_child("attachment", attachment)
        second = await run_sync(sim, tmp_path)
        assert second.exit_code == 0, second.errors
        assert debts(db) == set()
        assert differences(expected(sim), stored(db)) == {}


async def test_a_debt_for_an_issue_deleted_since_is_settled_not_owed_forever(tmp_path):
    """bulkfetch leaves out what is not found or not visible (neither returned nor in issueErrors)."""
    async with Simulator(SimConfig(scale="tiny", seed=3)) as sim:
        stuck = sim.jira.all_issue_ids()[0]
        sim.troubles.issue_errors.add(stuck)
        assert (await run_sync(sim, tmp_path)).exit_code == 2
        sim.troubles.clear()
        sim.jira_changes.delete_issue(stuck)
        result = await run_sync(sim, tmp_path)
        assert result.exit_code == 0, result.errors
        assert debts(tmp_path / "atlassian.db") == set()
        assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}


async def test_a_resumed_jira_sweep_keeps_its_start_so_edits_it_skipped_are_fetched_later(tmp_path, monkeypatch):
    """A run fetches an edited issue and dies before its project's mark moves; the issue is edited again; the
    next run resumes the sweep and skips the issue it already fetched: the mark must not pass the second edit."""
    import pipeline.sources.jira.issues as issues

    async with Simulator(SimConfig(scale="tiny", seed=3)) as sim:
        assert (await run_sync(sim, tmp_path, jira_overlap_minutes=0)).exit_code == 0
        target = sim.jira.all_issue_ids()[0]
        sim.jira_changes.edit_issue(target, summary="first edit")
        close = issues.close_projects

        async def killed(*args, **kwargs):
            raise RuntimeError("killed before the close")

        monkeypatch.setattr(issues, "close_projects", killed)
        await run_sync(sim, tmp_path, jira_overlap_minutes=0)
        monkeypatch.setattr(issues, "close_projects", close)
        sim.jira_changes.edit_issue(target, summary="second edit")
        await run_sync(sim, tmp_path, jira_overlap_minutes=0)  # resumes the sweep, skips the issue
        await run_sync(sim, tmp_path, jira_overlap_minutes=0)
        got = one(tmp_path / "atlassian.db", "SELECT summary FROM jira_issues WHERE id = ?", target)
        assert got == ("second edit",)


async def test_owed_downloads_wait_for_a_run_that_wants_bytes_without_turning_it_red(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=9)) as sim:
        issue = next(i for i in sim.jira.all_issue_ids() if sim.jira.children("attachment", i))
        attachment = sim.jira.children("attachment", issue)[0]["id"]
        sim.troubles.failing_paths.add(f"/attachment/content/{attachment}")
        assert (await run_sync(sim, tmp_path, max_retries=1)).exit_code == 2
        sim.troubles.clear()
        metadata_only = await run_sync(sim, tmp_path, attachments=False)
        assert metadata_only.exit_code == 0, metadata_only.errors
        assert debts(tmp_path / "atlassian.db") == {("download", f"jira_attachments:{attachment}")}
        assert (await run_sync(sim, tmp_path)).exit_code == 0
        assert debts(tmp_path / "atlassian.db") == set()


async def test_a_404_download_whose_attachment_is_still_listed_is_refused_not_deleted(tmp_path):
    """The specs give 404 also for "attachments are disabled" (Jira) and "no permission" (Confluence v1)."""
    async with Simulator(SimConfig(scale="tiny", seed=10)) as sim:
        issue = next(i for i in sim.jira.all_issue_ids() if sim.jira.children("attachment", i))
        hidden = sim.jira.children("attachment", issue)[0]["id"]
        sim.troubles.hidden_attachments.add(hidden)
        result = await run_sync(sim, tmp_path)
        assert result.exit_code == 0, result.errors
        db = tmp_path / "atlassian.db"
        deleted, sha, reason = one(
            db, "SELECT deleted_at, sha256, download_refused FROM jira_attachments WHERE id = ?", hidden
        )
        assert deleted is None and sha is None and "404" in reason
        sim.troubles.clear()
        await run_sync(sim, tmp_path, full=True)  # --full asks again
        assert one(db, "SELECT sha256 IS NOT NULL, download_refused FROM jira_attachments WHERE id = ?", hidden) == (
            1,
            None,
        )


async def test_an_issue_deleted_between_its_bulkfetch_and_its_comment_listing_does_not_fail_the_batch(tmp_path):
    async with Simulator(SimConfig(scale="tiny", seed=11)) as sim:
        assert (await run_sync(sim, tmp_path)).exit_code == 0
        chatty = next(i for i in sim.jira.all_issue_ids() if len(sim.jira.children("comment", i)) > 20)
        sim.jira_changes.edit_issue(chatty)
        sim.troubles.vanished_paths.add(f"/issue/{chatty}/comment")
        result = await run_sync(sim, tmp_path)
        assert result.exit_code == 0, result.errors
        db = tmp_path / "atlassian.db"
        kept = one(db, "SELECT COUNT(*) FROM jira_comments WHERE issue_id = ? AND deleted_at IS NULL", chatty)[0]
        assert kept == len(sim.jira.children("comment", chatty)), "its stored comments are left for the sweep"
        assert debts(db) == set()
