"""One time format for every timestamp column, Confluence and Jira: `YYYY-MM-DDTHH:MM:SS.mmmZ`.

One zone and one width make the columns sortable and comparable as plain strings (the report and the
comment marks rely on that). What the APIs send:
- Confluence: `2026-05-27T07:09:12.345Z`, and on real sites sometimes no milliseconds (`...12Z`);
- Jira: `2024-05-01T03:00:00.000-0700`, in the account's time zone (`+05:30` and `Z` forms too);
- Jira `changelog/bulkfetch`: an epoch-milliseconds number on live sites (`1790584137824`), and epoch
  seconds in the spec's own example (`1492070429`), although its schema says a date-time string.

Rules:
- Numbers (ints, floats, and strings of digits, which a proxy may make of a long) are epoch times.
  A magnitude of at least 1e11 is milliseconds, below it seconds: 1e11 ms is 1973-03-03 and 1e11 s is
  the year 5138, so every instant between those years reads the same either way it might be meant.
- Strings are ISO 8601 (what Python 3.11's `fromisoformat` reads: any fraction, `Z`, `+hh:mm`, `+hhmm`,
  a space instead of `T`). A string without an offset is taken as UTC; a date alone is its midnight UTC.
- Digits below the millisecond are cut, not rounded (a time never moves into the next millisecond).
- What cannot be read (a bool, a dict, `24:00:00`, a year past 9999, NaN) is None: the row keeps the
  value as received in `raw`/`fields`, and a bad timestamp never fails the batch it arrived in.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLIS_FROM = 100_000_000_000  # 1e11: at or above, an epoch number is in milliseconds
NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def utc(value: object) -> str | None:
    """Any timestamp form the APIs send, as `YYYY-MM-DDTHH:MM:SS.mmmZ`; None when it cannot be read."""
    moment = parse(value)
    return stamp(moment) if moment is not None else None


def parse(value: object) -> datetime | None:
    """An aware UTC datetime from an ISO string or an epoch number; None when it cannot be read."""
    if isinstance(value, bool):  # an int to Python, never a time to an API
        return None
    if isinstance(value, int | float):
        return from_epoch(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if NUMBER.fullmatch(text):
        return from_epoch(float(text) if "." in text else int(text))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-0700 is past the last instant Python holds
        return None


def from_epoch(number: int | float) -> datetime | None:
    if isinstance(number, float) and not math.isfinite(number):
        return None
    # to whole microseconds first, so that 1492070429.123 s (…0429122.9998 ms as a float) stays .123
    micros = round(number * (1000 if abs(number) >= MILLIS_FROM else 1_000_000))
    try:
        return EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return None


def stamp(moment: datetime) -> str:
    """An aware datetime in the stored form (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    m = moment.astimezone(UTC)
    # by hand: strftime's %Y does not pad years below 1000 on every platform
    day = f"{m.year:04d}-{m.month:02d}-{m.day:02d}"
    return f"{day}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond // 1000:03d}Z"
