"""The command line: parse, build Settings, call the runner, the report or the simulator. Nothing else.

Exit status: 0 everything asked for was synced; 2 partly synced (the failures are named); 1 nothing was
synced (bad settings, credentials refused, site unreachable).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .config import load_settings
from .errors import PipelineError
from .memory import return_freed_memory
from .progress import LOG_FORMATS, MODES, Progress, json_line
from .report import FORMATS, render, summarize
from .runner import SyncResult, sync
from .simulator.dataset import SCALES
from .simulator.gatekeeper import SimConfig


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def run_async(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except PipelineError as error:
        fail(str(error))
    except KeyboardInterrupt:
        click.echo("interrupted: what was committed is kept; run again to continue", err=True)
        sys.exit(130)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="atlassian-to-sqlite")
def main() -> None:
    """Copy a whole Atlassian Cloud site (Confluence and Jira) into SQLite, through api.atlassian.com."""


@main.command("sync")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="TOML settings (default configs/atlassian.toml when present).",
)
@click.option("--db", type=click.Path(path_type=Path), help="SQLite file [data/atlassian.db].")
@click.option(
    "--attachments-dir", type=click.Path(path_type=Path), help="Folder for attachment bytes [data/attachments]."
)
@click.option("--site", help="acme, acme.atlassian.net or https://acme.atlassian.net (the cloudId is looked up).")
@click.option("--cloud-id", help="The site's cloudId, instead of --site.")
@click.option("--gateway", help="API gateway [https://api.atlassian.com].")
@click.option("--only", type=click.Choice(["confluence", "jira"]), help="Sync one product only.")
@click.option("--spaces", help="Confluence space keys, comma-separated (default: all).")
@click.option("--projects", help="Jira project keys, comma-separated (default: all).")
@click.option("--no-attachments", is_flag=True, default=None, help="Keep attachment metadata, skip the bytes.")
@click.option("--full", is_flag=True, default=None, help="Ignore saved state and list everything again.")
@click.option("--concurrency", type=int, help="Most requests at once per endpoint family [8].")
@click.option("--progress", "progress_mode", type=click.Choice(MODES), default="auto", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress, only errors and the final line.")
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="json: one JSON object a line (progress, errors, the result), for log shippers.",
)
@click.option(
    "--all", "all_sites", is_flag=True, help="Sync every [[sites]] of the config at once, each into its own store."
)
def sync_command(
    all_sites: bool,
    config_path: Path | None,
    no_attachments: bool | None,
    only: str | None,
    progress_mode: str,
    quiet: bool,
    log_format: str,
    **flags: Any,
) -> None:
    """Copy the site into the database (incremental after the first run)."""
    flags["attachments"] = False if no_attachments else None
    flags["products"] = only
    if all_sites:
        sync_all(config_path, flags, log_format)
    try:
        settings = load_settings(flags, config_path)
    except PipelineError as error:
        fail(str(error))
    progress = Progress("quiet" if quiet else progress_mode, log_format=log_format)
    return_freed_memory()
    result = run_async(sync(settings, progress=progress))
    report_result(result, log_format)
    sys.exit(result.exit_code)


def sync_all(config_path: Path | None, flags: dict[str, Any], log_format: str) -> None:
    """sync --all: every site of the config at once; one line per site; the exit status is the worst."""
    from .config import DEFAULT_CONFIG
    from .sites import load_sites, sync_sites, worst_exit

    own = [f"--{k.replace('_', '-')}" for k in ("site", "cloud_id", "db", "attachments_dir") if flags.get(k)]
    if own:
        fail(f"{', '.join(own)} cannot go with --all: each [[sites]] entry of the config sets its own")
    path = config_path or DEFAULT_CONFIG
    try:
        sites = load_sites(
            path, {k: v for k, v in flags.items() if k not in ("site", "cloud_id", "db", "attachments_dir")}
        )
    except PipelineError as error:
        fail(str(error))
    outcomes = run_async(sync_sites(sites, log_format=log_format))
    for outcome in outcomes:
        if outcome.result is None:
            if log_format == "json":
                click.echo(json_line("result", site=outcome.name, status="failed", exit_code=1, error=outcome.error))
            else:
                click.echo(f"site {outcome.name}: failed; {outcome.error}")
            continue
        report_result(outcome.result, log_format, site=outcome.name)
    worst = worst_exit(outcomes)
    if log_format != "json":
        ok = sum(o.exit_code == 0 for o in outcomes)
        click.echo(f"{ok} of {len(outcomes)} site(s) synced completely; exit status {worst}")
    sys.exit(worst)


def report_result(result: SyncResult, log_format: str = "text", site: str | None = None) -> None:
    stats = result.stats
    if log_format == "json":
        click.echo(
            json_line(
                "result",
                **({"site": site} if site else {}),
                run=result.run_id,
                status=result.status,
                exit_code=result.exit_code,
                stats=stats,
                counts=result.counts,
                errors=[e.__dict__ for e in result.errors],
            )
        )
        return
    rows = sum(c["inserted"] + c["updated"] for c in result.counts.values())
    click.echo(
        (f"site {site}: " if site else "")
        + f"sync run #{result.run_id}: {result.status}; {stats.get('requests', 0):,} requests "
        f"({stats.get('retries', 0):,} retries, {stats.get('rate_limited', 0):,} x 429), {rows:,} rows written, "
        f"{stats.get('downloads', 0):,} attachments ({stats.get('bytes_downloaded', 0):,} bytes)"
    )
    where = f"{site}: " if site else ""
    for warning in result.warnings:
        click.echo(f"  warning: {where}{warning.stream}: {warning.message}", err=True)
    for error in result.errors:
        click.echo(f"  failed: {where}{error.stream}: {error.message}", err=True)
    if result.status == "interrupted":
        click.echo("  interrupted: what was fetched is kept; the next run goes on from there", err=True)


@main.command("check")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="TOML settings, as for sync.")
@click.option("--site", help="The site (its cloudId is looked up).")
@click.option("--cloud-id", help="The cloudId, instead of --site.")
@click.option("--gateway", help="API gateway [https://api.atlassian.com].")
@click.option("--only", type=click.Choice(["confluence", "jira"]), help="Check one product only.")
@click.option("--projects", help="Jira project keys the sync is limited to.")
def check_command(config_path: Path | None, only: str | None, **flags: Any) -> None:
    """Probe every endpoint the sync would use and say what is missing: a scope, a URL, a credential."""
    from .doctor import diagnose, failed

    try:
        settings = load_settings({**flags, "products": only}, config_path)
    except PipelineError as error:
        fail(str(error))
    findings = run_async(diagnose(settings))
    width = max(len(f.probe) for f in findings)
    for finding in findings:
        mark = "skip" if finding.skipped else ("ok" if finding.ok else "FAIL")
        click.echo(f"{mark:<4}  {finding.probe:<{width}}  {finding.detail}")
    problems = [f for f in findings if not f.ok]
    click.echo(f"\n{len(problems)} problem(s) found." if problems else "\nEverything the sync needs answered.")
    sys.exit(1 if failed(findings) else 0)


@main.command("cloud-id")
@click.argument("site")
def cloud_id_command(site: str) -> None:
    """Print the cloudId of SITE (from SITE/_edge/tenant_info; no credentials needed)."""
    import aiohttp

    from .tenant import discover_cloud_id

    async def lookup() -> str:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            return await discover_cloud_id(session, site)

    click.echo(run_async(lookup()))


@main.command("report")
@click.option("--db", type=click.Path(path_type=Path), default=Path("data/atlassian.db"), show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
def report_command(db: Path, fmt: str) -> None:
    """Summarize what is in the store and what the last runs did."""
    try:
        click.echo(render(summarize(db), fmt))
    except PipelineError as error:
        fail(str(error))


def open_read_only(db: Path):
    import sqlite3

    if not db.exists():
        fail(f"no database at {db}: run `atlassian-to-sqlite sync` first (or pass --db)")
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


@main.command("show")
@click.argument("kind")
@click.argument("ident")
@click.option("--as-of", "as_of", help="A date (the end of that day, UTC) or a time: 2026-11-24, 2026-11-24T09:30Z.")
@click.option("--run", "run_id", type=int, help="As the store held it when run N finished (see `report`).")
@click.option("--versions", is_flag=True, help="List every state the store held, oldest first.")
@click.option("--db", type=click.Path(path_type=Path), default=Path("data/atlassian.db"), show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def show_command(
    kind: str, ident: str, as_of: str | None, run_id: int | None, versions: bool, db: Path, fmt: str
) -> None:
    """Print a stored item as it is, or as it was at a time: KIND is page, blogpost, comment, issue, ... or a
    table name; IDENT its id (or an issue's key, OPS-42)."""
    import orjson

    from . import history

    table = history.KINDS.get(kind, kind)
    conn = open_read_only(db)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'history'").fetchone():
            fail(f"{db} keeps no history yet: the next `atlassian-to-sqlite sync` starts it")
        if table not in history.tracked_tables(conn):
            fail(f"unknown kind {kind!r}: use one of {', '.join(history.KINDS)} or a table name")
        try:
            when = history.parse_when(as_of) if as_of else None
        except ValueError as error:
            fail(str(error))
        if run_id is not None:
            found = conn.execute("SELECT finished_at FROM sync_runs WHERE id = ?", (run_id,)).fetchone()
            if not found or not found[0]:
                fail(f"no finished run #{run_id} in {db}: `atlassian-to-sqlite report` lists the runs")
            when, as_of = found[0], f"run #{run_id}"
        row_id = history.resolve(conn, table, ident)
        states = (
            []
            if row_id is None
            else (history.versions(conn, table, row_id) if versions else [history.state_at(conn, table, row_id, when)])
        )
        states = [s for s in states if s is not None]
        if table in history.LABELLED and not versions:  # label pairs are rows of their own: as they were then
            for state in states:
                state.row["labels"] = ", ".join(history.labels_at(conn, state.id, when)) or None
    finally:
        conn.close()
    if not states:
        fail(f"the store held no {kind} {ident}" + (f" at {when}" if as_of else ""))
    if fmt == "json":
        click.echo(orjson.dumps([s.__dict__ for s in states], option=orjson.OPT_INDENT_2).decode())
        return
    click.echo("\n\n".join("\n".join(history.describe(s)) for s in states))


@main.command("export")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "jsonl"]), default="parquet", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for one file per table.")
@click.option("--tables", help="Tables to write, comma-separated (default: every table).")
@click.option("--since-run", type=int, help="Only rows that runs after this run id inserted or changed.")
@click.option("--db", type=click.Path(path_type=Path), default=Path("data/atlassian.db"), show_default=True)
def export_command(fmt: str, out: Path, tables: str | None, since_run: int | None, db: Path) -> None:
    """Write the store for a warehouse: one file per table plus manifest.json (Parquet needs the [export]
    extra)."""
    from .export import MANIFEST, export_store

    chosen = [t.strip() for t in tables.split(",") if t.strip()] if tables else None
    try:
        manifest = export_store(db, out, fmt, chosen, since_run)
    except PipelineError as error:
        fail(str(error))
    rows = sum(t["rows"] for t in manifest["tables"])
    click.echo(
        f"exported {len(manifest['tables'])} table(s), {rows:,} rows, as {fmt} to {out} "
        f"(source run #{manifest['run_id']}"
        + (f", changes since run #{since_run}" if since_run else "")
        + f"); see {out / MANIFEST}"
    )


def sim_options(function):
    options = [
        click.option("--host", default="127.0.0.1", show_default=True),
        click.option("--seed", type=int, default=1, show_default=True),
        click.option("--scale", type=click.Choice(list(SCALES)), default="small", show_default=True),
        click.option("--latency-ms", type=float, default=0.0, show_default=True),
        click.option("--jitter-ms", type=float, default=0.0, show_default=True),
        click.option("--rate-limit", type=float, default=0.0, help="Requests/s per endpoint family (0: off)."),
        click.option("--burst", type=int, default=0, help="Token bucket size (0: twice the rate)."),
        click.option("--faults", type=float, default=0.0, help="Share of requests answered by a fault (0-1)."),
        click.option("--token-lifetime", type=float, default=3600.0, show_default=True, help="OAuth token seconds."),
        click.option("--quota", type=int, default=0, help="Requests per hour for the tenant (0: no quota)."),
        click.option("--slow-downloads", type=float, default=0.0, help="Media host bytes per second (0: full speed)."),
        click.option("--search-lag", type=float, default=0.0, help="Seconds before a Jira change shows in search."),
        click.option("--time-zone", default="America/Los_Angeles", show_default=True, help="The account's zone."),
        click.option(
            "--body-kb", type=click.FloatRange(min=0.1), default=4.0, show_default=True, help="Median page body size."
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def sim_config(options: dict[str, Any]) -> SimConfig:
    return SimConfig(
        seed=options["seed"],
        scale=options["scale"],
        latency_ms=options["latency_ms"],
        jitter_ms=options["jitter_ms"],
        rate_limit=options["rate_limit"],
        burst=options["burst"],
        faults=options["faults"],
        token_lifetime_s=options["token_lifetime"],
        time_zone=options["time_zone"],
        quota=options["quota"],
        slow_download_bytes_per_s=options["slow_downloads"],
        search_lag_s=options["search_lag"],
        body_kb=options["body_kb"],
    )


@main.command("simulate")
@click.option(
    "--port", type=int, default=8089, show_default=True, help="Gateway port; site, media and auth use the next three."
)
@click.option("--token", help="Accept this string as a token with every read scope (default: a random one).")
@sim_options
def simulate_command(port: int, token: str | None, host: str, **options: Any) -> None:
    """Run the built-in fake Atlassian Cloud on loopback until interrupted."""
    from .simulator.server import Simulator

    async def serve() -> None:
        async with Simulator(sim_config(options), host=host, port=port, token=token) as sim:
            sim.tokens.add_client("sim-client", "sim-secret")
            click.echo(
                f"site      {sim.site_url}\ngateway   {sim.gateway_url}\nmedia     {sim.media_url}\n"
                f"auth      {sim.auth_url}\ncloudId   {sim.cloud_id}\ntoken     {sim.token}\n"
                "oauth     client id sim-client, secret sim-secret\n\nTry:\n"
                f"  export ATLASSIAN_TOKEN={sim.token}\n"
                f"  atlassian-to-sqlite sync --site {sim.site_url} --gateway {sim.gateway_url}"
            )
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


@main.command("demo")
@click.option("--db", type=click.Path(path_type=Path), default=Path("data/demo.db"), show_default=True)
@click.option(
    "--attachments-dir", type=click.Path(path_type=Path), default=Path("data/demo-attachments"), show_default=True
)
@click.option("--fresh/--keep", default=True, show_default=True, help="Start from an empty database.")
@click.option("--progress", "progress_mode", type=click.Choice(MODES), default="auto", show_default=True)
def demo_command(db: Path, attachments_dir: Path, fresh: bool, progress_mode: str) -> None:
    """Start the fake cloud (latency, rate limits, faults), sync it, and print the report. No credentials."""
    from .simulator.server import Simulator

    if fresh:
        for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(attachments_dir, ignore_errors=True)
    config = SimConfig(scale="small", latency_ms=15, jitter_ms=25, rate_limit=60, faults=0.01)

    async def demo() -> SyncResult:
        async with Simulator(config) as sim:
            click.echo(
                f"fake Atlassian Cloud: site {sim.site_url}, gateway {sim.gateway_url} "
                f"(small scale, ~27 ms latency, 60 req/s per endpoint family, 1% faults)"
            )
            settings = load_settings(
                {
                    "site": sim.site_url,
                    "gateway": sim.gateway_url,
                    "auth_url": sim.auth_url,
                    "db": db,
                    "attachments_dir": attachments_dir,
                },
                environ={},
                default_config=False,
            )
            environ = {**os.environ, "ATLASSIAN_TOKEN": sim.token}
            for key in ("ATLASSIAN_EMAIL", "ATLASSIAN_CLIENT_ID", "ATLASSIAN_CLIENT_SECRET"):
                environ.pop(key, None)
            return await sync(settings, environ, Progress(progress_mode))

    result = run_async(demo())
    report_result(result)
    click.echo("")
    click.echo(render(summarize(db), "text"))
    click.echo(f"\nBrowse it: sqlite3 {db}   (or: datasette {db})")
    sys.exit(result.exit_code)
