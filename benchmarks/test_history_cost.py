"""What keeping every past state costs: a month (30 nights) of nightly runs of the `small` simulated site
with 1% of everything changed each night, the store's size with and without the history table, and
`--as-of` checked against the first night's state at the end."""

from __future__ import annotations

import shutil
import sqlite3
import time

import pytest
from expected import differences, expected, stored
from helpers import change_a_share, run_sync

from pipeline import history
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator
from pipeline.store import now_iso

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # a month of nights takes minutes
NIGHTS = 30


def size_of(db, without_history: bool = False) -> int:
    """Bytes of a compacted copy, optionally with the history table and its triggers gone."""
    copy = db.with_name("measure.db")
    copy.unlink(missing_ok=True)
    conn = sqlite3.connect(db)
    conn.execute("VACUUM INTO ?", (str(copy),))
    conn.close()
    if without_history:
        conn = sqlite3.connect(copy)
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'history%'"):
            conn.execute(f"DROP TRIGGER [{name}]")
        conn.execute("DROP TABLE history")
        conn.commit()
        conn.execute("VACUUM")
        conn.close()
    size = copy.stat().st_size
    copy.unlink()
    return size


async def test_a_month_of_nights_of_history_at_small_scale(tmp_path):
    db = tmp_path / "atlassian.db"
    started = time.monotonic()
    async with Simulator(SimConfig(scale="small", seed=4)) as sim:
        assert (await run_sync(sim, tmp_path)).status == "ok"
        first_night = now_iso()
        first_rows = {
            table: dict(
                sqlite3.connect(db).execute(f"SELECT id, {'title' if 'pages' in table else 'summary'} FROM {table}")
            )
            for table in ("confluence_pages", "jira_issues")
        }
        day_one = size_of(db), size_of(db, without_history=True)
        for night in range(1, NIGHTS + 1):
            change_a_share(sim, 0.01, seed=night)
            result = await run_sync(sim, tmp_path)
            assert result.status == "ok", result.errors
        assert differences(expected(sim), stored(db)) == {}
    with_history, without = size_of(db), size_of(db, without_history=True)
    conn = sqlite3.connect(db)
    spans, past = conn.execute("SELECT COUNT(*), COUNT(row) FROM history").fetchone()
    by_table = conn.execute(
        "SELECT table_name, COUNT(row), SUM(length(row)) FROM history WHERE row IS NOT NULL GROUP BY 1 ORDER BY 3 DESC"
    ).fetchall()
    for table, rows in first_rows.items():  # a month on, the first night is still there exactly
        column = "title" if "pages" in table else "summary"
        for row_id, value in rows.items():
            assert history.state_at(conn, table, row_id, first_night).row[column] == value
    conn.close()
    shutil.rmtree(tmp_path / "blobs", ignore_errors=True)
    mb = 1024 * 1024
    print(
        f"\nafter the first sync: {day_one[0] / mb:.1f} MB with history, {day_one[1] / mb:.1f} MB without "
        f"(+{100 * (day_one[0] - day_one[1]) / day_one[1]:.1f}% for the open spans)"
        f"\nafter {NIGHTS} nights of 1% changes: {with_history / mb:.1f} MB with history, {without / mb:.1f} MB "
        f"without: history costs {(with_history - without) / mb:.1f} MB "
        f"(+{100 * (with_history - without) / without:.1f}%), "
        f"{(with_history - without - (day_one[0] - day_one[1])) / NIGHTS / 1024:.0f} KB a night; "
        f"{spans:,} spans, {past:,} past states\nlargest past states by table: "
        + ", ".join(f"{t} {n:,} ({(b or 0) / mb:.1f} MB)" for t, n, b in by_table[:5])
        + f"\n{time.monotonic() - started:.0f} s in all"
    )
