"""Progress and messages for people and for log shippers.

- on a terminal: a live table (rich);
- elsewhere (cron, CI): a plain line every few seconds;
- `--log-format json`: one JSON object a line, for log shippers;
- under GitHub Actions: the progress lines folded in a `::group::`, each failed part an `::error::`
  annotation on the run's summary page;
- `--quiet`: no progress at all, only errors.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, TextIO

import anyio
import orjson

if TYPE_CHECKING:  # rich is imported only when a live table is shown: a nightly run in CI never pays for it
    from rich.live import Live
    from rich.table import Table

MODES = ("auto", "rich", "plain", "quiet")
LOG_FORMATS = ("text", "json")


class Progress:
    def __init__(
        self,
        mode: str = "auto",
        out: TextIO | None = None,
        interval_s: float = 10.0,
        log_format: str = "text",
        github: bool | None = None,
    ) -> None:
        self.out = out or sys.stderr
        self.log_format = log_format
        self.github = os.environ.get("GITHUB_ACTIONS") == "true" if github is None else github
        if mode == "auto":
            mode = "rich" if self.out.isatty() and log_format == "text" else "plain"
        self.mode = mode
        self.interval_s = interval_s
        self.counts: Counter = Counter()
        self.warnings: list[tuple[str, str]] = []
        self.started = time.monotonic()
        self.stats_source = None  # a callable giving request counters, set by the runner
        self._live: Live | None = None

    def advance(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def error(self, stream: str, message: str) -> None:
        if self.github and self.log_format == "text":
            self._print(f"::error title={escape_property('atlassian-to-sqlite: ' + stream)}::{escape_data(message)}")
        else:
            self._say("error", f"error in {stream}: {message}", stream=stream, message=message)

    def warn(self, stream: str, message: str) -> None:
        """Something left out for good reason (e.g. an attachment the account may not read): not a failure."""
        self.warnings.append((stream, message))
        if self.github and self.log_format == "text":
            self._print(f"::warning title={escape_property('atlassian-to-sqlite: ' + stream)}::{escape_data(message)}")
        elif self.mode != "quiet":
            self._say("warning", f"warning in {stream}: {message}", stream=stream, message=message)

    def _say(self, event: str, text: str, **fields: Any) -> None:
        if self.log_format == "json":
            self._print(json_line(event, **fields))
        else:
            self._print(text)

    def _print(self, line: str) -> None:
        if self._live is not None:
            self._live.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.out, flush=True)

    def stats(self) -> dict[str, Any]:
        return self.stats_source() if self.stats_source else {}

    def summary_line(self) -> str:
        elapsed = time.monotonic() - self.started
        stats = self.stats()
        parts = [
            f"{name.replace('confluence_', 'c.').replace('jira_', 'j.')} {n}" for name, n in sorted(self.counts.items())
        ]
        requests = f"{stats.get('requests', 0)} requests, {stats.get('rate_limited', 0)} x 429"
        return f"[{elapsed:5.0f}s] {requests}; " + (", ".join(parts) or "starting")

    def _tick(self) -> None:
        if self.log_format == "json":
            stats = self.stats()
            self._print(
                json_line(
                    "progress",
                    elapsed_s=round(time.monotonic() - self.started, 1),
                    rows=dict(self.counts),
                    **{k: stats.get(k, 0) for k in ("requests", "retries", "rate_limited", "downloads")},
                )
            )
        else:
            self._print(self.summary_line())

    def _table(self) -> Table:
        from rich.table import Table

        table = Table(title="atlassian-to-sqlite sync", title_justify="left", expand=False)
        table.add_column("what")
        table.add_column("rows", justify="right")
        for name, n in sorted(self.counts.items()):
            table.add_row(name, f"{n:,}")
        stats = self.stats()
        for key in ("requests", "retries", "rate_limited", "downloads", "bytes_downloaded"):
            table.add_row(f"[dim]{key}[/dim]", f"{stats.get(key, 0):,}")
        return table

    async def run(self) -> None:
        """Refresh until cancelled (the runner cancels it when the sync ends)."""
        if self.mode == "quiet":
            return
        if self.mode == "rich":
            from rich.console import Console
            from rich.live import Live

            with Live(self._table(), console=Console(file=self.out), refresh_per_second=4, transient=True) as live:
                self._live = live
                try:
                    while True:
                        live.update(self._table())
                        await anyio.sleep(0.25)
                finally:
                    self._live = None
        grouped = self.github and self.log_format == "text"
        if grouped:
            self._print("::group::sync progress")
        try:
            while True:
                await anyio.sleep(self.interval_s)
                self._tick()
        finally:
            if grouped:
                self._print("::endgroup::")


def json_line(event: str, **fields: Any) -> str:
    return orjson.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event, **fields}).decode()


def escape_data(text: str) -> str:
    """A workflow command's message: %, CR and LF escaped, as GitHub's runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property (e.g. title=): also : and , escaped."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
