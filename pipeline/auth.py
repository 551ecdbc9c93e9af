"""Credentials from the environment, and the Authorization header they produce.

- ATLASSIAN_TOKEN alone                          -> Bearer (a Service Account's scoped token)
- ATLASSIAN_EMAIL + ATLASSIAN_TOKEN              -> Basic email:token
- ATLASSIAN_CLIENT_ID + ATLASSIAN_CLIENT_SECRET  -> OAuth 2.0 client credentials, renewed before expiry
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
import anyio
import orjson

from .backoff import Backoff, parse_retry_after
from .errors import ConfigError, PipelineError, RetriesExhausted, Unauthorized

RENEW_MARGIN_S = 60.0  # renew this long before an access token expires (or at 80% of a short lifetime)


class Secret:
    """A string that never shows itself in a repr, a log line or an exception."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class Credentials:
    kind: str  # bearer | basic | oauth
    token: Secret | None = None
    email: str | None = None
    client_id: str | None = None
    client_secret: Secret | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Credentials:
        token = environ.get("ATLASSIAN_TOKEN", "").strip()
        email = environ.get("ATLASSIAN_EMAIL", "").strip()
        client_id = environ.get("ATLASSIAN_CLIENT_ID", "").strip()
        secret = environ.get("ATLASSIAN_CLIENT_SECRET", "").strip()
        if client_id or secret:
            if not (client_id and secret):
                raise ConfigError("OAuth needs both ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET")
            return cls("oauth", client_id=client_id, client_secret=Secret(secret))
        if token:
            return cls("basic" if email else "bearer", token=Secret(token), email=email or None)
        if email:
            raise ConfigError("ATLASSIAN_EMAIL is set but ATLASSIAN_TOKEN is not: export the API token too")
        raise ConfigError(
            "no credentials: export ATLASSIAN_TOKEN (a Service Account's scoped API token), optionally with "
            "ATLASSIAN_EMAIL for Basic auth, or ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET for OAuth"
        )

    def secrets(self) -> list[str]:
        """Every secret string, so tests and log filters can prove none leaks."""
        return [s.reveal() for s in (self.token, self.client_secret) if s is not None]


class TokenUnavailable(Exception):
    """The auth server failed in a way that may heal (5xx, 429, HTML, a dropped connection): ask again."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.why, self.retry_after = why, retry_after


class Authenticator:
    """Produces the Authorization header for gateway requests; renews OAuth tokens.

    A renewal is retried like any other request, with its own count (`max_retries`), while every request
    that needs the token waits for it; a refusal (400/401: a wrong or expired client secret) is final.
    """

    def __init__(
        self, credentials: Credentials, auth_url: str, max_retries: int = 8, on_retry: Callable[[], None] = lambda: None
    ) -> None:
        self.credentials = credentials
        self.auth_url = auth_url
        self.max_retries = max_retries
        self.on_retry = on_retry  # counts retries into the client's statistics
        self.backoff = Backoff()
        self._access: Secret | None = None
        self._renew_at = 0.0
        self._lock = anyio.Lock()
        self._renewals = 0  # renewals tried, so a request that waited for a failed one does not try again
        self._failure: PipelineError | None = None

    async def header(self, session: aiohttp.ClientSession) -> str:
        creds = self.credentials
        if creds.kind == "bearer":
            return f"Bearer {creds.token.reveal()}"
        if creds.kind == "basic":
            raw = f"{creds.email}:{creds.token.reveal()}".encode()
            return f"Basic {base64.b64encode(raw).decode()}"
        if self._access is None or time.monotonic() >= self._renew_at:
            await self.renew(session, stale=self._access)
        return f"Bearer {self._access.reveal()}"

    @property
    def renewable(self) -> bool:
        return self.credentials.kind == "oauth"

    async def refresh(self, session: aiohttp.ClientSession) -> None:
        """The gateway refused the current access token: fetch another (once, however many ask)."""
        await self.renew(session, stale=self._access)

    async def renew(self, session: aiohttp.ClientSession, stale: Secret | None = None) -> None:
        """Fetch a new access token, once however many requests ask at the same moment."""
        asked_after = self._renewals
        async with self._lock:
            if self._access is not stale:
                return  # another request renewed it while this one waited
            if self._renewals != asked_after and self._failure is not None:
                raise self._failure  # the renewal this request waited for has just failed after its retries
            self._renewals += 1
            try:
                token, lifetime = await self._token_with_retries(session)
            except PipelineError as error:
                self._failure = error
                raise
            self._failure = None
            self._access = Secret(token)
            self._renew_at = time.monotonic() + lifetime - min(RENEW_MARGIN_S, lifetime * 0.2)

    async def _token_with_retries(self, session: aiohttp.ClientSession) -> tuple[str, float]:
        for attempt in range(self.max_retries + 1):
            try:
                return await self._token(session)
            except TokenUnavailable as error:
                if attempt == self.max_retries:
                    raise RetriesExhausted(
                        f"cannot get an OAuth token from {self.auth_url}: still failing after {attempt + 1} "
                        f"attempts ({error.why}); the auth server may be down, run again later"
                    ) from None
                self.on_retry()
                await anyio.sleep(self.backoff.delay(attempt, error.retry_after))
        raise AssertionError("the loop returns or raises")  # pragma: no cover

    async def _token(self, session: aiohttp.ClientSession) -> tuple[str, float]:
        creds = self.credentials
        body = {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret.reveal(),
        }
        try:
            async with session.post(f"{self.auth_url}/oauth/token", json=body) as response:
                status, raw = response.status, await response.read()
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TokenUnavailable(type(error).__name__) from None
        if status == 429 or status >= 500:
            raise TokenUnavailable(f"HTTP {status}", retry_after)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if status == 200 and not isinstance(data, dict):  # a proxy's maintenance page, or a cut-off body
            raise TokenUnavailable("an HTML page" if raw.lstrip()[:1] == b"<" else "an answer that is not JSON")
        if status != 200 or "access_token" not in data:
            code = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), str) else ""
            raise Unauthorized(
                f"{self.auth_url} refused the OAuth client credentials ({status}{' ' + code if code else ''}): "
                "check ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET, and whether the secret has expired or "
                "been rotated",
                status,
            )
        return str(data["access_token"]), float(data.get("expires_in", 3600))
