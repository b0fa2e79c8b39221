"""Source leases on a real SQLite store shared by several instances: one holder per source, batched writes
(on Redis one script call per batch), a kept lease that polls without waiting for the store, and a lapsed
one that is not polled."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from monitor.leases import SourceLeases, preferred
from monitor.model import Source, SystemClock
from monitor.store.sqlite import SqliteStore

DEADLINE = 10.0


class GatedStore(SqliteStore):
    """The real store, counting lease batches; ``gate`` cleared holds every lease write until set."""

    def __init__(self, path: str) -> None:
        super().__init__(path, retention=3600, clock=SystemClock())
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def acquire_leases(self, owner: str, leases: Sequence[tuple[str, float]]) -> list[bool]:
        self.batches.append([name for name, _ in leases])
        await self.gate.wait()
        return await super().acquire_leases(owner, leases)


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[list[GatedStore]]:
    """Two stores on one database file: two instances' view of it."""
    opened = [GatedStore(str(tmp_path / "shared.db")) for _ in range(2)]
    for store in opened:
        await store.open()
    yield opened
    for store in opened:
        await store.close()


def source(name: str, interval: float = 60.0) -> Source:
    return Source(name=name, kind="feed", url=f"http://127.0.0.1:9/{name}.xml", interval=interval)


async def tick(leases: SourceLeases, src: Source) -> bool:
    """One tick as the daemon makes it: a poll while the lease is held records itself before the lease
    can be handed over (the next holder reads that record)."""
    async with leases.holding(src) as mine:
        if mine:
            await leases.store.record_poll(src.name, error=None, articles=0)
        return mine


async def test_ticks_close_together_share_one_store_write(stores: list[GatedStore]) -> None:
    leases = SourceLeases(stores[0])
    await leases.start()
    try:
        answers = await asyncio.gather(*(tick(leases, source(f"s{i}")) for i in range(20)))
        assert answers == [True] * 20
        assert stores[0].batches == [[f"s{i}" for i in range(20)]]
    finally:
        await leases.close()


async def test_a_kept_lease_polls_without_waiting_for_the_store_and_is_renewed(
    stores: list[GatedStore],
) -> None:
    leases = SourceLeases(stores[0])
    await leases.start()
    try:
        assert await tick(leases, source("bbc"))
        before = await lease_expiry(stores[1], "bbc")
        stores[0].gate.clear()  # the store does not answer lease writes for now
        async with asyncio.timeout(DEADLINE):
            assert await tick(leases, source("bbc"))  # polled at once: the lease runs for ~a minute more
            while len(stores[0].batches) < 2:  # noqa: ASYNC110 - the renewal batch is written in the background
                await asyncio.sleep(0.01)
        stores[0].gate.set()
        async with asyncio.timeout(DEADLINE):
            while await lease_expiry(stores[1], "bbc") <= before:  # noqa: ASYNC110 - the renewal lands
                await asyncio.sleep(0.01)
    finally:
        await leases.close()


async def test_one_of_two_instances_polls_a_source(stores: list[GatedStore]) -> None:
    first, second = SourceLeases(stores[0], instance="a"), SourceLeases(stores[1], instance="b")
    for leases in (first, second):
        await leases.start()
    try:
        polled = 0
        for _ in range(3):
            answers = await asyncio.gather(tick(first, source("bbc")), tick(second, source("bbc")))
            # At most one: when the first holder hands the lease to the instance the source prefers, the
            # new holder skips a tick that comes right after that poll (the hand-over guard), so a round
            # may also have none.
            assert answers.count(True) <= 1
            polled += answers.count(True)
        assert polled >= 2
    finally:
        await first.close()
        await second.close()


async def test_a_lapsed_lease_is_not_polled_once_another_instance_took_it(stores: list[GatedStore]) -> None:
    """The holder's belief is a lower bound: once its lease may have lapsed it asks the store again, and
    loses the source to the instance that took it meanwhile."""
    first = SourceLeases(stores[0], instance="a", margin=0.2)
    second = SourceLeases(stores[1], instance="b", margin=0.2)
    short = source("bbc", interval=0.1)
    try:
        assert await tick(first, short)
        async with asyncio.timeout(DEADLINE):
            while not await tick(second, short):  # noqa: ASYNC110 - the lease lapses in real time
                await asyncio.sleep(0.02)
        assert not await tick(first, short)
        assert await stores[0].lease_holder("bbc") == "b"
    finally:
        await first.close()
        await second.close()


async def lease_expiry(store: SqliteStore, name: str) -> float:
    def _get(conn: sqlite3.Connection) -> float:
        row = conn.execute("SELECT expires FROM leases WHERE name = ?", (name,)).fetchone()
        return float(row[0]) if row else 0.0

    return await store._run(_get)


async def test_a_batch_of_leases_is_one_redis_script_call_per_thousand(redis_url: str) -> None:
    from redis.asyncio import Redis

    from monitor.store.redis import RedisStore
    from monitor.store.redis.sources import LEASE_BATCH

    store, other = (RedisStore(redis_url, retention=3600, clock=SystemClock()) for _ in range(2))
    client = Redis.from_url(redis_url)
    await store.open()
    await other.open()
    try:
        assert await other.acquire_lease("theirs", "i2", 30)
        assert await store.acquire_lease("warm", "i1", 30)  # the script is loaded: later calls are EVALSHA

        async def script_calls() -> int:
            return int((await client.info("commandstats"))["cmdstat_evalsha"]["calls"])

        before = await script_calls()
        names = [f"s{i}" for i in range(2 * LEASE_BATCH + 500)] + ["theirs", "warm"]
        answers = await store.acquire_leases("i1", [(n, 30) for n in names])
        assert await script_calls() - before == 3
        assert answers == [True] * (2 * LEASE_BATCH + 500) + [False, True]
        assert await other.lease_holder(f"s{2 * LEASE_BATCH + 499}") == "i1"
    finally:
        await client.aclose()
        await store.close()
        await other.close()


class LateAnswerStore(GatedStore):
    """Lease writes reach the database at once, but their answers come back only once ``late`` is set."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.written = asyncio.Event()
        self.late = asyncio.Event()
        self.late.set()
        self.answered = asyncio.Event()

    async def acquire_leases(self, owner: str, leases: Sequence[tuple[str, float]]) -> list[bool]:
        answers = await SqliteStore.acquire_leases(self, owner, leases)
        self.written.set()
        await self.late.wait()
        self.answered.set()  # the caller takes the answers in before anyone waiting on this runs
        return answers


async def test_a_renewal_answered_after_the_hand_over_does_not_bring_the_lease_back(tmp_path: Path) -> None:
    """A renewal written just before this instance hands the lease over, whose answer arrives just after:
    believing it still held the lease, the giver polled at its next tick while the new holder did too."""
    store, other = LateAnswerStore(str(tmp_path / "s.db")), LateAnswerStore(str(tmp_path / "s.db"))
    for s in (store, other):
        await s.open()
    giver, taker = SourceLeases(store, instance="a"), SourceLeases(other, instance="b")
    name = next(f"s{i}" for i in range(100) if preferred(["a", "b"], f"s{i}") == "b")
    try:
        await giver.start()  # alone: it keeps what it takes
        assert await tick(giver, source(name))
        await taker.start()
        await giver._beat()  # its next heartbeat, now: it sees the taker, who is preferred
        store.written.clear()
        store.late.clear()
        store.answered.clear()
        async with giver.holding(source(name)) as mine:  # kept with time to spare: renewed in the background
            assert mine
            await store.written.wait()  # the renewal is in the database; its answer is held back
        assert await store.lease_holder(name) == "b"  # handed over on the way out
        store.late.set()
        async with asyncio.timeout(DEADLINE):
            await store.answered.wait()
        assert not await tick(giver, source(name))
        assert await store.lease_holder(name) == "b"
    finally:
        await giver.close()
        await taker.close()
        for s in (store, other):
            await s.close()


class CountingReleases(GatedStore):
    """Counts the store calls that release leases."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.releases: list[list[str]] = []

    async def release_leases(self, owner: str, names: Sequence[str]) -> None:
        self.releases.append(list(names))
        await super().release_leases(owner, names)


async def test_leaving_releases_every_lease_it_holds_in_one_call_and_no_other(tmp_path: Path) -> None:
    """At 100,000 sources releasing one lease per call made leaving take most of systemd's stop timeout."""
    store, other = CountingReleases(str(tmp_path / "s.db")), CountingReleases(str(tmp_path / "s.db"))
    for s in (store, other):
        await s.open()
    leaving, staying = SourceLeases(store, instance="a"), SourceLeases(other, instance="b")
    names = [f"s{i}" for i in range(50)]
    try:
        assert await tick(staying, source("theirs"))
        assert all(await asyncio.gather(*(tick(leaving, source(n)) for n in names)))
        assert not await tick(leaving, source("theirs"))  # known to it, held by the other
        await leaving.close()
        assert len(store.releases) == 1
        assert [await other.lease_holder(n) for n in names] == [None] * len(names)
        assert await other.lease_holder("theirs") == "b"
    finally:
        await leaving.close()
        await staying.close()
        for s in (store, other):
            await s.close()
