"""Pure retry rules, after Atlassian's rate-limiting guide: Retry-After is the minimum wait; without it,
exponential backoff from a base, doubling to a cap, times a jitter of 0.7-1.3.

How long one request keeps trying has two bounds. Being throttled (429, 503) is the site asking for
patience, and a burst of them can last minutes: those retries are bounded by time (`retry_budget_s`),
so a 429 storm cannot spend a count in a minute. Everything else that may heal (500s, dropped
connections, cut-off bodies, stalls) is bounded by a count (`max_retries`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass
class RetryBudget:
    """What one request may still spend on retries."""

    max_failures: int
    throttle_budget_s: float
    backoff: Backoff
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    throttles: int = 0
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def deadline(self) -> float:
        """When waiting out throttling must end, on `clock`."""
        return self.started + self.throttle_budget_s

    @property
    def attempts(self) -> int:
        return self.failures + self.throttles

    def next_wait(self, throttled: bool, retry_after: float | None) -> float | None:
        """Seconds to wait before trying again after a failed attempt, or None when the budget is spent."""
        if throttled:
            self.throttles += 1
            wait = self.backoff.delay(self.throttles - 1, retry_after)
            if self.clock() + wait - self.started > self.throttle_budget_s:
                return None  # honouring the wait would overrun the budget: fail now, not after waiting
            return wait
        self.failures += 1
        if self.failures > self.max_failures:
            return None
        return self.backoff.delay(self.failures - 1, retry_after)

    def exhausted(self, what: str, why: str, throttled: bool) -> str:
        """The message for a request that has spent its budget."""
        if throttled:
            waited = self.clock() - self.started
            return (
                f"{what} was still throttled ({why}) after {waited:.0f} s and {self.attempts} attempts; waiting "
                f"longer would pass retry_budget_s ({self.throttle_budget_s:g} s): the site is busy, run again "
                "later (what was synced is kept)"
            )
        return (
            f"{what} still failing after {self.attempts} attempts ({why}): the site may be overloaded; "
            "run again later (what was synced is kept)"
        )


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
