"""Cluster-only checks of the Redis store on a real local Redis Cluster (``redis_cluster`` in conftest.py);
the whole Store contract suite runs on the cluster too, as its third backend. Skipped, with the reason,
when redis-cli (needed for ``--cluster create``) is unavailable."""

from __future__ import annotations

from monitor.store import keys as k
from monitor.store import open_store
from monitor.store.redis import RedisStore
from tests.helpers.clock import FakeClock


def test_keys_of_one_atomic_operation_share_a_slot() -> None:
    from redis.crc import key_slot

    outbox = [k.ALERT + "x", k.DELIVERY + "x", k.DUE, k.STREAM, k.INDEX, k.CLAIM + "x"]
    assert len({key_slot(key.encode()) for key in outbox}) == 1
    story = [k.STORY + "x", k.STORY_URLS + "x", k.STORY_BAND + "0:ff", k.STORY_OF + "x"]
    assert len({key_slot(key.encode()) for key in story}) == 1
    assert key_slot(k.source("bbc").encode()) == key_slot(k.lease("bbc").encode())
    # Seen URLs carry no tag on purpose: they spread over the cluster.
    assert len({key_slot((k.SEEN + f"{i:024x}").encode()) for i in range(50)}) > 1


async def test_stores_on_a_cluster_spread_keys_over_every_master(cluster_url: str) -> None:
    store = open_store(cluster_url, retention=86400, clock=FakeClock())
    assert isinstance(store, RedisStore)
    await store.open()
    try:
        await store.mark_seen({f"https://example.org/{i}": "" for i in range(200)})
        assert len(await store.seen([f"https://example.org/{i}" for i in range(0, 400, 2)])) == 100
        for i in range(30):
            assert await store.acquire_lease(f"source-{i}", "me", 30)
        masters = store._r.get_primaries()  # type: ignore[union-attr]
        sizes = [await store._r.dbsize(target_nodes=node) for node in masters]  # type: ignore[union-attr]
        assert len(sizes) == 3 and all(sizes), sizes
    finally:
        await store.close()
