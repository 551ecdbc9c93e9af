"""The site a user names, in any of its forms, and the cloudId the gateway needs for it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import aiohttp

from .config import check_url
from .errors import ConfigError, UnexpectedResponse

CLOUD_ID = re.compile(r"^[0-9a-fA-F-]{36}$")


def site_url(site: str) -> str:
    """`acme`, `acme.atlassian.net`, `https://acme.atlassian.net/wiki` -> `https://acme.atlassian.net`."""
    text = site.strip().rstrip("/")
    if not text:
        raise ConfigError("the site is empty: pass --site acme.atlassian.net (or --cloud-id)")
    if "://" not in text:
        text = f"https://{text}" if "." in text or ":" in text else f"https://{text}.atlassian.net"
    scheme, _, rest = text.partition("://")
    host = rest.split("/", 1)[0]
    url = f"{scheme.lower()}://{host}"
    check_url(url, "site")
    return url


def is_atlassian_site(url: str) -> bool:
    """An https://*.atlassian.net origin: the only kind of site `check` may send credentials to."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and host.endswith(".atlassian.net") and parts.port in (None, 443)


def check_cloud_id(cloud_id: str) -> str:
    if not CLOUD_ID.match(cloud_id):
        raise ConfigError(f"{cloud_id!r} is not a cloudId (a UUID): run `atlassian-to-sqlite cloud-id SITE`")
    return cloud_id.lower()


async def discover_cloud_id(session: aiohttp.ClientSession, site: str) -> str:
    """GET {site}/_edge/tenant_info, which needs no credentials, and return its cloudId."""
    url = f"{site_url(site)}/_edge/tenant_info"
    try:
        async with session.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise ConfigError(
                    f"{site_url(site)} answered {response.status} for /_edge/tenant_info: is it an Atlassian Cloud "
                    "site? Check the spelling, or pass --cloud-id"
                )
            if "json" not in response.headers.get("Content-Type", ""):
                raise UnexpectedResponse(f"{url} did not answer JSON: is {site} an Atlassian Cloud site?")
            body = await response.json(content_type=None)
    except aiohttp.ClientConnectorError as error:
        raise ConfigError(
            f"cannot reach {site_url(site)} ({error.os_error.strerror if error.os_error else 'no answer'}): "
            "check the site name, e.g. acme.atlassian.net"
        ) from None
    cloud_id = body.get("cloudId") if isinstance(body, dict) else None
    if not isinstance(cloud_id, str):
        raise UnexpectedResponse(f"{url} answered without a cloudId: is {site} an Atlassian Cloud site?")
    return check_cloud_id(cloud_id)
