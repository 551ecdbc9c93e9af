"""Progress for people: a live table on a terminal, a plain line every few seconds elsewhere (CI logs)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO

import anyio
from rich.console import Console
from rich.live import Live
from rich.table import Table

MODES = ("auto", "rich", "plain", "quiet")


class Progress:
    def __init__(self, mode: str = "auto", out: TextIO | None = None, interval_s: float = 10.0) -> None:
        self.out = out or sys.stderr
        if mode == "auto":
            mode = "rich" if self.out.isatty() else "plain"
        self.mode = mode
        self.interval_s = interval_s
        self.counts: Counter = Counter()
        self.started = time.monotonic()
        self.stats_source = None  # a callable giving request counters, set by the runner
        self._live: Live | None = None

    def advance(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def note(self, message: str) -> None:
        if self.mode != "quiet":
            self._print(message)

    def error(self, stream: str, message: str) -> None:
        self._print(f"error in {stream}: {message}")

    def _print(self, line: str) -> None:
        if self._live is not None:
            self._live.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.out, flush=True)

    def summary_line(self) -> str:
        elapsed = time.monotonic() - self.started
        parts = [
            f"{name.replace('confluence_', 'c.').replace('jira_', 'j.')} {n}" for name, n in sorted(self.counts.items())
        ]
        stats = self.stats_source() if self.stats_source else {}
        requests = f"{stats.get('requests', 0)} requests, {stats.get('rate_limited', 0)} x 429"
        return f"[{elapsed:5.0f}s] {requests}; " + (", ".join(parts) or "starting")

    def _table(self) -> Table:
        table = Table(title="atlassian-to-sqlite sync", title_justify="left", expand=False)
        table.add_column("what")
        table.add_column("rows", justify="right")
        for name, n in sorted(self.counts.items()):
            table.add_row(name, f"{n:,}")
        stats = self.stats_source() if self.stats_source else {}
        for key in ("requests", "retries", "rate_limited", "downloads", "bytes_downloaded"):
            table.add_row(f"[dim]{key}[/dim]", f"{stats.get(key, 0):,}")
        return table

    async def run(self) -> None:
        """Refresh until cancelled (the runner cancels it when the sync ends)."""
        if self.mode == "quiet":
            return
        if self.mode == "rich":
            with Live(self._table(), console=Console(file=self.out), refresh_per_second=4, transient=True) as live:
                self._live = live
                try:
                    while True:
                        live.update(self._table())
                        await anyio.sleep(0.25)
                finally:
                    self._live = None
        while True:
            await anyio.sleep(self.interval_s)
            self._print(self.summary_line())
