"""Pure retry rules, after Atlassian's rate-limiting guide: Retry-After is the minimum wait; without it,
exponential backoff from a base, doubling to a cap, times a jitter of 0.7-1.3."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
MAX_HINT_S = 3600.0  # a Retry-After beyond an hour is treated as an hour rather than overflowing a timer


@dataclass(frozen=True)
class Backoff:
    base_s: float = 1.0
    cap_s: float = 30.0
    low: float = 0.7
    high: float = 1.3

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        rng = rng or random
        if retry_after is not None and retry_after > 0:
            return retry_after * rng.uniform(1.0, 1.0 + (self.high - 1.0) / 2)  # never earlier than asked
        return min(self.cap_s, self.base_s * 2 ** min(attempt, 16)) * rng.uniform(self.low, self.high)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date. None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_HINT_S)


def parse_reset(value: str | None, now: datetime | None = None) -> float | None:
    """X-RateLimit-Reset (ISO-8601) as seconds from now, or None."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - (now or datetime.now(UTC))).total_seconds(), 0.0), MAX_HINT_S)


def is_retryable(status: int) -> bool:
    return status in RETRYABLE


def is_quota(reason: str | None) -> bool:
    """A quota reason (e.g. jira-quota-tenant-based) means the whole tenant waits for the reset."""
    return bool(reason) and "quota" in reason.lower()
