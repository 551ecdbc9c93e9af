"""What stands in front of the fake gateway: credentials, scopes, rate limits, faults, latency, a log.

It behaves as api.atlassian.com does for the things a client must handle: 401 with
`X-Failure-Category: FAILURE_CLIENT_SCOPE_CHECK` for a missing scope, 429 with `Retry-After` and the
`X-RateLimit-*` family from a token bucket per tenant and endpoint family, sometimes a 503 with
`Retry-After` and sometimes a 429 without one, and seeded faults: on the gateway 500s, 503s, 429
bursts, dropped connections, 200s whose JSON is cut off, answers that stall before the first byte; on
the media host bytes cut short, wrong bytes, a garbled response; on the auth server a 503, an HTML page
or a dropped connection where a token should be.
"""

from __future__ import annotations

import base64
import math
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..scopes import ALL_READ_SCOPES

# The kinds each host deals in turn, so any few faults on a host include each of its kinds.
FAULT_KINDS: dict[str, tuple[str, ...]] = {
    "gateway": ("500", "503", "drop", "truncated", "stall", "429"),
    "media": ("media_drop", "media_short", "media_wrong_bytes", "media_malformed"),
    "auth": ("auth_503", "auth_html", "auth_drop"),
}


@dataclass
class SimConfig:
    seed: int = 1
    scale: str = "tiny"
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit: float = 0.0  # requests per second per endpoint family; 0 turns limiting off
    burst: int = 0  # bucket size; 0 means twice the rate
    faults: float = 0.0  # share of requests (gateway, media, auth) answered by a fault
    fault_kinds: tuple[str, ...] = ()  # deal only these kinds (see FAULT_KINDS); empty: every kind
    stall_s: float = 2.0  # a "stall" fault waits this long before the first byte, then hangs up
    quota: int = 0  # requests per quota window per tenant; 0 turns the quota off
    quota_window_s: float = 3600.0
    token_lifetime_s: float = 3600.0  # OAuth access tokens
    media_url_ttl_s: float = 300.0
    slow_download_bytes_per_s: float = 0.0  # 0: as fast as the loopback goes
    time_zone: str = "America/Los_Angeles"  # the account's zone: JQL date literals are read in it
    search_lag_s: float = 0.0  # how long new content takes to show in JQL and CQL search (eventually consistent)
    account_email: str = "sync-bot@serviceaccount.atlassian.com"
    # whether the site-wide comment listings include replies (the spec says "all"; no recorded answer shows it)
    replies_in_site_listing: bool = True
    # the node types this site's CQL knows; a query naming another is a 400, as for any unknown CQL value
    cql_types: tuple[str, ...] = ("folder", "whiteboard", "database", "embed")
    body_kb: float = 4.0  # median page body (storage XHTML), with a tail of pages over 200 KB
    unlicensed: tuple[str, ...] = ()  # products the account has no licence for: the gateway answers 403
    # what real sites send beyond the spec's schemas (API_NOTES §7): changelog/bulkfetch `created` as epoch
    # milliseconds, older attachment `content` URL forms. Off only to check answers against the schemas.
    real_quirks: bool = True


@dataclass
class Principal:
    kind: str  # scoped (a Service Account's), user (a person's scoped token: Basic only), classic, oauth
    scopes: frozenset[str]
    email: str | None = None
    expires_at: float = math.inf


@dataclass
class OAuthClient:
    secret: str
    scopes: frozenset[str]
    expired: bool = False  # an expired client secret, as an admin can let happen


class TokenBook:
    """Every credential the fake cloud accepts. Tokens are never logged."""

    def __init__(self, config: SimConfig, clock=time.time) -> None:
        self.config, self.clock = config, clock
        self.tokens: dict[str, Principal] = {}
        self.clients: dict[str, OAuthClient] = {}

    def add_token(self, token: str | None = None, scopes=ALL_READ_SCOPES, kind: str = "scoped") -> str:
        token = token or "ATSTT" + secrets.token_urlsafe(24)
        self.tokens[token] = Principal(kind, frozenset(scopes), self.config.account_email)
        return token

    def add_client(self, client_id: str, secret: str, scopes=ALL_READ_SCOPES) -> None:
        self.clients[client_id] = OAuthClient(secret, frozenset(scopes))

    def issue(self, client_id: str, secret: str) -> tuple[str, float] | None:
        client = self.clients.get(client_id)
        if client is None or client.expired or not secrets.compare_digest(client.secret, secret):
            return None
        token = "oauth-" + secrets.token_urlsafe(24)
        lifetime = self.config.token_lifetime_s
        self.tokens[token] = Principal("oauth", client.scopes, None, self.clock() + lifetime)
        return token, lifetime

    def resolve(self, header: str | None) -> Principal | None:
        """The principal behind an Authorization header, or None when it is missing, unknown or expired."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            principal = self.tokens.get(value.strip())
            if principal and principal.kind == "user":
                return None  # a person's scoped token works with Basic email:token only
        elif scheme.lower() == "basic":
            try:
                email, _, token = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return None
            principal = self.tokens.get(token)
            if principal and (principal.kind == "oauth" or principal.email != email):
                return None
        else:
            return None
        if principal is None or principal.expires_at <= self.clock():
            return None
        return principal


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock=time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.stamp = burst, clock()

    def take(self) -> float:
        """0 when a request may pass, else the seconds until one may."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    @property
    def near_limit(self) -> bool:
        return self.tokens < 0.2 * self.burst


@dataclass
class LoggedRequest:
    at: float
    host: str  # site | gateway | media | auth
    method: str
    path: str
    query: str
    status: int
    family: str = ""
    authorized: bool = False  # an Authorization header was sent


@dataclass
class RequestLog:
    entries: list[LoggedRequest] = field(default_factory=list)
    counters: Counter = field(default_factory=Counter)

    def add(self, entry: LoggedRequest) -> None:
        self.entries.append(entry)
        self.counters[f"{entry.host}.requests"] += 1
        self.counters[f"{entry.host}.status.{entry.status}"] += 1

    def gateway(self) -> list[LoggedRequest]:
        return [e for e in self.entries if e.host == "gateway"]

    def clear(self) -> None:
        self.entries.clear()
        self.counters.clear()


class Limits:
    """Rate limits and faults for one tenant, seeded so a failing test can be replayed."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.buckets: dict[str, TokenBucket] = {}
        self.rng = random.Random(config.seed * 7919 + 17)
        self.quota_used = 0
        self.quota_window_start = time.time()
        self.faults_dealt: Counter = Counter()  # per host
        self.forced: Counter = Counter()  # kind -> how many of the next requests get it, whatever the odds

    def bucket(self, family: str) -> TokenBucket | None:
        if self.config.rate_limit <= 0:
            return None
        if family not in self.buckets:
            burst = self.config.burst or max(2, int(self.config.rate_limit * 2))
            self.buckets[family] = TokenBucket(self.config.rate_limit, burst)
        return self.buckets[family]

    def quota_wait(self) -> float:
        if self.config.quota <= 0:
            return 0.0
        now = time.time()
        if now - self.quota_window_start >= self.config.quota_window_s:
            self.quota_window_start, self.quota_used = now, 0
        self.quota_used += 1
        if self.quota_used <= self.config.quota:
            return 0.0
        return self.quota_window_start + self.config.quota_window_s - now

    def force(self, kind: str, times: int = 1) -> None:
        """Deal `kind` to the next `times` requests of its host, on top of the seeded faults (for tests)."""
        if not any(kind in kinds for kinds in FAULT_KINDS.values()):
            raise ValueError(f"unknown fault kind {kind!r}")
        self.forced[kind] += times

    def fault(self, host: str = "gateway") -> str | None:
        """None, or the kind of fault this request of `host` meets (see FAULT_KINDS).

        Which requests fail is seeded; the kinds take turns per host, so any few faults include each kind."""
        kinds = FAULT_KINDS[host]
        for kind in kinds:
            if self.forced[kind] > 0:
                self.forced[kind] -= 1
                return kind
        if self.config.faults <= 0 or self.rng.random() >= self.config.faults:
            return None
        allowed = [k for k in kinds if not self.config.fault_kinds or k in self.config.fault_kinds]
        if not allowed:
            return None
        self.faults_dealt[host] += 1
        return allowed[self.faults_dealt[host] % len(allowed)]

    def latency(self) -> float:
        jitter = self.rng.uniform(0, self.config.jitter_ms) if self.config.jitter_ms else 0.0
        return (self.config.latency_ms + jitter) / 1000


def rate_limit_headers(product: str, family: str, wait: float, limit: int, reason: str) -> dict[str, str]:
    reset = datetime.fromtimestamp(time.time() + wait, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": reset,
        "RateLimit-Reason": f"{product}-{reason}",
    }
