"""Many sites in one job: `[[sites]]` in the TOML file, each with its own store, client, limits and
credentials, synced concurrently by `sync --all`; one result per site, and the exit status the worst.

    gateway = "https://api.atlassian.com"      # top-level keys apply to every site
    [[sites]]
    name = "acme"                              # letters, digits, - and _
    site = "acme.atlassian.net"                # or cloud_id = "..."
    db = "data/acme.db"                        # default data/{name}.db
    attachments_dir = "data/acme-attachments"  # default data/{name}-attachments
    token_env = "ACME_TOKEN"                   # default ATLASSIAN_TOKEN_ACME (and so on for the others)

Credentials stay out of the file: each site names the environment variables that hold its own, so one
site's token never reaches another site's client.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import orjson

from .config import ENV_KEYS, TOML_KEYS, Settings, coerce, read_toml, validate
from .context import StreamError
from .errors import ConfigError, PipelineError
from .progress import Progress
from .runner import Stopper, SyncResult, sync

CREDENTIALS = {  # the variable auth.py reads -> the site entry's key naming where this site's value is
    "ATLASSIAN_TOKEN": "token_env",
    "ATLASSIAN_EMAIL": "email_env",
    "ATLASSIAN_CLIENT_ID": "client_id_env",
    "ATLASSIAN_CLIENT_SECRET": "client_secret_env",
}
USUAL_NAMES = re.compile(r"\b(" + "|".join(CREDENTIALS) + r")\b")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
SITE_KEYS = {name: key for key, (section, name) in TOML_KEYS.items() if section is None}
# exit statuses from best to worst: ok, partial, failed, interrupted
SEVERITY = {0: 0, 2: 1, 1: 2}


@dataclass(frozen=True)
class Site:
    name: str
    settings: Settings
    credential_env: dict[str, str]  # ATLASSIAN_TOKEN -> the variable holding this site's token, ...

    def environ(self, environ: Mapping[str, str], sites: Sequence[Site] = ()) -> dict[str, str]:
        """The environment this site's sync sees: its own credentials under the usual names, and none of
        `sites`' (the others in the job)."""
        hidden = {*CREDENTIALS, *(v for site in sites for v in site.credential_env.values())}
        own = {k: v for k, v in environ.items() if k not in hidden}
        own.update({usual: environ[mine] for usual, mine in self.credential_env.items() if environ.get(mine)})
        return own

    def own_names(self, text: str) -> str:
        """A message as this site's operator needs it: ATLASSIAN_TOKEN is, for this site, its token_env."""
        return USUAL_NAMES.sub(lambda m: self.credential_env[m.group(0)], text)

    def missing_credentials(self, environ: Mapping[str, str]) -> str | None:
        if any(environ.get(v) for v in self.credential_env.values()):
            return None
        token, client = self.credential_env["ATLASSIAN_TOKEN"], self.credential_env["ATLASSIAN_CLIENT_ID"]
        return (
            f"no credentials for site {self.name}: set {token} (a scoped API token), or {client} and "
            f"{self.credential_env['ATLASSIAN_CLIENT_SECRET']} (OAuth)"
        )


@dataclass(frozen=True)
class SiteOutcome:
    name: str
    result: SyncResult | None
    error: str | None = None  # why the site did not sync at all

    @property
    def exit_code(self) -> int:
        return self.result.exit_code if self.result else 1


def default_env(name: str, variable: str) -> str:
    return f"{variable}_{re.sub(r'[^A-Z0-9]', '_', name.upper())}"


def load_sites(
    path: Path, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> list[Site]:
    """The sites a config lists, each with the file's shared keys, its own, and the command line's on top
    (under all of them ATLASSIAN_GATEWAY and ATLASSIAN_AUTH_URL; a site's own place comes only from the file)."""
    environ = os.environ if environ is None else environ
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist: see configs/sites.example.toml") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    entries = data.get("sites")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{path} lists no [[sites]]: sync --all needs one [[sites]] table per site")
    shared = {key: environ[var] for key, var in ENV_KEYS.items() if key in ("gateway", "auth_url") and environ.get(var)}
    shared |= read_toml(path, sites=True)
    sites = [site_from(entry, shared, flags or {}, path) for entry in entries]
    for what in ("name", "db"):
        seen: dict[Any, str] = {}
        for site in sites:
            value = site.name if what == "name" else site.settings.db.resolve()
            if value in seen:
                raise ConfigError(f"sites {seen[value]} and {site.name} in {path} share one {what}: give each its own")
            seen[value] = site.name
    refuse_shared_credentials(sites, path)
    return sites


def refuse_shared_credentials(sites: Sequence[Site], path: Path) -> None:
    """Two sites whose credentials come from one variable (names `my-shop` and `my_shop` both make
    ATLASSIAN_TOKEN_MY_SHOP, or one token_env given twice) would sync one of them with the other's token."""
    owner: dict[str, str] = {}
    for site in sites:
        for variable in dict.fromkeys(site.credential_env.values()):
            if variable in owner and owner[variable] != site.name:
                raise ConfigError(
                    f"sites {owner[variable]} and {site.name} in {path} both take {variable}: "
                    "give each its own (token_env, email_env, client_id_env, client_secret_env)"
                )
            owner[variable] = site.name


def site_from(entry: dict[str, Any], shared: dict[str, Any], flags: Mapping[str, Any], path: Path) -> Site:
    name = str(entry.get("name", ""))
    if not NAME.fullmatch(name):
        raise ConfigError(f"each [[sites]] in {path} needs a name of letters, digits, - and _ (not {name!r})")
    known = {*SITE_KEYS, "name", *CREDENTIALS.values()}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in site {name} of {path}; a site may set: {', '.join(sorted(known))}"
        )
    values = {k: v for k, v in shared.items() if k not in ("site", "cloud_id", "db", "attachments_dir")}
    values |= {"db": f"data/{name}.db", "attachments_dir": f"data/{name}-attachments"}
    values |= {SITE_KEYS[k]: v for k, v in entry.items() if k in SITE_KEYS}
    values |= {k: v for k, v in flags.items() if v is not None}
    if not values.get("site") and not values.get("cloud_id"):
        raise ConfigError(f'site {name} in {path} needs site = "acme.atlassian.net" (or cloud_id)')
    settings = validate(coerce(values, f"site {name} in {path}"))
    env = {usual: str(entry.get(key) or default_env(name, usual)) for usual, key in CREDENTIALS.items()}
    return Site(name, settings, env)


class SiteProgress(Progress):
    """One site's progress among several: no live table (they would overwrite each other), and each line it
    prints names the site and the site's own credential variables."""

    def __init__(self, site: Site, log_format: str = "text") -> None:
        super().__init__("quiet", log_format=log_format)
        self.site = site

    def _print(self, line: str) -> None:
        line = self.site.own_names(line)
        if line.startswith("{"):
            line = orjson.dumps({**orjson.loads(line), "site": self.site.name}).decode()
        elif line.startswith("::"):  # a GitHub annotation: its message is last
            line = f"{line} (site {self.site.name})"
        else:
            line = f"{self.site.name}: {line}"
        super()._print(line)


def translated(site: Site, result: SyncResult) -> SyncResult:
    """The result with its messages naming the site's own credential variables."""
    own = lambda errors: [StreamError(e.stream, site.own_names(e.message)) for e in errors]  # noqa: E731
    return replace(result, errors=own(result.errors), warnings=own(result.warnings))


async def sync_sites(
    sites: list[Site], environ: Mapping[str, str] | None = None, log_format: str = "text"
) -> list[SiteOutcome]:
    """Sync every site at once, each with its own client and limits; one site failing stops no other."""
    environ = os.environ if environ is None else environ
    outcomes: dict[str, SiteOutcome] = {}

    async def one(site: Site) -> None:
        missing = site.missing_credentials(environ)
        if missing:
            outcomes[site.name] = SiteOutcome(site.name, None, missing)
            return
        try:
            progress = SiteProgress(site, log_format)
            result = await sync(site.settings, site.environ(environ, sites), progress, stopper)
        except PipelineError as error:
            outcomes[site.name] = SiteOutcome(site.name, None, site.own_names(str(error)))
        except Exception as error:  # a bug met by one site must not take the others down
            outcomes[site.name] = SiteOutcome(site.name, None, f"{type(error).__name__}: {error}")
        else:
            outcomes[site.name] = SiteOutcome(site.name, translated(site, result))

    stopper, listening = Stopper(), anyio.CancelScope()
    async with anyio.create_task_group() as outer:
        if signals_here():
            outer.start_soon(stopper.listen, listening)
        async with anyio.create_task_group() as group:
            for site in sites:
                group.start_soon(one, site)
        listening.cancel()
    return [outcomes[site.name] for site in sites]


def signals_here() -> bool:
    """Signal handlers can be set only from the main thread (a library caller on another handles its own)."""
    import threading

    return threading.current_thread() is threading.main_thread()


def worst_exit(outcomes: list[SiteOutcome]) -> int:
    return max((o.exit_code for o in outcomes), key=lambda code: SEVERITY.get(code, 3), default=0)
