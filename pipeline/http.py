"""GatewayClient: the one way this tool talks to Atlassian.

One aiohttp session; every URL rooted on {gateway}/ex/{product}/{cloudId}; every request through the
adaptive limiter and a retry loop that honours Retry-After as the minimum wait (429/503 bounded by time,
5xx, dropped or stalled connections and cut-off bodies by a count: see backoff.RetryBudget); downloads
that follow the redirect to the media host *without* the Authorization header and verify the size;
errors turned into messages that say which scope or setting to fix, never showing a query string (a
signed media URL carries a token); counts of everything it did.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import anyio
import orjson

from . import __version__
from .auth import Authenticator, Credentials
from .backoff import Backoff, RetryBudget, is_quota, is_retryable, parse_reset, parse_retry_after
from .blobs import BlobWriter, StoredBlob
from .config import Settings
from .errors import (
    ApiError,
    EndpointRemoved,
    Forbidden,
    MissingScope,
    NotFound,
    RetriesExhausted,
    Unauthorized,
    UnexpectedResponse,
)
from .links import origin, reroot
from .ratelimit import AdaptiveLimiter, PauseTooLong
from .scopes import operation_for
from .tenant import site_url

CHUNK = 256 * 1024
REDIRECTS = (301, 302, 303, 307, 308)
MAX_HOPS = 3
# Worth another try: a dropped or refused connection, a body shorter than its Content-Length (aiohttp's
# ClientPayloadError), a stall past request_timeout_s (a TimeoutError), a garbled answer
# (ClientResponseError). Only the type's name is ever shown: aiohttp's messages carry the full URL.
TRANSIENT = (aiohttp.ClientError, asyncio.TimeoutError)
GONE = (404, 410)  # an attachment deleted between listing and download


@dataclass
class RequestStats:
    requests: int = 0
    succeeded: int = 0
    retries: int = 0
    rate_limited: int = 0
    downloads: int = 0
    media_requests: int = 0
    bytes_downloaded: int = 0
    bad_bodies: int = 0  # 200s whose body was cut off or unreadable, fetched again
    size_mismatches: int = 0  # downloads whose size differed from the listing's, fetched again
    auth_retries: int = 0  # OAuth token requests tried again
    by_family: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class ApiResponse:
    url: str
    status: int
    headers: dict[str, str]
    data: Any


@dataclass(frozen=True)
class Retry:
    retry_after: float | None
    why: str
    throttled: bool = False  # a 429 or 503: the site asks for patience, bounded by time rather than count


class Unreadable(Exception):
    """A 200 whose body is not the JSON it claims: cut off mid-way, most likely."""


class Renew:
    """A 401 that a fresh OAuth access token may cure."""


class GatewayClient:
    def __init__(self, settings: Settings, credentials: Credentials, cloud_id: str, site: str | None = None) -> None:
        self.settings = settings
        self.roots = {p: f"{settings.gateway}/ex/{p}/{cloud_id}" for p in ("confluence", "jira")}
        self.gateway_origin = origin(settings.gateway)
        self.site_origin = site_url(site) if site else None
        self.stats = RequestStats()
        self.auth = Authenticator(credentials, settings.auth_url, settings.max_retries, self._count_auth_retry)
        self.limiter = AdaptiveLimiter(settings.concurrency)
        self.backoff = Backoff()
        self.session: aiohttp.ClientSession | None = None

    def _count_auth_retry(self) -> None:
        self.stats.auth_retries += 1

    def _budget(self) -> RetryBudget:
        return RetryBudget(self.settings.max_retries, self.settings.retry_budget_s, self.backoff)

    async def _pause(self, budget: RetryBudget, outcome: Retry, what: str) -> None:
        """Wait before the next try, or raise RetriesExhausted when the request has spent its budget."""
        wait = budget.next_wait(outcome.throttled, outcome.retry_after)
        if wait is None:
            raise RetriesExhausted(budget.exhausted(what, outcome.why, outcome.throttled))
        self.stats.retries += 1
        await anyio.sleep(wait)

    @staticmethod
    def _paused(budget: RetryBudget, what: str, pause: PauseTooLong) -> RetriesExhausted:
        """The site paused this family (or the tenant) past the request's budget: fail now, not after the wait."""
        why = f"the site asked for {pause.wait_s:.0f} s more of waiting"
        return RetriesExhausted(budget.exhausted(what, why, throttled=True))

    async def __aenter__(self) -> GatewayClient:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=self.settings.request_timeout_s)
        self.session = aiohttp.ClientSession(
            timeout=timeout,
            connector=aiohttp.TCPConnector(limit=self.settings.concurrency * 4),
            headers={"User-Agent": f"atlassian-to-sqlite/{__version__}"},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    # -- URLs -----------------------------------------------------------------------------------
    def url(self, product: str, path_or_link: str) -> str:
        """A gateway URL from an API path (/wiki/api/v2/pages) or a link an API response handed back."""
        return reroot(path_or_link, self.roots[product], self.site_origin)

    def _family(self, product: str, method: str, url: str) -> str:
        parts = [p for p in self._operation_path(product, url).split("/") if p]
        segment = parts[3] if len(parts) > 3 else "root"
        return f"{product}:{method}:{segment}"

    # -- JSON requests ----------------------------------------------------------------------------
    async def get(self, product: str, path: str, params: dict[str, Any] | None = None) -> ApiResponse:
        return await self._request(product, "GET", self.url(product, path), params=params)

    async def post(self, product: str, path: str, body: Any) -> ApiResponse:
        return await self._request(product, "POST", self.url(product, path), body=orjson.dumps(body))

    async def _request(
        self, product: str, method: str, url: str, *, params: dict | None = None, body: bytes | None = None
    ) -> ApiResponse:
        family = self._family(product, method, url)
        budget = self._budget()
        renewed = False  # a renewal is not a retry: it neither spends nor needs the budget
        while True:
            try:
                async with self.limiter.slot(family, budget.deadline):
                    outcome = await self._attempt(product, method, url, family, params, body)
            except PauseTooLong as pause:
                raise self._paused(budget, f"{method} {self._shown(url)}", pause) from None
            if isinstance(outcome, ApiResponse):
                return outcome
            if isinstance(outcome, Renew):
                if renewed:
                    raise self._unauthorized(product, url)
                await self.auth.refresh(self.session)
                renewed = True
                continue
            await self._pause(budget, outcome, f"{method} {self._shown(url)}")

    async def _attempt(
        self, product: str, method: str, url: str, family: str, params: dict | None, body: bytes | None
    ) -> ApiResponse | Retry | Renew:
        headers = {"Authorization": await self.auth.header(self.session), "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.stats.requests += 1
        self.stats.by_family[family] += 1
        try:
            async with self.session.request(
                method, url, params=query(params), data=body, headers=headers, allow_redirects=False
            ) as response:
                raw = await response.read()
                return self._judge(product, method, url, family, response, raw)
        except TRANSIENT as error:
            return Retry(None, type(error).__name__)
        except Unreadable as error:
            self.stats.bad_bodies += 1
            return Retry(None, str(error))

    def _judge(
        self, product: str, method: str, url: str, family: str, response: aiohttp.ClientResponse, raw: bytes
    ) -> ApiResponse | Retry | Renew:
        status = response.status
        if 200 <= status < 300:
            if response.headers.get("X-RateLimit-NearLimit", "").lower() == "true":
                self.limiter.near_limit(family)
            else:
                self.limiter.succeeded(family)
            answer = ApiResponse(url, status, dict(response.headers), self._parse(url, response, raw))
            self.stats.succeeded += 1  # counted once the body is the JSON it should be
            return answer
        if is_retryable(status):
            hint = parse_retry_after(response.headers.get("Retry-After"))
            if status == 429 or hint is not None:
                self.stats.rate_limited += status == 429
                wait = hint if hint is not None else parse_reset(response.headers.get("X-RateLimit-Reset"))
                quota = is_quota(response.headers.get("RateLimit-Reason"))
                self.limiter.throttled(family, wait if wait is not None else 1.0, quota)
                hint = hint if hint is not None else (wait if quota else None)
            return Retry(hint, f"HTTP {status}", throttled=status in (429, 503))
        if status == 401:
            if response.headers.get("X-Failure-Category") == "FAILURE_CLIENT_SCOPE_CHECK":
                raise self._missing_scope(product, method, url)
            if self.auth.renewable:
                return Renew()
            raise self._unauthorized(product, url)
        raise self._refusal(product, method, url, status, raw)

    def _parse(self, url: str, response: aiohttp.ClientResponse, raw: bytes) -> Any:
        kind = response.headers.get("Content-Type", "")
        if not raw:
            if response.status == 204:
                return None
            raise Unreadable(f"a {response.status} with an empty body")  # every API read answers something
        if "html" in kind or raw.lstrip()[:1] == b"<":
            raise UnexpectedResponse(
                f"{self._shown(url)} answered an HTML page (a login page?) where JSON was expected: check that "
                "--gateway is the API gateway (https://api.atlassian.com), not the site URL; nothing was stored"
            )
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            # framed correctly (aiohttp checks Content-Length) yet not JSON: a proxy cut it off; ask again
            raise Unreadable(f"a 200 whose body is cut off or not JSON ({kind or 'no type'})") from None

    # -- errors ---------------------------------------------------------------------------------
    def _operation_path(self, product: str, url: str) -> str:
        return urlsplit(url).path[len(urlsplit(self.roots[product]).path) :]

    def _missing_scope(self, product: str, method: str, url: str) -> MissingScope:
        path = self._operation_path(product, url)
        op = operation_for(product, method, path)
        if op is None:
            return MissingScope(f"{method} {path}", (), self._shown(url))
        choices = tuple(" + ".join(s) for s in op.scope_sets)
        return MissingScope(op.name, choices, self._shown(url))

    def _unauthorized(self, product: str, url: str) -> Unauthorized:
        kind = self.auth.credentials.kind
        hint = {
            "bearer": "check ATLASSIAN_TOKEN; a classic (unscoped) API token does not work through the gateway: "
            "use a Service Account's scoped token, or set ATLASSIAN_EMAIL to use it with Basic auth",
            "basic": "check ATLASSIAN_EMAIL and ATLASSIAN_TOKEN (for a Service Account the email is its "
            "...@serviceaccount.atlassian.com address)",
            "oauth": "the OAuth access token was refused even after renewal: check the Service Account's "
            "OAuth credential and its scopes",
        }[kind]
        return Unauthorized(f"the gateway refused the credentials for {product} (401): {hint}", 401, self._shown(url))

    def _refusal(self, product: str, method: str, url: str, status: int, raw: bytes) -> ApiError:
        message = api_message(raw)
        url = self._shown(url)
        shown = f"{method} {url}"
        if status == 404:
            return NotFound(f"{shown} answered 404{': ' + message if message else ''}", status, url)
        if status == 410:
            return EndpointRemoved(f"{shown} has been removed by Atlassian (410): {message}", status, url)
        if status == 403:
            return Forbidden(
                f"{shown} is forbidden (403){': ' + message if message else ''}: is {product} licensed for this "
                "account, and may it see this content?",
                status,
                url,
            )
        return ApiError(f"{shown} answered {status}{': ' + message if message else ''}", status, url)

    def _shown(self, url: str) -> str:
        """A URL fit for a message: path only, never a query (signed media URLs carry tokens)."""
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    # -- downloads ------------------------------------------------------------------------------
    async def download(self, product: str, path: str, writer: BlobWriter, expected_size: int | None) -> StoredBlob:
        """Fetch attachment bytes into `writer`, following the redirect to the media host without the token."""
        url = self.url(product, path)
        try:
            return await self._download(product, url, writer, expected_size)
        except BaseException:
            writer.discard()  # cancelled or failed: no partial file stays behind
            raise

    async def _download(self, product: str, url: str, writer: BlobWriter, expected_size: int | None) -> StoredBlob:
        family = f"{product}:GET:download"
        budget = self._budget()
        refusals = [0]  # media-host refusals so far: the first may be a signed URL that expired
        renewed = False
        while True:
            writer.reset()
            try:
                async with self.limiter.slot(family, budget.deadline):
                    outcome = await self._download_once(product, url, family, writer, refusals)
            except PauseTooLong as pause:
                raise self._paused(budget, f"download of {self._shown(url)}", pause) from None
            except TRANSIENT as error:  # the type only: aiohttp's message holds the signed media URL
                outcome = Retry(None, type(error).__name__)
            except Unreadable as error:
                outcome = Retry(None, str(error))
            if isinstance(outcome, Renew):  # as for JSON requests: once, and not counted as a retry
                if renewed:
                    raise self._unauthorized(product, url)
                await self.auth.refresh(self.session)
                renewed = True
                continue
            if outcome is None and expected_size is not None and writer.size != expected_size:
                self.stats.size_mismatches += 1  # never stored: fetch the bytes again
                outcome = Retry(None, f"{writer.size} bytes where the listing says {expected_size}")
            if outcome is None:
                stored = await anyio.to_thread.run_sync(writer.commit, expected_size)
                self.stats.downloads += 1
                return stored
            await self._pause(budget, outcome, f"download of {self._shown(url)}")

    async def _download_once(
        self, product: str, url: str, family: str, writer: BlobWriter, refusals: list[int]
    ) -> Retry | Renew | None:
        shown = self._shown(url)  # the gateway path; the media URL that follows is never shown
        for _hop in range(MAX_HOPS + 1):
            headers = {}
            on_gateway = origin(url) == self.gateway_origin
            if on_gateway:  # the token goes to the gateway and nowhere else
                headers["Authorization"] = await self.auth.header(self.session)
                self.stats.requests += 1
                self.stats.by_family[family] += 1
            else:
                self.stats.media_requests += 1
            async with self.session.get(url, headers=headers, allow_redirects=False) as response:
                if response.status in REDIRECTS and "Location" in response.headers:
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status != 200:
                    raw = await response.read()
                    if not on_gateway:
                        return self._judge_media(response.status, shown, refusals)
                    return self._judge_download(product, url, family, response, raw, shown)
                async for chunk in response.content.iter_chunked(CHUNK):
                    writer.write(chunk)
                    self.stats.bytes_downloaded += len(chunk)
                return None
        return Retry(None, "too many redirects")

    def _judge_download(
        self, product: str, url: str, family: str, response: aiohttp.ClientResponse, raw: bytes, shown: str
    ) -> Retry | Renew:
        """The gateway's answer to a download other than a redirect or bytes: retry, renew, or raise."""
        if response.status in GONE:
            raise self._gone(shown, response.status, "the gateway")
        if response.status == 403:
            raise self._forbidden(shown, "the gateway", api_message(raw))
        judged = self._judge(product, "GET", url, family, response, raw)
        return judged if isinstance(judged, Retry | Renew) else Retry(None, f"unexpected HTTP {response.status}")

    def _judge_media(self, status: int, shown: str, refusals: list[int]) -> Retry:
        """The media host refused: a first 403/404 may be an expired signed URL, so start over once."""
        if status in (403, *GONE):
            refusals[0] += 1
            if refusals[0] > 1:
                if status == 403:
                    raise self._forbidden(shown, "the media host", "")
                raise self._gone(shown, status, "the media host")
        return Retry(None, f"media host answered {status}", throttled=status in (429, 503))

    @staticmethod
    def _gone(shown: str, status: int, where: str) -> NotFound:
        return NotFound(f"attachment {shown} is gone ({status} from {where}): deleted since it was listed", 404, shown)

    @staticmethod
    def _forbidden(shown: str, where: str, message: str) -> Forbidden:
        detail = f": {message}" if message else ""
        return Forbidden(f"attachment {shown} is not permitted (403 from {where}){detail}", 403, shown)


def query(params: dict[str, Any] | None) -> list[tuple[str, str]] | None:
    """Query parameters; a list value is sent repeated (keys=A&keys=B), as Jira's array parameters expect."""
    if params is None:
        return None
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((name, str(item)))
    return pairs


def api_message(raw: bytes) -> str:
    """The human part of an Atlassian error body, whichever of its shapes it has."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts: list[str] = list(body.get("errorMessages") or [])
    parts += (
        [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()] if isinstance(body.get("errors"), dict) else []
    )
    if isinstance(body.get("errors"), list):
        parts += [e.get("title") or e.get("detail") or "" for e in body["errors"] if isinstance(e, dict)]
    if body.get("message"):
        parts.append(str(body["message"]))
    return "; ".join(p for p in parts if p)[:500]
