"""How work is scheduled: bytes start while listings go on, each product's downloads on their own workers,
and what waits for the writer is bounded by bytes."""

from __future__ import annotations

import sqlite3

import anyio
from expected import differences, expected, stored
from helpers import run_sync

from pipeline.inflight import ByteGate, weight
from pipeline.simulator.gatekeeper import SimConfig
from pipeline.simulator.server import Simulator
from pipeline.sources.confluence import attachments as confluence_attachments
from pipeline.sources.jira import issues as jira_issues

DOWNLOAD = ("/download", "/attachment/content/")


async def test_downloads_start_while_the_listings_go_on(tmp_path, monkeypatch):
    """Small pages make long listings: bytes of the first pages are fetched before the last page is listed."""
    monkeypatch.setattr(confluence_attachments, "LIMIT", 2)
    monkeypatch.setattr(jira_issues, "BULK", 5)
    async with Simulator(SimConfig(scale="tiny", seed=4, latency_ms=5)) as sim:
        result = await run_sync(sim, tmp_path, concurrency=1)
        assert result.status == "ok", result.errors
        assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}
        log = [e.path for e in sim.log.gateway()]
    for product, listing in (("/ex/confluence/", "/wiki/api/v2/attachments"), ("/ex/jira/", "/issue/bulkfetch")):
        listed = [i for i, path in enumerate(log) if path.startswith(product) and path.endswith(listing)]
        fetched = [i for i, path in enumerate(log) if path.startswith(product) and any(d in path for d in DOWNLOAD)]
        assert len(listed) > 3 and fetched, (product, len(listed), len(fetched))
        assert fetched[0] < listed[-1], f"{product}: no bytes were fetched before the listing ended"


async def test_the_byte_gate_holds_senders_until_bytes_are_released():
    gate = ByteGate(100)
    order: list[str] = []

    async def send(name: str, size: int) -> None:
        await gate.acquire(size)
        order.append(name)

    assert await gate.acquire(60) == 60
    async with anyio.create_task_group() as group:
        group.start_soon(send, "big", 50)  # does not fit beside the 60 in flight
        await anyio.wait_all_tasks_blocked()
        group.start_soon(send, "small", 10)  # would fit, but waits its turn behind the first
        await anyio.wait_all_tasks_blocked()
        assert order == [] and gate.used == 60
        gate.release(60)
        await anyio.wait_all_tasks_blocked()
    assert order == ["big", "small"] and gate.used == 60 and gate.peak <= 100
    gate.release(60)
    assert await gate.acquire(10_000) == 100  # larger than the whole bound: passes alone
    assert gate.used == 100


async def test_a_cancelled_waiter_gives_back_nothing_it_did_not_get():
    gate = ByteGate(10)
    await gate.acquire(10)
    with anyio.move_on_after(0.01):
        await gate.acquire(5)
    gate.release(10)
    assert gate.used == 0
    assert await gate.acquire(10) == 10


def test_weight_counts_the_strings_a_batch_holds():
    rows = [{"id": "1", "body": "x" * 50_000, "version": 3}]
    assert 50_000 < weight(rows) < 51_000


async def test_labels_by_label_checkpoint_as_they_go_and_resume(tmp_path):
    """A label whose listing keeps failing stops the pass; what was listed is kept, and the next run goes on
    from the first label not done, then the store holds exactly the site's labels."""
    import orjson

    from pipeline.sources.confluence.labels import BY_LABEL, label_order

    async with Simulator(SimConfig(scale="small", seed=6)) as sim:
        labels = sorted((lab["id"] for lab in sim.confluence.all_labels()), key=label_order)
        stuck = labels[len(labels) // 2]
        sim.troubles.failing_paths.add(f"/labels/{stuck}/pages")
        first = await run_sync(sim, tmp_path, max_retries=0)
        assert [e.stream for e in first.errors] == ["confluence labels"]
        conn = sqlite3.connect(tmp_path / "atlassian.db")
        saved = orjson.loads(conn.execute("SELECT value FROM sync_state WHERE stream = ?", (BY_LABEL,)).fetchone()[0])
        assert label_order(saved["next"]) <= label_order(stuck) and saved["sweep"] == first.run_id
        kept = conn.execute("SELECT COUNT(*) FROM confluence_content_labels").fetchone()[0]
        assert kept > 0  # pairs of the labels listed before the failure were committed
        sim.troubles.clear()
        sim.log.clear()
        second = await run_sync(sim, tmp_path)
        assert second.status == "ok", second.errors
        assert differences(expected(sim), stored(tmp_path / "atlassian.db")) == {}
        relisted = {e.path.split("/labels/")[1].split("/")[0] for e in sim.log.gateway() if "/labels/" in e.path}
        assert relisted and all(label_order(label) >= label_order(saved["next"]) for label in relisted)
        assert conn.execute("SELECT COUNT(*) FROM sync_state WHERE stream = ?", (BY_LABEL,)).fetchone()[0] == 0


async def test_listings_with_bodies_wait_for_their_bytes():
    """The first page goes alone (bodies may be of any size); then pages go as their learnt size allows."""
    from pipeline.inflight import ListingGate
    from pipeline.paginate import Page

    gate = ListingGate(limit=1_000_000)
    big = [{"id": str(i), "body": {"storage": {"value": "x" * 100_000}}} for i in range(4)]

    async def pages(n: int):
        for _ in range(n):
            yield Page(big, None)

    fetched: list[str] = []
    release = anyio.Event()

    async def chain(name: str) -> None:
        async for _ in gate.pages(pages(2), items_per_page=4):
            fetched.append(name)
            await release.wait()

    async with anyio.create_task_group() as group:
        group.start_soon(chain, "a")
        await anyio.wait_all_tasks_blocked()
        group.start_soon(chain, "b")
        await anyio.wait_all_tasks_blocked()
        assert fetched == ["a"]  # b waits: a's first page holds the whole gate
        assert gate.per_item > 200_000  # learnt: each body is held about twice over
        release.set()
    assert sorted(fetched) == ["a", "a", "b", "b"] and gate.gate.used == 0
