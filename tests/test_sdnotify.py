"""sd_notify without libsystemd: datagrams to path and abstract sockets, the watchdog rate, a stuck loop."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.sdnotify import SystemdNotifier


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def test_path_socket_gets_ready_status_reloading_stopping(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    sd = SystemdNotifier({"NOTIFY_SOCKET": path})
    assert sd.enabled
    assert sd.ready("3 sources, 0 articles/min,\noutbox 0 pending")
    assert sock.recv(4096).decode() == "READY=1\nSTATUS=3 sources, 0 articles/min, outbox 0 pending"
    assert sd.reloading()
    lines = sock.recv(4096).decode().split("\n")
    assert lines[0] == "RELOADING=1"
    assert lines[1].startswith("MONOTONIC_USEC=")
    # systemd compares it with its own CLOCK_MONOTONIC: it must be "now" on that clock.
    usec = int(lines[1].split("=")[1])
    assert abs(usec - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000) < 5_000_000
    assert sd.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    sd.close()


def test_abstract_socket() -> None:
    name = f"newsmon-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        sd = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        assert sd.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        sd.close()


def test_without_systemd_everything_is_a_no_op() -> None:
    sd = SystemdNotifier({})
    assert not sd.enabled and sd.watchdog_interval is None
    assert not sd.ready() and not sd.status("x") and not sd.stopping()


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sd = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert not sd.ready()
    assert not sd.status("again")
    sd.close()
    assert [r.getMessage() for r in caplog.records].count("sd_notify_failed") == 1  # once, not per call


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(env: dict[str, str], interval: float | None) -> None:
    assert SystemdNotifier({"NOTIFY_SOCKET": "/x", **env}).watchdog_interval == interval


async def test_a_stuck_loop_stops_the_pings(receiver: tuple[socket.socket, str]) -> None:
    """The pings come from the event loop, so a loop blocked by CPU-bound work sends none."""
    sock, path = receiver
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []
    pinged: asyncio.Queue[None] = asyncio.Queue()
    done = threading.Event()

    def listen() -> None:  # a thread, so arrivals are timed even while the loop is blocked
        sock.settimeout(0.05)
        while not done.is_set():
            try:
                if sock.recv(64) == b"WATCHDOG=1":
                    arrivals.append(time.monotonic())
                    loop.call_soon_threadsafe(pinged.put_nowait, None)
            except TimeoutError:
                continue

    async def pings(n: int) -> None:
        async with asyncio.timeout(5):
            for _ in range(n):
                await pinged.get()

    thread = threading.Thread(target=listen)
    thread.start()
    sd = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "40000"})  # a ping every 20 ms
    task = asyncio.create_task(sd.watchdog_loop())
    try:
        await pings(3)
        blocked_at = time.monotonic()
        time.sleep(0.3)  # noqa: ASYNC251 - the point of the test: a loop stuck in synchronous work
        unblocked_at = time.monotonic()
        while not pinged.empty():  # pings queued before the block
            pinged.get_nowait()
        await pings(3)
    finally:
        task.cancel()
        done.set()
        thread.join()
        sd.close()
    during = [t for t in arrivals if blocked_at + 0.01 < t < unblocked_at]
    assert during == []
    assert arrivals[-1] > unblocked_at  # and it resumes when the loop does
