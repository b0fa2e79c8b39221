"""Four instances sharing sources through leases on a real redis-server, in simulated time: every source
is polled once per interval (no gap under half an interval, none over one and a half) while an instance's
heartbeats run late, while an instance is starved so long that its leases lapse, and when one leaves.

The instances are ``SourceLeases`` as the daemon runs them; their ticks and heartbeats are driven from a
virtual timeline (each instance ticks each source at its own random phase, as the daemon's jittered jobs
do) and the store's clock follows it. Redis keeps its own clock for lease and membership expiry, and the
few real seconds the test takes pass none of its TTLs, so the test expires what would have lapsed in
virtual time: a heartbeat that is late drops out of the member set, a starved holder's leases are deleted
once the virtual time passes their TTL.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis

from monitor.leases import SourceLeases
from monitor.model import Source
from monitor.store import keys
from monitor.store.redis import RedisStore
from tests.helpers.clock import FakeClock

INTERVAL = 100.0  # virtual seconds
MARGIN = 60.0  # seconds a lease outlives its interval (the daemon's [store] lease), membership TTL
SOURCES = 40
ROUNDS = 12
START = 1_700_000_000.0


@dataclass
class World:
    redis: aioredis.Redis
    clock: FakeClock
    sources: list[Source]
    leases: list[SourceLeases] = field(default_factory=list)
    stores: list[RedisStore] = field(default_factory=list)
    polls: dict[str, list[float]] = field(default_factory=dict)
    renewed: dict[str, float] = field(default_factory=dict)  # lease key -> virtual time last (re)set

    async def tick(self, k: int, source: Source) -> None:
        """Instance ``k``'s job for ``source`` fires at the clock's time."""
        async with self.leases[k].holding(source) as mine:
            if mine:
                self.polls[source.name].append(self.clock.time())
                await self.stores[k].record_poll(source.name, error=None, articles=0)
        # The lease was (re)set now if this instance polled (a hand-over sets it too) or holds it.
        if mine or await self.redis.get(keys.lease(source.name)) == self.leases[k].instance:
            self.renewed[source.name] = self.clock.time()

    async def lapse(self) -> None:
        """Delete the leases whose TTL (interval + margin since last set) has passed in virtual time."""
        for name, at in self.renewed.items():
            if self.clock.time() > at + INTERVAL + MARGIN:
                await self.redis.delete(keys.lease(name))

    async def drop_member(self, k: int) -> None:
        """Instance ``k``'s heartbeat is late: its membership entry expired."""
        await self.redis.zrem(keys.MEMBERS, self.leases[k].instance)

    def verdict(self, start: float, end: float) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """(double polls, skipped polls) between ``start`` and ``end``, as (source, gap) pairs."""
        twice, skipped = [], []
        for name, times in self.polls.items():
            chain = [t for t in times if t < start][-1:] + [t for t in times if start <= t < end]
            for a, b in itertools.pairwise(chain):
                if b - a < 0.5 * INTERVAL:
                    twice.append((name, b - a))
                if b - a > 1.5 * INTERVAL:
                    skipped.append((name, b - a))
            if chain and end - chain[-1] > 1.5 * INTERVAL:
                skipped.append((name, end - chain[-1]))
        return twice, skipped


@pytest.fixture
async def world(redis_url: str) -> AsyncIterator[World]:
    clock = FakeClock(START)
    sources = [
        Source(name=f"s{i}", kind="feed", url=f"http://s{i}.test/feed", interval=INTERVAL)
        for i in range(SOURCES)
    ]
    redis = aioredis.from_url(redis_url, decode_responses=True)
    w = World(redis, clock, sources, polls={s.name: [] for s in sources})
    for k in range(4):
        store = RedisStore(redis_url, retention=86400.0, clock=clock)
        await store.open()
        w.stores.append(store)
        w.leases.append(SourceLeases(store, margin=MARGIN, instance=f"i{k}", clock=clock, batch_window=0.0))
    try:
        yield w
    finally:
        for lease in w.leases:
            await lease.close()
        for store in w.stores:
            await store.close()
        await redis.aclose()


async def run(w: World, events: dict[int, list[str]], *, seed: int = 1) -> None:
    """``ROUNDS`` intervals of ticks. ``events``: round -> what happens at its start to one instance:
    ``late:<k>`` (its heartbeat lapses and its ticks run 40% of an interval late), ``starved:<k>`` (its
    heartbeat lapses and it does not tick at all), ``back:<k>`` (beats and ticks on time again),
    ``leave:<k>`` (closes, as on SIGTERM)."""
    rng = random.Random(seed)
    phase = {(k, s.name): rng.uniform(0, INTERVAL) for k in range(4) for s in w.sources}
    late: set[int] = set()
    gone: set[int] = set()
    for r in range(ROUNDS):
        base = START + r * INTERVAL
        for event in events.get(r, []):
            what, k = event.split(":")
            i = int(k)
            if what == "late":
                late.add(i)
                await w.drop_member(i)
            elif what == "starved":
                gone.add(i)
                await w.drop_member(i)
            elif what == "back":
                late.discard(i)
                gone.discard(i)
            elif what == "leave":
                gone.add(i)
                w.clock.set(base)
                await w.leases[i].close()
        for k in set(range(4)) - late - gone:  # the heartbeat loop, on time
            await w.stores[k].heartbeat(w.leases[k].instance, MARGIN)
        due: list[tuple[float, int, int]] = []
        for k, s in itertools.product(range(4), range(SOURCES)):
            if k in gone:
                continue
            delay = 0.4 * INTERVAL if k in late else 0.0
            heapq.heappush(due, (base + phase[k, w.sources[s].name] + delay, k, s))
        while due:
            t, k, s = heapq.heappop(due)
            w.clock.set(t)
            await w.lapse()
            await w.tick(k, w.sources[s])


def assert_once_per_interval(w: World, start_round: int) -> None:
    twice, skipped = w.verdict(START + start_round * INTERVAL, START + ROUNDS * INTERVAL)
    assert not twice, f"{len(twice)} double polls, e.g. {twice[:5]}"
    assert not skipped, f"{len(skipped)} skipped polls, e.g. {skipped[:5]}"


async def test_four_instances_poll_each_source_once_per_interval(world: World) -> None:
    await run(world, {})
    assert_once_per_interval(world, 1)  # the first round is start-up: whoever ticks first polls
    holders = {await world.redis.get(keys.lease(s.name)) for s in world.sources}
    assert holders == {"i0", "i1", "i2", "i3"}  # rendezvous hashing spread the sources


async def test_late_heartbeats_and_ticks_neither_double_nor_skip(world: World) -> None:
    await run(world, {3: ["late:2"], 7: ["back:2"]})
    assert_once_per_interval(world, 1)


async def test_a_holder_starved_past_its_leases_is_taken_over_and_hands_back_without_double_polls(
    world: World,
) -> None:
    await run(world, {3: ["starved:1"], 5: ["back:1"]})
    twice, skipped = world.verdict(START + INTERVAL, START + ROUNDS * INTERVAL)
    assert not twice, f"{len(twice)} double polls, e.g. {twice[:5]}"
    # Its sources wait for their leases to lapse (interval + margin) once, no longer.
    assert skipped and all(gap <= 2 * INTERVAL + MARGIN for _, gap in skipped)
    after = START + 6 * INTERVAL
    twice, skipped = world.verdict(after, START + ROUNDS * INTERVAL)
    assert (twice, skipped) == ([], [])


async def test_an_instance_that_leaves_hands_its_sources_on_without_double_polls(world: World) -> None:
    await run(world, {4: ["leave:3"]})
    twice, skipped = world.verdict(START + INTERVAL, START + ROUNDS * INTERVAL)
    assert not twice, f"{len(twice)} double polls, e.g. {twice[:5]}"
    # The others tick at their own phases: the leaver's sources wait at most one interval more, once.
    assert all(gap < 2 * INTERVAL for _, gap in skipped)
    twice, skipped = world.verdict(START + 6 * INTERVAL, START + ROUNDS * INTERVAL)
    assert (twice, skipped) == ([], [])
    assert "i3" not in [await world.redis.get(keys.lease(s.name)) for s in world.sources]
