"""GatewayClient: the one way this tool talks to Atlassian.

One aiohttp session; every URL rooted on {gateway}/ex/{product}/{cloudId}; every request through the
adaptive limiter and a retry loop (429, 503, 5xx, dropped connections) that honours Retry-After as the
minimum wait; downloads that follow the redirect to the media host *without* the Authorization header;
errors turned into messages that say which scope or setting to fix; counts of everything it did.
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
from .backoff import Backoff, is_quota, is_retryable, parse_reset, parse_retry_after
from .blobs import BlobWriter, StoredBlob
from .config import Settings
from .errors import (
    ApiError,
    EndpointRemoved,
    MissingScope,
    NotFound,
    RetriesExhausted,
    Unauthorized,
    UnexpectedResponse,
)
from .links import origin, reroot
from .ratelimit import AdaptiveLimiter
from .scopes import operation_for
from .tenant import site_url

CHUNK = 256 * 1024
REDIRECTS = (301, 302, 303, 307, 308)
MAX_HOPS = 3
TRANSIENT = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)


@dataclass
class RequestStats:
    requests: int = 0
    succeeded: int = 0
    retries: int = 0
    rate_limited: int = 0
    downloads: int = 0
    media_requests: int = 0
    bytes_downloaded: int = 0
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


class Renew:
    """A 401 that a fresh OAuth access token may cure."""


class GatewayClient:
    def __init__(self, settings: Settings, credentials: Credentials, cloud_id: str, site: str | None = None) -> None:
        self.settings = settings
        self.roots = {p: f"{settings.gateway}/ex/{p}/{cloud_id}" for p in ("confluence", "jira")}
        self.gateway_origin = origin(settings.gateway)
        self.site_origin = site_url(site) if site else None
        self.auth = Authenticator(credentials, settings.auth_url)
        self.limiter = AdaptiveLimiter(settings.concurrency)
        self.backoff = Backoff()
        self.stats = RequestStats()
        self.session: aiohttp.ClientSession | None = None

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
        renewed = False
        for attempt in range(self.settings.max_retries + 1):
            async with self.limiter.slot(family):
                outcome = await self._attempt(product, method, url, family, params, body)
            if isinstance(outcome, ApiResponse):
                return outcome
            if isinstance(outcome, Renew):
                if renewed:
                    raise self._unauthorized(product, url)
                await self.auth.refresh(self.session)
                renewed = True
                continue
            if attempt == self.settings.max_retries:
                raise RetriesExhausted(
                    f"{method} {self._shown(url)} still failing after {attempt + 1} attempts ({outcome.why}): "
                    "the site may be overloaded; run again later (what was synced is kept)"
                )
            self.stats.retries += 1
            await anyio.sleep(self.backoff.delay(attempt, outcome.retry_after))
        raise AssertionError("unreachable")

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
        if status == 429 or (status == 503 and "Retry-After" in response.headers) or is_retryable(status):
            hint = parse_retry_after(response.headers.get("Retry-After"))
            if status == 429 or hint is not None:
                self.stats.rate_limited += status == 429
                wait = hint if hint is not None else parse_reset(response.headers.get("X-RateLimit-Reset"))
                quota = is_quota(response.headers.get("RateLimit-Reason"))
                self.limiter.throttled(family, wait if wait is not None else 1.0, quota)
                hint = hint if hint is not None else (wait if quota else None)
            return Retry(hint, f"HTTP {status}")
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
            return None
        if "html" in kind or raw.lstrip()[:1] == b"<":
            raise UnexpectedResponse(
                f"{self._shown(url)} answered an HTML page (a login page?) where JSON was expected: check that "
                "--gateway is the API gateway (https://api.atlassian.com), not the site URL; nothing was stored"
            )
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UnexpectedResponse(
                f"{self._shown(url)} answered something that is not JSON ({kind or 'no type'})"
            ) from None

    # -- errors ---------------------------------------------------------------------------------
    def _operation_path(self, product: str, url: str) -> str:
        return urlsplit(url).path[len(urlsplit(self.roots[product]).path) :]

    def _missing_scope(self, product: str, method: str, url: str) -> MissingScope:
        path = self._operation_path(product, url)
        op = operation_for(product, method, path)
        if op is None:
            return MissingScope(f"{method} {path}", (), url)
        choices = tuple(" + ".join(s) for s in op.scope_sets)
        return MissingScope(op.name, choices, url)

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
        return Unauthorized(f"the gateway refused the credentials for {product} (401): {hint}", 401, url)

    def _refusal(self, product: str, method: str, url: str, status: int, raw: bytes) -> ApiError:
        message = api_message(raw)
        shown = f"{method} {self._shown(url)}"
        if status == 404:
            return NotFound(f"{shown} answered 404{': ' + message if message else ''}", status, url)
        if status == 410:
            return EndpointRemoved(f"{shown} has been removed by Atlassian (410): {message}", status, url)
        if status == 403:
            return ApiError(
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
        for attempt in range(self.settings.max_retries + 1):
            writer.reset()
            try:
                async with self.limiter.slot(family):
                    outcome = await self._download_once(product, url, family, writer)
                if outcome is None:
                    stored = await anyio.to_thread.run_sync(writer.commit, expected_size)
                    self.stats.downloads += 1
                    return stored
            except UnexpectedResponse as error:  # a short body: fetch a fresh URL and try again
                outcome = Retry(None, str(error))
            except TRANSIENT as error:
                outcome = Retry(None, type(error).__name__)
            if attempt == self.settings.max_retries:
                writer.discard()
                raise RetriesExhausted(f"download of {self._shown(url)} kept failing ({outcome.why})")
            self.stats.retries += 1
            await anyio.sleep(self.backoff.delay(attempt, outcome.retry_after))
        raise AssertionError("unreachable")

    async def _download_once(self, product: str, url: str, family: str, writer: BlobWriter) -> Retry | None:
        for _hop in range(MAX_HOPS + 1):
            headers = {}
            if origin(url) == self.gateway_origin:  # the token goes to the gateway and nowhere else
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
                    if origin(url) == self.gateway_origin:
                        judged = self._judge(product, "GET", url, family, response, raw)
                        if isinstance(judged, Renew):
                            await self.auth.refresh(self.session)
                            return Retry(None, "access token renewed")
                        return judged if isinstance(judged, Retry) else Retry(None, "unexpected answer")
                    return Retry(None, f"media host answered {response.status}")  # an expired URL: start over
                async for chunk in response.content.iter_chunked(CHUNK):
                    writer.write(chunk)
                    self.stats.bytes_downloaded += len(chunk)
                return None
        return Retry(None, "too many redirects")


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
