"""Store and receiver faults, with real servers: in-process with an injected clock, or a real daemon.

* the SQLite database locked by another connection (an exclusive transaction held by the test):
  errors are logged, nothing is lost once the lock is released (slow: it waits out busy_timeout, cut
  from 10 s to 1 s here: how long the store waits is not the point, what happens after is);
* the webhook receiver down for a long stretch (20 hours of injected clock, not real waiting), then back;
* the receiver resetting the connection mid-response, then healthy;
* redis-server SIGKILLed under a running ``newsmon run`` (a POST in flight, news still coming), then
  restarted on its AOF: the daemon stays up, reports the outage once and every alert arrives (slow: a
  real daemon and restart, run once for both tests that check it).

Disk full is in tests/test_disk_full.py, 5,000 slow sources in tests/test_overload.py.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from monitor.config import load_config
from monitor.service import Service
from monitor.store.sqlite import base as sqlite_store
from tests import daemon as harness
from tests._reliability import record
from tests.conftest import OwnRedis, _free_port, running_redis
from tests.daemon import DEADLINE, run_daemon
from tests.helpers.clock import FakeClock
from tests.helpers.fault_site import RULES, Site, serve_site, site
from tests.helpers.receiver import Receiver

__all__ = ["site"]  # fixtures, imported for pytest

OUTAGE = 4.0  # seconds redis-server stays dead: longer than the 3 s outbox lease of ``redis_config``


def write_config(tmp_path: Path, feed: str, hook: str) -> Path:
    """For a service run in-process on an injected clock: the test drives every poll and pass."""
    alerts = 'first_run = "alert"\ngive_up_after = "48h"'
    return harness.write_config(
        tmp_path,
        {"feed": feed},
        hook,
        rules=RULES,
        interval=None,
        alerts=alerts,
        notifier='timeout = "2s"',
        shutdown_timeout=None,
    )


async def _drain(service: Service, clock: FakeClock, *, hours: int) -> None:
    """Advance the injected clock an hour at a time, running every delivery that comes due."""
    assert service.outbox is not None
    for _ in range(hours):
        clock.now += 3600
        await service.outbox.deliver_due()


async def test_webhook_down_for_twenty_hours_then_back_delivers_everything(
    tmp_path: Path, site: tuple[Site, str]
) -> None:
    s, feed = site
    s.slugs = [f"s{i}" for i in range(5)]
    port = _free_port()  # nothing listens here yet: connection refused
    clock = FakeClock(time.time())
    service = Service(load_config(write_config(tmp_path, feed, f"http://127.0.0.1:{port}/hook")), clock=clock)
    await service.start()
    receiver = Receiver()
    try:
        await service.poll(service.config.sources[0])
        await _drain(service, clock, hours=20)
        assert service.store is not None and await service.store.outbox_pending() == 5
        server = TestServer(receiver.app(), host="127.0.0.1", port=port)
        await server.start_server()
        try:
            await _drain(service, clock, hours=3)  # the backoff caps well below an hour
        finally:
            await server.close()
        pending = await service.store.outbox_pending()
    finally:
        await service.stop()
    lost = 5 - len(set(receiver.acked_ids()))
    record(
        "webhook receiver down 20 h (injected clock), then back",
        5,
        lost=lost,
        duplicated=len(receiver.acked_ids()) - len(set(receiver.acked_ids())),
    )
    assert sorted(set(receiver.acked_ids())) == sorted({i for i, _ in receiver.id_keys()}) and lost == 0
    assert pending == 0


async def test_connection_reset_mid_response_is_retried_with_the_same_key(
    tmp_path: Path, site: tuple[Site, str]
) -> None:
    s, feed = site
    s.slugs = ["a", "b"]
    receiver = Receiver(reset_first=3)
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    clock = FakeClock(time.time())
    service = Service(load_config(write_config(tmp_path, feed, str(server.make_url("/hook")))), clock=clock)
    await service.start()
    try:
        await service.poll(service.config.sources[0])
        await _drain(service, clock, hours=4)
    finally:
        await service.stop()
        await server.close()
    assert len(set(receiver.acked_ids())) == 2 and len(receiver.acked_ids()) == 2
    assert all(i == k for i, k in receiver.id_keys())  # every retry carries the alert id as its key
    record(
        "webhook connection reset mid-response",
        3,
        lost=0,
        duplicated=0,
        note="3 resets, each retried with the same Idempotency-Key",
    )


@pytest.mark.slow
async def test_sqlite_locked_by_another_connection_loses_nothing(
    tmp_path: Path, site: tuple[Site, str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 1_000)
    s, feed = site
    receiver = Receiver()
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    clock = FakeClock(time.time())
    config = load_config(write_config(tmp_path, feed, str(server.make_url("/hook"))))
    service = Service(config, clock=clock)
    await service.start()
    errors: list[str] = []
    try:
        await service.poll(config.sources[0])  # first poll: nothing yet, the source is now known
        s.slugs = ["x", "y"]
        holder = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with caplog.at_level(logging.WARNING):
                try:
                    await service.poll(config.sources[0])
                except Exception as exc:  # what a poll under a lock raises is the finding
                    errors.append(f"{type(exc).__name__}: {exc}")
            errors += [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        await service.poll(config.sources[0])
        await _drain(service, clock, hours=1)
    finally:
        await service.stop()
        await server.close()
    assert errors, "a locked database must be reported"
    assert (
        sorted(set(receiver.acked_ids())) == sorted({i for i, _ in receiver.id_keys()})
        and len(set(receiver.acked_ids())) == 2
    )
    reported = errors[0].replace(str(tmp_path / "state.db"), "state.db")
    record("SQLite locked by another connection", 1, lost=0, note=f"reported as: {reported[:80]}")


# -- Redis SIGKILLed mid-run ---------------------------------------------------------------------------
def redis_config(tmp_path: Path, feed: str, hook: str, store: str) -> Path:
    # [store] lease is the outbox's visibility timeout: a send whose outcome could not be recorded comes
    # back after it.
    return harness.write_config(
        tmp_path, {"feed": feed}, hook, rules=RULES, store=store, lease="3s", notifier='timeout = "5s"'
    )


@dataclass
class RedisKill:
    """What one daemon saw of a redis-server SIGKILL: the receiver's view and the daemon's log."""

    receiver: Receiver
    outage: float  # seconds redis-server was dead
    logs: list[dict[str, Any]]  # the daemon's JSON log
    logged_before_restart: int  # how many of ``logs`` were written while redis-server was dead
    exit_code: int


async def redis_killed_mid_run(tmp_path: Path, site: tuple[Site, str], redis_server: OwnRedis) -> RedisKill:
    """One ``newsmon run`` on Redis; redis-server is SIGKILLed while a webhook POST is in flight (sent,
    outcome not yet recorded) and while more news is published, stays dead for ``OUTAGE`` (longer than
    the outbox lease), then is restarted on the same port and AOF. 40 alerts in 4 waves of 10."""
    s, feed = site
    receiver = Receiver()
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    config = redis_config(tmp_path, feed, str(server.make_url("/hook")), redis_server.url)
    waves = [[f"w{w}-{i}" for i in range(10)] for w in range(4)]
    try:
        async with run_daemon(config) as daemon:
            await daemon.ready()
            s.slugs += waves[0]
            await receiver.wait_acked(10, within=DEADLINE)

            # Hold the next POST: the kill lands between the receiver getting it and the outcome landing.
            receiver.hold, receiver.hold_from = True, len(receiver.posts) + 1
            s.slugs += waves[1]
            async with asyncio.timeout(DEADLINE):
                await receiver.held.wait()
            assert redis_server.proc is not None
            redis_server.proc.kill()  # SIGKILL: no AOF rewrite, no goodbye
            redis_server.proc.wait()
            redis_server.proc = None
            down_at = time.monotonic()
            receiver.hold = False
            receiver.release.set()  # the held POSTs are answered while the store is gone
            s.slugs += waves[2]  # news keeps coming during the outage
            await daemon.log(lambda e: e.get("event") == "store_unavailable", within=DEADLINE)
            assert daemon.proc.returncode is None, "\n".join(daemon.raw[-20:])
            # The outage outlasts the outbox lease, so the in-flight sends' outcomes cannot be recorded
            # before their lease runs out. Its length is the scenario, not a synchronisation.
            await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
            assert daemon.proc.returncode is None, "\n".join(daemon.raw[-20:])

            logged_before_restart = len(daemon.logs)
            redis_server.start()  # same port, same AOF directory
            outage = time.monotonic() - down_at
            await daemon.log(lambda e: e.get("event") == "store_recovered", within=DEADLINE)
            s.slugs += waves[3]
            await receiver.wait_acked(40, within=DEADLINE * 2)
            assert daemon.proc.returncode is None, "\n".join(daemon.raw[-20:])
            daemon.proc.send_signal(signal.SIGTERM)
            code = await daemon.exit_code()
            return RedisKill(receiver, outage, list(daemon.logs), logged_before_restart, code)
    finally:
        await server.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def redis_kill(tmp_path_factory: pytest.TempPathFactory) -> RedisKill:
    """``redis_killed_mid_run``, once for every test of this module that reads it: a real daemon and a
    redis-server restart take a while, and the tests only look at different parts of what it saw."""
    tmp_path = tmp_path_factory.mktemp("redis-kill")
    with running_redis(tmp_path / "redis") as server:
        async with serve_site() as site:
            return await redis_killed_mid_run(tmp_path, site, server)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_redis_sigkilled_mid_run_loses_nothing(redis_kill: RedisKill) -> None:
    """The daemon stays up through a redis-server SIGKILL and every alert arrives; a repeat must carry
    the same Idempotency-Key (receivers dedupe on it), and none is acknowledged under two keys."""
    seen = redis_kill
    crashed = [e for e in seen.logs if e.get("level") == "critical" or "crash" in str(e.get("event"))]
    acked = Counter(seen.receiver.acked_ids())
    wrong_key = [(i, k) for i, k in seen.receiver.id_keys() if k != i]
    repeats = sum(acked.values()) - len(acked)
    unavailable = sum(1 for e in seen.logs if e.get("event") == "store_unavailable")
    record(
        "Redis SIGKILLed mid-run, restarted on its AOF",
        1,
        lost=40 - len(acked),
        duplicated=len(wrong_key),
        crashed=int(seen.exit_code != 0) + len(crashed),
        note=f"40 alerts, 1 daemon; outage {seen.outage:.1f}s (> the 3 s outbox lease) with webhook POSTs "
        f"in flight; {repeats} same-key re-deliveries; store_unavailable logged {unavailable}x",
    )
    assert crashed == [] and seen.exit_code == 0
    assert wrong_key == []
    assert len(acked) == 40


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_redis_sigkill_during_a_send_is_reported_once(redis_kill: RedisKill) -> None:
    """The outage is one outage: sends whose outcomes could not be recorded while redis-server was dead
    do not make the daemon report the store as back before it is."""
    seen = redis_kill
    early = [e for e in seen.logs[: seen.logged_before_restart] if e.get("event") == "store_recovered"]
    unavailable = [e for e in seen.logs if e.get("event") == "store_unavailable"]
    assert early == [], f"store_recovered while redis-server was dead: {early}"
    assert len(unavailable) == 1, unavailable
