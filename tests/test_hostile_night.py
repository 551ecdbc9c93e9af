"""A hostile night: about 10% of requests fail in every way the simulator knows (truncated JSON, stalls,
dropped connections, 5xx, 429 bursts, short, long and garbled media answers, an auth server that fails,
issues bulkfetch cannot return), and the process is killed at several points of a full and an incremental
run. The first quiet run after it must leave the store exact and whole."""

from __future__ import annotations

import hashlib
import signal
import sqlite3

from expected import differences, expected, stored
from helpers import change_a_share, cli_sync

HOSTILE = "max_retries = 4\nrequest_timeout_s = 1.0\nretry_budget_s = 60\n"


def test_a_hostile_night_then_a_quiet_one_leaves_the_store_exact_and_whole(threaded_sim, tmp_path):
    sim = threaded_sim
    sim.tokens.add_client("night-client", "night-secret")
    oauth = {"ATLASSIAN_CLIENT_ID": "night-client", "ATLASSIAN_CLIENT_SECRET": "night-secret"}
    oauth["ATLASSIAN_AUTH_URL"] = sim.auth_url
    sim.config.faults, sim.config.stall_s = 0.1, 3.0
    sim.troubles.issue_error_share = 0.1

    def night(at: int | None = None) -> int:
        code, err = cli_sync(sim, tmp_path, at, signal.SIGKILL, HOSTILE, oauth)
        assert "Traceback" not in err, err
        return code

    for kill_at in (7, 30):  # a full run, killed twice, then left to finish as well as it can
        assert night(kill_at) == -signal.SIGKILL
    assert night() in (0, 2)
    change_a_share(sim, 0.05)
    for kill_at in (3, 12):  # an incremental run, killed twice, then left to finish
        assert night(kill_at) == -signal.SIGKILL
    assert night() in (0, 2)
    dealt = {k for k, n in sim.log.counters.items() if k.startswith("faults.") and n}  # media and auth too
    dealt |= {"faults.issue_errors"} if sim.troubles.dealt else set()

    sim.config.faults, sim.troubles.issue_error_share = 0.0, 0.0  # the quiet night
    assert night() == 0
    db = tmp_path / "atlassian.db"
    assert differences(expected(sim), stored(db)) == {}
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM sync_debts").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM sync_runs WHERE status = 'running'").fetchone() == (0,)
    finally:
        conn.close()
    blobs = tmp_path / "blobs"
    for path in blobs.glob("??/*"):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, "bytes that do not match their name"
    leftovers = [p for p in blobs.rglob("*") if p.is_file() and p.parent.name != p.name[:2]]
    assert leftovers == [], "no temporary files left"
    assert len(dealt) >= 10, f"the night was hostile in many ways: {sorted(dealt)}"
