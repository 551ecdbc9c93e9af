"""Settings: command-line flags over the TOML file over the environment over defaults, frozen once.

Credentials are not settings: they come from the environment only (see auth.py) and never from a
flag or a file, so they cannot end up in shell history, a committed config or the database.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

DEFAULT_CONFIG = Path("configs/atlassian.toml")
PRODUCTS = ("confluence", "jira")
HISTORY_CHOICES = ("off", "versions", "bodies")  # [confluence] history: which old versions are kept

# TOML layout: key -> (section, name in the file). Every key is documented in configs/example.toml.
TOML_KEYS: dict[str, tuple[str | None, str]] = {
    "site": (None, "site"),
    "cloud_id": (None, "cloud_id"),
    "gateway": (None, "gateway"),
    "auth_url": (None, "auth_url"),
    "db": (None, "db"),
    "attachments_dir": (None, "attachments_dir"),
    "products": (None, "only"),
    "attachments": (None, "attachments"),
    "concurrency": (None, "concurrency"),
    "max_retries": (None, "max_retries"),
    "retry_budget_s": (None, "retry_budget_s"),
    "request_timeout_s": (None, "request_timeout_s"),
    "spaces": ("confluence", "spaces"),
    "confluence_history": ("confluence", "history"),
    "confluence_restrictions": ("confluence", "restrictions"),
    "projects": ("jira", "projects"),
    "jira_changelogs": ("jira", "changelogs"),
    "jira_worklogs": ("jira", "worklogs"),
    "jira_overlap_minutes": ("jira", "overlap_minutes"),
}
ENV_KEYS = {
    "site": "ATLASSIAN_SITE",
    "cloud_id": "ATLASSIAN_CLOUD_ID",
    "gateway": "ATLASSIAN_GATEWAY",
    "auth_url": "ATLASSIAN_AUTH_URL",
}


@dataclass(frozen=True)
class Settings:
    site: str | None = None
    cloud_id: str | None = None
    gateway: str = "https://api.atlassian.com"
    auth_url: str = "https://auth.atlassian.com"
    db: Path = Path("data/atlassian.db")
    attachments_dir: Path = Path("data/attachments")
    products: tuple[str, ...] = PRODUCTS
    spaces: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    attachments: bool = True
    full: bool = False
    concurrency: int = 8
    max_retries: int = 8
    retry_budget_s: float = 600.0
    request_timeout_s: float = 300.0
    confluence_history: str = "versions"  # off | versions | bodies
    confluence_restrictions: bool = False  # one v1 request per page and blog post, every run
    jira_changelogs: bool = True  # field history: one request per 1,000 fetched issues
    jira_worklogs: bool = True  # site-wide: a request or two when little changed
    jira_overlap_minutes: int = 60

    def wants(self, product: str) -> bool:
        return product in self.products


def load_settings(
    flags: Mapping[str, Any] | None = None,
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    default_config: bool = True,
) -> Settings:
    """Build Settings; `flags` holds only the options given on the command line (None means not given)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for key, variable in ENV_KEYS.items():
        if environ.get(variable):
            values[key] = environ[variable]
    path = config_path or (DEFAULT_CONFIG if default_config and DEFAULT_CONFIG.exists() else None)
    if path is not None:
        values.update(read_toml(path))
    values.update({k: v for k, v in (flags or {}).items() if v is not None})
    return validate(coerce(values, str(path) if path else "the command line"))


def read_toml(path: Path, sites: bool = False) -> dict[str, Any]:
    """The file's settings; `sites`: the [[sites]] list is read elsewhere (sync --all), not refused."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist: create it from configs/example.toml") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    by_place = {place: key for key, place in TOML_KEYS.items()}
    sections = {section for section, _ in TOML_KEYS.values() if section}
    values: dict[str, Any] = {}
    if "sites" in data and not sites:
        raise ConfigError(f"{path} lists [[sites]]: sync them all with `sync --all --config {path}`")
    data.pop("sites", None)
    for name, value in data.items():
        if name in sections and isinstance(value, dict):
            for inner, inner_value in value.items():
                key = by_place.get((name, inner))
                if key is None:
                    raise ConfigError(unknown_key(path, f"[{name}] {inner}"))
                values[key] = inner_value
        elif (None, name) in by_place:
            values[by_place[(None, name)]] = value
        else:
            raise ConfigError(unknown_key(path, name))
    return values


def unknown_key(path: Path, name: str) -> str:
    known = ", ".join(f"[{s}] {n}" if s else n for s, n in TOML_KEYS.values())
    return f"unknown key '{name}' in {path}; the keys are: {known} (see configs/example.toml)"


def coerce(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Turn TOML, flag and environment values into the types Settings holds, naming any bad one."""
    types = {f.name: f.type for f in fields(Settings)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        kind = types[key]
        try:
            if kind == "Path":
                out[key] = Path(str(value)).expanduser()
            elif kind == "tuple[str, ...]":
                items = value.split(",") if isinstance(value, str) else list(value)
                out[key] = tuple(str(i).strip() for i in items if str(i).strip())
            elif kind == "bool":
                if not isinstance(value, bool):
                    raise TypeError
                out[key] = value
            elif kind in ("int", "float"):
                if isinstance(value, bool):
                    raise TypeError
                out[key] = int(value) if kind == "int" else float(value)
            else:
                out[key] = None if value in ("", None) else str(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting '{key}' from {source} should be {kind}, not {value!r}") from None
    return out


def validate(values: dict[str, Any]) -> Settings:
    settings = Settings(**values)
    unknown = set(settings.products) - set(PRODUCTS)
    if unknown or not settings.products:
        raise ConfigError(f"'only' must name confluence and/or jira, not {', '.join(sorted(unknown)) or 'nothing'}")
    if not 1 <= settings.concurrency <= 64:
        raise ConfigError(f"concurrency must be between 1 and 64, not {settings.concurrency}")
    if settings.max_retries < 0:
        raise ConfigError(f"max_retries cannot be negative, not {settings.max_retries}")
    if settings.retry_budget_s <= 0 or settings.request_timeout_s <= 0:
        raise ConfigError("retry_budget_s and request_timeout_s must be more than 0 seconds")
    if settings.confluence_history not in HISTORY_CHOICES:
        raise ConfigError(
            f"[confluence] history must be one of {', '.join(HISTORY_CHOICES)}, not {settings.confluence_history!r}"
        )
    if settings.jira_overlap_minutes < 0:
        raise ConfigError("jira overlap_minutes cannot be negative")
    for name in ("gateway", "auth_url"):
        check_url(getattr(settings, name), name)
    return replace(settings, gateway=settings.gateway.rstrip("/"), auth_url=settings.auth_url.rstrip("/"))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, name: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{name} must be an https:// URL, not {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"{name} {url!r} uses plain http://, which would send the token unencrypted: use https:// "
            "(http:// is allowed only for loopback test servers such as the built-in simulator)"
        )
