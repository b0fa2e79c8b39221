"""Disk full under the SQLite store: a small (8 MB) tmpfs holds the database, a filler file takes every
free byte, and the in-process daemon (``Service.run``) keeps ticking (1 s interval) through several polls
that cannot write (not even their source lease, so they fetch nothing). Errors are logged, nothing
crashes. Once the filler is deleted, every alert published meanwhile is delivered, each once (or again
with the same Idempotency-Key).

Needs root (``mount -t tmpfs``); skips with the reason otherwise. The mount is always undone.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from monitor.config import load_config
from monitor.service import Service
from tests import daemon as harness
from tests._reliability import record
from tests.daemon import DEADLINE, until
from tests.helpers.fault_site import RULES, Site, site
from tests.helpers.receiver import Receiver

__all__ = ["site"]  # the fixture, imported for pytest

# Big enough for the test's whole WAL once space returns: SQLite checkpoints the WAL into the database
# only at 1000 pages (~4 MB), and a checkpoint needs free space too, so on a 2 MB disk the WAL alone fills
# it again and the store stays full after the filler is gone.
DISK = "8m"
FULL_FOR = 3.0  # seconds the disk stays full: three poll intervals


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted in the test's directory, unmounted afterwards whatever happens."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs for the disk-full test: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the disk-full test (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def fill(disk: Path) -> int:
    """Write a filler file until the file system refuses (ENOSPC); returns the bytes it took."""
    written = 0
    block = b"\0" * 4096
    with (disk / "filler").open("wb", buffering=0) as out:
        while True:
            try:
                written += out.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return written


def sizes(disk: Path) -> dict[str, int]:
    return {f.name: f.stat().st_size for f in disk.iterdir()}


class Watch(logging.Handler):
    """Collects warning-and-worse records from the daemon's loggers; ``seen`` is set at each one."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.WARNING)
        self.loop = loop
        self.records: list[logging.LogRecord] = []
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.loop.call_soon_threadsafe(self.seen.set)

    def text(self, record: logging.LogRecord) -> str:
        """``event: error`` (the error without the database path, which is the test's tmp dir)."""
        extra = str(getattr(record, "error", None) or getattr(record, "detail", None) or "")
        return f"{record.getMessage()}: {extra.rsplit('state.db: ', 1)[-1]}"


@contextlib.asynccontextmanager
async def watching() -> AsyncIterator[Watch]:
    watch = Watch(asyncio.get_running_loop())
    logger = logging.getLogger("newsmon")
    logger.addHandler(watch)
    try:
        yield watch
    finally:
        logger.removeHandler(watch)


def write_config(tmp_path: Path, db: Path, feed: str, hook: str) -> Path:
    return harness.write_config(
        tmp_path,
        {"feed": feed},
        hook,
        rules=RULES,
        store=f"sqlite://{db}",
        lease="2s",
        notifier='timeout = "5s"',
    )


async def test_disk_full_logs_errors_and_loses_nothing_once_space_returns(
    tmp_path: Path, small_disk: Path, site: tuple[Site, str]
) -> None:
    s, feed = site
    receiver = Receiver()
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    config = load_config(write_config(tmp_path, small_disk / "state.db", feed, str(server.make_url("/hook"))))
    service = Service(config)
    before = [f"before-{i}" for i in range(5)]
    during = [f"during-{i}" for i in range(40)]
    async with watching() as watch:
        daemon = asyncio.create_task(service.run())
        try:
            async with asyncio.timeout(DEADLINE):
                await service.ready.wait()
            s.slugs += before
            await receiver.wait_acked(len(before), within=DEADLINE)
            assert not watch.records, [watch.text(r) for r in watch.records]

            filled = fill(small_disk)
            s.slugs += during  # news keeps coming while the disk is full
            await until(
                watch.seen,
                lambda: any("No space" in watch.text(r) or "full" in watch.text(r) for r in watch.records),
                DEADLINE,
                "disk-full error in the log",
            )
            # The disk stays full for several poll intervals; its length is the scenario, not a
            # synchronisation. The scheduler keeps ticking (a source lease cannot be written, so it polls
            # nothing: by design), and nothing kills the daemon.
            full_since = time.time()
            await asyncio.sleep(FULL_FOR)
            assert service.scheduler is not None and (service.scheduler.last_tick or 0.0) > full_since + 1
            assert not daemon.done(), daemon  # logged, not crashed
            errors = [watch.text(r) for r in watch.records]
            acked_while_full = len(set(receiver.acked_ids()))

            (small_disk / "filler").unlink()  # space returns
            freed_at = len(watch.records)
            try:
                await receiver.wait_acked(len(before) + len(during), within=DEADLINE * 2)
            except AssertionError as exc:
                since = [watch.text(r) for r in watch.records[freed_at:]]
                raise AssertionError(
                    f"{exc}; {sizes(small_disk)}; logged after space returned: {since}"
                ) from None
            assert not daemon.done(), daemon
        finally:
            service.request_stop()
            async with asyncio.timeout(DEADLINE):
                await daemon
            await server.close()
        crashed = [watch.text(r) for r in watch.records if r.levelno >= logging.CRITICAL or "crash" in r.msg]
    reopened = Service(config)
    await reopened.start()
    try:
        assert reopened.store is not None
        pending = await reopened.store.outbox_pending()
    finally:
        await reopened.stop()

    acked = set(receiver.acked_ids())
    wrong_key = [(i, k) for i, k in receiver.id_keys() if k != i]
    total = len(before) + len(during)
    record(
        f"disk full ({DISK[:-1]} MB tmpfs under SQLite), then space freed",
        1,
        lost=total - len(acked),
        duplicated=len(wrong_key),
        crashed=len(crashed),
        note=f"{total} alerts ({len(during)} published while full, {acked_while_full - len(before)} of them "
        f"delivered before space returned); filler took {filled // 1024} KB; "
        f"full for {FULL_FOR:g}s of 1 s polls; reported as: {errors[0][:90]}",
    )
    assert crashed == []
    assert wrong_key == []
    assert len(acked) == total
    assert pending == 0
