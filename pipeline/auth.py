"""Credentials from the environment, and the Authorization header they produce.

- ATLASSIAN_TOKEN alone                          -> Bearer (a Service Account's scoped token)
- ATLASSIAN_EMAIL + ATLASSIAN_TOKEN              -> Basic email:token
- ATLASSIAN_CLIENT_ID + ATLASSIAN_CLIENT_SECRET  -> OAuth 2.0 client credentials, renewed before expiry
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import anyio

from .errors import ConfigError, Unauthorized

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


class Authenticator:
    """Produces the Authorization header for gateway requests; renews OAuth tokens."""

    def __init__(self, credentials: Credentials, auth_url: str) -> None:
        self.credentials = credentials
        self.auth_url = auth_url
        self._access: Secret | None = None
        self._renew_at = 0.0
        self._lock = anyio.Lock()

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
        async with self._lock:
            if self._access is not stale:
                return  # another request renewed it while this one waited
            creds = self.credentials
            body = {
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret.reveal(),
            }
            try:
                async with session.post(f"{self.auth_url}/oauth/token", json=body) as response:
                    data = await response.json(content_type=None) if response.status < 500 else {}
                    status = response.status
            except aiohttp.ClientError as error:
                raise Unauthorized(f"cannot reach {self.auth_url} for an OAuth token: {type(error).__name__}") from None
            if status != 200 or not isinstance(data, dict) or "access_token" not in data:
                raise Unauthorized(
                    f"{self.auth_url} refused the OAuth client credentials ({status}): check ATLASSIAN_CLIENT_ID "
                    "and ATLASSIAN_CLIENT_SECRET, and whether the secret has expired or been rotated",
                    status,
                )
            lifetime = float(data.get("expires_in", 3600))
            self._access = Secret(str(data["access_token"]))
            self._renew_at = time.monotonic() + lifetime - min(RENEW_MARGIN_S, lifetime * 0.2)
