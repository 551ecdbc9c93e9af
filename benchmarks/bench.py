"""Where the sync stands: `make bench` (or `python benchmarks/bench.py small medium [large] [--body-kb N]`).

The simulator runs in this process, on its own thread; the sync runs as its own process (the CLI), so its CPU
time and peak memory are its own. For each scale, at `--rate-limit 20 --latency-ms 50`, it prints:

- requests made against the documented minimum (pipeline.budget);
- wall time against the rate-limit bound: the busiest endpoint family's requests divided by the rate;
- the share of requests answered 429 (or 503 for a rate limit);
- the sync's own CPU per gateway request, and its peak RSS;
- a no-change rerun: its requests and CPU against the full run's.

Then text extraction speed (storage XHTML and ADF to text, MB/s). Numbers depend on the machine: measure on a
quiet one (nothing else running) before quoting them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.budget import minimum_requests  # noqa: E402
from pipeline.simulator.gatekeeper import SimConfig  # noqa: E402
from pipeline.simulator.server import Simulator  # noqa: E402

RATE = 20.0
LATENCY_MS = 50.0


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    requests: int
    throttled: int
    busiest: tuple[str, int]
    exit_code: int
    timeline: dict[str, tuple[int, float, float]]  # family -> requests, first and last second


class ThreadedSimulator:
    """The simulator on its own event loop thread, so the measuring thread can wait for the sync process."""

    def __init__(self, config: SimConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(config)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def __enter__(self) -> Simulator:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(60)
        return self.sim

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.close(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def run_sync(sim: Simulator, workdir: Path) -> Run:
    """One sync as a child process; its rusage alone (os.wait4), not the simulator's."""
    sim.log.clear()
    args = [
        sys.executable,
        "-m",
        "pipeline",
        "sync",
        "--site",
        sim.site_url,
        "--gateway",
        sim.gateway_url,
        "--db",
        str(workdir / "atlassian.db"),
        "--attachments-dir",
        str(workdir / "blobs"),
        "--progress",
        "quiet",
    ]
    env = {**os.environ, "ATLASSIAN_TOKEN": sim.token}
    started = time.monotonic()
    child = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    gateway = sim.log.gateway()
    families = Counter(e.family for e in gateway if e.family and e.status < 400)
    timeline = {}
    for entry in gateway:
        if entry.family:
            count, first, last = timeline.get(entry.family, (0, entry.at, entry.at))
            timeline[entry.family] = (count + 1, min(first, entry.at), max(last, entry.at))
    origin = min((e.at for e in gateway), default=0.0)
    timeline = {f: (n, a - origin, b - origin) for f, (n, a, b) in timeline.items()}
    throttled = sum(1 for e in gateway if e.status == 429 or (e.status == 503 and e.family))
    return Run(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        requests=len(gateway),
        throttled=throttled,
        busiest=families.most_common(1)[0] if families else ("", 0),
        exit_code=child.returncode,
        timeline=timeline,
    )


def bench_scale(scale: str, body_kb: float | None, timeline: bool = False) -> None:
    extra = {"body_kb": body_kb} if body_kb else {}
    config = SimConfig(scale=scale, seed=2, rate_limit=RATE, latency_ms=LATENCY_MS, **extra)
    with tempfile.TemporaryDirectory() as tmp, ThreadedSimulator(config) as sim:
        workdir = Path(tmp)
        full = run_sync(sim, workdir)
        quiet = run_sync(sim, workdir)
        minimum = minimum_requests(workdir / "atlassian.db")["total"]
    bound = full.busiest[1] / RATE
    label = f"{scale}" + (f", bodies {body_kb:g} KB" if body_kb else "")
    print(f"\n== {label} (--rate-limit {RATE:g} --latency-ms {LATENCY_MS:g}; exit {full.exit_code}/{quiet.exit_code})")
    print(f"requests        {full.requests:,} made, minimum {minimum:,} ({full.requests / minimum:.3f}x)")
    print(
        f"wall            {full.wall_s:.1f} s; rate-limit bound {bound:.1f} s ({full.busiest[0]}: "
        f"{full.busiest[1]:,} requests / {RATE:g} per s) -> {bound / full.wall_s:.0%} of the bound"
    )
    print(f"throttled       {full.throttled:,} answered 429/503 ({full.throttled / max(1, full.requests):.2%})")
    print(f"cpu             {full.cpu_s:.1f} s, {1000 * full.cpu_s / max(1, full.requests):.2f} ms per gateway request")
    print(f"peak RSS        {full.peak_rss_mb:.0f} MB (the sync process alone)")
    print(
        f"no-change run   {quiet.requests:,} requests ({quiet.requests / max(1, full.requests):.1%}), "
        f"{quiet.wall_s:.1f} s, cpu {quiet.cpu_s:.2f} s = {quiet.cpu_s / max(0.001, full.cpu_s):.1%} of the full run's"
    )
    if timeline:
        for family, (count, first, last) in sorted(full.timeline.items(), key=lambda kv: kv[1][1]):
            print(f"  {family:<36} {count:>6,} requests  {first:6.1f} s .. {last:6.1f} s")


def bench_text() -> None:
    from pipeline.simulator.dataset import adf_doc, rng_for, storage_body
    from pipeline.text import from_adf, from_storage

    rng = rng_for(7, "bench")
    bodies = [storage_body(rng, f"Page {i}", [f"file-{i}.png"], median_kb=20) for i in range(200)]
    docs = [adf_doc(rng, 40) for _ in range(200)]
    import orjson

    raw_docs = [orjson.dumps(d).decode() for d in docs]
    for name, function, inputs in (("storage XHTML", from_storage, bodies), ("ADF", from_adf, raw_docs)):
        size = sum(len(x.encode()) for x in inputs)
        started = time.process_time()
        for item in inputs:
            function(item)
        spent = time.process_time() - started
        print(f"text from {name:<14} {size / 1e6 / spent:6.1f} MB/s ({size / 1e6:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scales", nargs="*", default=["small", "medium"])
    parser.add_argument("--body-kb", type=float, action="append", help="also run medium with this median body size")
    parser.add_argument("--timeline", action="store_true", help="when each endpoint family ran, in the full run")
    parser.add_argument("--no-text", action="store_true", help="skip the text extraction benchmark")
    options = parser.parse_args()
    if not options.no_text:
        bench_text()
    for scale in options.scales:
        bench_scale(scale, None, options.timeline)
    for body_kb in options.body_kb or []:
        bench_scale("medium", body_kb, options.timeline)


if __name__ == "__main__":
    main()
