"""Every timestamp form the APIs send ends in one stored form; what cannot be read is None, never an error."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from expected import differences, expected
from expected import stored as stored_rows
from helpers import run_sync

from pipeline.times import parse, stamp, utc


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        # Confluence, with and without milliseconds (the second is recorded from a real site)
        ("2024-05-01T10:00:00.123Z", "2024-05-01T10:00:00.123Z"),
        ("2026-05-27T07:09:12Z", "2026-05-27T07:09:12.000Z"),
        # Jira, in the account's zone, in every offset form
        ("2024-05-01T03:00:00.000-0700", "2024-05-01T10:00:00.000Z"),
        ("2024-05-01T15:30:00.250+05:30", "2024-05-01T10:00:00.250Z"),
        ("2024-05-01T15:30:00.250+0530", "2024-05-01T10:00:00.250Z"),
        ("2021-04-21T17:33:09.961+0100", "2021-04-21T16:33:09.961Z"),
        ("2024-05-01T10:00:00+00:00", "2024-05-01T10:00:00.000Z"),
        ("2024-05-01T10:00:00.000+0000", "2024-05-01T10:00:00.000Z"),
        # an offset that crosses midnight and a year
        ("2024-12-31T20:00:00.000-0500", "2025-01-01T01:00:00.000Z"),
        # fractions shorter and longer than milliseconds: cut, never rounded into the next millisecond
        ("2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.500Z"),
        ("2024-05-01T10:00:00.123999Z", "2024-05-01T10:00:00.123Z"),
        ("2024-05-01T10:00:00.999999999Z", "2024-05-01T10:00:00.999Z"),
        # no offset: UTC; a space for the T; a date alone
        ("2024-05-01T10:00:00", "2024-05-01T10:00:00.000Z"),
        ("2024-05-01 10:00:00.123", "2024-05-01T10:00:00.123Z"),
        ("2024-05-01", "2024-05-01T00:00:00.000Z"),
        ("  2024-05-01T10:00:00Z ", "2024-05-01T10:00:00.000Z"),
        # epoch milliseconds (changelog/bulkfetch on a live site) and seconds (the spec's example)
        (1790584137824, "2026-09-28T08:28:57.824Z"),
        (1492070429, "2017-04-13T08:00:29.000Z"),
        (1492070429.123, "2017-04-13T08:00:29.123Z"),
        (1790584137824.0, "2026-09-28T08:28:57.824Z"),
        ("1790584137824", "2026-09-28T08:28:57.824Z"),
        ("1492070429", "2017-04-13T08:00:29.000Z"),
        ("1492070429.5", "2017-04-13T08:00:29.500Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (-86400, "1969-12-31T00:00:00.000Z"),
        # the boundary between seconds and milliseconds: 1e11 ms is 1973-03-03, 1e11 - 1 s the year 5138
        (100_000_000_000, "1973-03-03T09:46:40.000Z"),
        (99_999_999_999, "5138-11-16T09:46:39.000Z"),
    ],
)
def test_every_form_is_stored_in_one_format(given, stored):
    assert utc(given) == stored


@pytest.mark.parametrize(
    "unreadable",
    [
        None,
        "",
        "   ",
        "yesterday",
        "2024-13-01T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T23:59:60Z",  # a leap second: Python has no such instant
        "10000-01-01T00:00:00Z",
        True,
        False,
        {"created": 1},
        [1492070429],
        float("nan"),
        float("inf"),
        10**30,
        "9" * 40,
    ],
)
def test_what_cannot_be_read_is_none_not_an_error(unreadable):
    assert utc(unreadable) is None
    assert parse(unreadable) is None


def test_the_extremes_python_holds_are_kept_or_refused_cleanly():
    assert utc("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00.000Z"  # zero-padded, sorts before 1000
    assert utc("9999-12-31T23:59:59.999Z") == "9999-12-31T23:59:59.999Z"
    assert utc("9999-12-31T23:00:00-0700") is None  # past the last instant: None, not OverflowError
    assert utc("0001-01-01T01:00:00+0200") is None


def test_stored_times_sort_as_strings_in_time_order():
    given = ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.001Z", "2024-05-01T03:00:00.002-0700", 1714557600003]
    stored = [utc(g) for g in given]
    assert stored == sorted(stored)
    assert stored[-1] == "2024-05-01T10:00:00.003Z"


def test_parse_gives_aware_utc_and_stamp_is_its_inverse():
    moment = parse("2024-05-01T15:30:00.250+05:30")
    assert moment == datetime(2024, 5, 1, 10, 0, 0, 250_000, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0)
    assert stamp(moment) == "2024-05-01T10:00:00.250Z"
    assert stamp(datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2)))) == "2024-05-01T10:00:00.000Z"
    assert stamp(datetime(2024, 5, 1, 10)) == "2024-05-01T10:00:00.000Z"  # naive: UTC


# -- the comment marks, which are stored times compared as strings -------------------------------------
@pytest.mark.parametrize(
    ("older", "fresh"),
    [
        (lambda mark: mark[:19] + "+00:00", True),  # an older version's form: still read
        (lambda mark: "not a time", False),  # damaged: the whole listing, not a failed stream
    ],
)
async def test_a_comment_mark_in_another_form_is_read_or_ignored(sim, tmp_path, older, fresh):
    first = await run_sync(sim, tmp_path, products=("confluence",), attachments=False)
    assert first.status == "ok", first.errors
    conn = sqlite3.connect(tmp_path / "atlassian.db")
    stream = "confluence:comments:footer:mark"
    mark = json.loads(conn.execute("SELECT value FROM sync_state WHERE stream = ?", (stream,)).fetchone()[0])["mark"]
    assert utc(mark) == mark, "marks are stored in the one format"
    with conn:
        conn.execute("UPDATE sync_state SET value = ? WHERE stream = ?", (json.dumps({"mark": older(mark)}), stream))
    comment = next(c for c in sim.confluence.all_comments("footer"))
    sim.confluence_changes.edit_comment(comment["id"], "<p>edited after the mark</p>")
    sim.log.clear()
    second = await run_sync(sim, tmp_path, products=("confluence",), attachments=False)
    assert second.status == "ok", second.errors
    want = expected(sim, with_bytes=False)
    assert differences(want, stored_rows(tmp_path / "atlassian.db")).get("confluence_comments") is None
    sorted_by_date = [e for e in sim.log.gateway() if "sort=-modified-date" in e.query and "footer" in e.path]
    assert bool(sorted_by_date) is fresh, "a readable mark asks for what changed since; a damaged one does not"
    new = json.loads(conn.execute("SELECT value FROM sync_state WHERE stream = ?", (stream,)).fetchone()[0])["mark"]
    assert utc(new) == new and new >= mark
