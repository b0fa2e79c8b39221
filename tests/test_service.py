"""The daemon as systemd runs it: a real ``newsmon run`` subprocess, a datagram socket as NOTIFY_SOCKET,
signals, a local news site and webhook receiver. Plus source health alerts, driven in-process.

Waits are on events, datagrams and log lines, each with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import signal
import statistics
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.service import Service, settle_heap
from tests.daemon import DEADLINE, Daemon, run_daemon
from tests.helpers.clock import FakeClock, Later
from tests.helpers.service_net import ATACMS, NK, Net, Site, net, write_config

__all__ = ["net", "run_daemon"]  # fixtures, imported for pytest

BROKEN_RULES = """\
rules:
  - id: broken
    any: ["@nowhere"]
"""


async def polled(site: Site, path: str) -> None:
    """Wait until ``path`` was requested (again, after ``site.hits`` was cleared)."""
    async with asyncio.timeout(DEADLINE):
        while path not in site.hits:
            site.hit.clear()
            await site.hit.wait()


StartDaemon = Callable[..., Awaitable[Daemon]]


@pytest.fixture
async def start_daemon() -> AsyncIterator[StartDaemon]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(config: Path, *, env: dict[str, str] | None = None) -> Daemon:
            return await stack.enter_async_context(run_daemon(config, env=env))

        yield start


# -- lifecycle ----------------------------------------------------------------------------------------
async def test_ready_then_watchdog_at_half_the_period_then_stopping(
    tmp_path: Path, net: Net, start_daemon: StartDaemon
) -> None:
    config = write_config(tmp_path, net)
    daemon = await start_daemon(config, env={"WATCHDOG_USEC": "400000"})  # pings every 0.2 s
    ready = await daemon.ready()
    assert "STATUS=1 sources, " in daemon.notes[ready][1]
    # READY comes after the rules and the store are up: the startup log says so first.
    started = await daemon.log(lambda e: e["event"] == "started")
    assert (started["rules"], started["sources"], started["notifiers"]) == (2, 1, 1)
    first = await daemon.note(lambda n: n == "WATCHDOG=1", after=ready)
    last = first
    for _ in range(6):
        last = await daemon.note(lambda n: n == "WATCHDOG=1", after=last + 1)
    times = [t for t, n in daemon.notes[first : last + 1] if n == "WATCHDOG=1"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 0.15 <= statistics.median(gaps) <= 0.3, gaps
    assert max(gaps) < 0.4, gaps  # never as long as WATCHDOG_USEC: systemd would kill us

    daemon.proc.send_signal(signal.SIGTERM)
    await daemon.note(lambda n: n == "STOPPING=1", after=last)
    assert await daemon.exit_code() == 0
    assert any(e["event"] == "stopped" for e in daemon.logs)


async def test_sigterm_during_a_slow_delivery_exits_0_in_time_and_keeps_the_delivery(
    tmp_path: Path, net: Net, start_daemon: StartDaemon
) -> None:
    net.site.publish("atacms-kursk", ATACMS)
    net.receiver.hold = True
    config = write_config(tmp_path, net)
    daemon = await start_daemon(config)
    await daemon.ready()
    async with asyncio.timeout(DEADLINE):
        await net.receiver.arrived.wait()  # the delivery is in flight now, and will hang

    sent = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    assert await daemon.exit_code() == 0
    # shutdown_timeout is 2s; allow for interpreter teardown, not for waiting on the receiver.
    assert time.monotonic() - sent < 2 + 2.0
    assert net.receiver.acked == []
    await daemon.log(lambda e: e["event"] == "shutdown_deadline")

    # Next start: once the in-flight lease has run out, the same alert is delivered.
    net.receiver.hold = False
    (held,) = net.receiver.posts

    service = Service(load_config(config), clock=Later(600))
    await service.start()
    try:
        assert service.store is not None and await service.store.outbox_pending() == 1
        assert service.outbox is not None and await service.outbox.deliver_due() == 1
    finally:
        await service.stop()
    assert [p["id"] for p in net.receiver.acked] == [held["id"]]
    assert held["rule"]["id"] == "atacms-in-russia"


async def test_sighup_with_a_broken_rule_file_keeps_the_old_rules(
    tmp_path: Path, net: Net, start_daemon: StartDaemon
) -> None:
    config = write_config(tmp_path, net)
    daemon = await start_daemon(config)
    ready = await daemon.ready()
    await polled(net.site, "/feed.xml")

    (tmp_path / "rules" / "zz-broken.yaml").write_text(BROKEN_RULES)
    daemon.proc.send_signal(signal.SIGHUP)
    reloading = await daemon.note(lambda n: n.startswith("RELOADING=1\nMONOTONIC_USEC="), after=ready)
    failed = await daemon.log(
        lambda e: e["event"] == "reload_failed" and "zz-broken.yaml:3:" in e.get("error", "")
    )
    assert "@nowhere" in failed["error"]
    await daemon.note(lambda n: n.startswith("READY=1"), after=reloading)  # systemd leaves "reloading"

    # The old rules still alert.
    net.site.publish("atacms-kursk", ATACMS)
    async with asyncio.timeout(DEADLINE):
        await net.receiver.acknowledged.wait()
    assert [p["rule"]["id"] for p in net.receiver.acked] == ["atacms-in-russia"]
    assert not any(e["event"] == "reloaded" for e in daemon.logs)

    daemon.proc.send_signal(signal.SIGTERM)
    assert await daemon.exit_code() == 0


async def test_sighup_with_a_new_source_starts_polling_it(
    tmp_path: Path, net: Net, start_daemon: StartDaemon
) -> None:
    config = write_config(tmp_path, net, sources=("feed",))
    daemon = await start_daemon(config)
    ready = await daemon.ready()
    write_config(tmp_path, net, sources=("extra",))  # one added, one removed
    daemon.proc.send_signal(signal.SIGHUP)
    reloaded = await daemon.log(lambda e: e["event"] == "reloaded")
    assert (reloaded["sources_added"], reloaded["sources_removed"]) == (1, 1)
    await daemon.note(lambda n: n.startswith("READY=1") and "STATUS=1 sources" in n, after=ready + 1)
    await polled(net.site, "/extra.xml")
    # Restart-only sections are reported, not silently ignored.
    write_config(tmp_path, net, sources=("extra",), store=f"sqlite://{tmp_path / 'other.db'}")
    daemon.proc.send_signal(signal.SIGHUP)
    needs = await daemon.log(lambda e: e["event"] == "reload_needs_restart")
    assert "[store]" in needs["detail"]

    daemon.proc.send_signal(signal.SIGTERM)
    assert await daemon.exit_code() == 0


async def test_broken_config_on_sighup_is_located_and_the_daemon_lives_on(
    tmp_path: Path, net: Net, start_daemon: StartDaemon
) -> None:
    config = write_config(tmp_path, net)
    daemon = await start_daemon(config)
    await daemon.ready()
    config.write_text(config.read_text() + '\n[[sources]]\nname = "x"\nurll = "http://x/"\n')
    daemon.proc.send_signal(signal.SIGHUP)
    failed = await daemon.log(lambda e: e["event"] == "reload_failed" and "urll" in e.get("error", ""))
    assert f"{config}:" in failed["error"]
    net.site.hits.clear()
    await polled(net.site, "/feed.xml")  # still polling the old source
    daemon.proc.send_signal(signal.SIGINT)
    assert await daemon.exit_code() == 0


# -- source health, in-process with a fake clock -------------------------------------------------------
async def test_a_failing_source_alerts_once_then_once_recovered(tmp_path: Path, net: Net) -> None:
    config = load_config(write_config(tmp_path, net, service='health_failures = 3\nhealth_notify = ["hook"]'))
    clock = FakeClock(time.time())
    net.site.broken = True

    async def polls(service: Service, n: int) -> None:
        for _ in range(n):
            await service.poll(config.sources[0])
            clock.now += 1
        assert service.outbox is not None
        await service.outbox.deliver_due()

    service = Service(config, clock=clock)
    await service.start()
    try:
        await polls(service, 2)
        assert net.receiver.acked == []  # two failures are not an incident yet
        await polls(service, 5)
        (alert,) = net.receiver.acked
        assert alert["rule"]["id"] == "newsmon-health:feed"
        assert "is failing" in alert["rule"]["title"]
        assert "3 polls in a row failed" in alert["article"]["title"] and "404" in alert["article"]["title"]
    finally:
        await service.stop()

    # A restart in the middle of the incident does not alert again: same incident, same alert id.
    service = Service(config, clock=clock)
    await service.start()
    try:
        await polls(service, 4)
        assert len(net.receiver.acked) == 1
        net.site.broken = False
        await polls(service, 2)
        assert [p["rule"]["title"] for p in net.receiver.acked[1:]] == ["newsmon: source feed recovered"]
    finally:
        await service.stop()


async def test_a_quiet_source_alerts_once_after_stale_after(tmp_path: Path, net: Net) -> None:
    path = write_config(tmp_path, net, service='health_notify = ["hook"]')
    path.write_text(path.read_text().replace('interval = "1s"', 'interval = "1s"\nstale_after = "1h"'))
    config = load_config(path)
    clock = FakeClock(time.time())
    service = Service(config, clock=clock)
    await service.start()
    assert service.outbox is not None
    try:
        await service.poll(config.sources[0])
        clock.now += 1800
        await service.poll(config.sources[0])
        await service.outbox.deliver_due()
        assert net.receiver.acked == []
        clock.now += 1801
        await service.poll(config.sources[0])
        await service.poll(config.sources[0])
        await service.outbox.deliver_due()
        (alert,) = net.receiver.acked
        assert alert["rule"]["title"] == "newsmon: source feed went quiet"
        assert "no new article for 1h" in alert["article"]["title"]
        net.site.publish("nk", NK)
        await service.poll(config.sources[0])
        await service.outbox.deliver_due()
        titles = sorted(p["rule"]["title"] for p in net.receiver.acked)
        assert titles == [
            "North Korean troops",
            "newsmon: source feed has new articles again",
            "newsmon: source feed went quiet",
        ]
    finally:
        await service.stop()


async def test_editing_a_rule_file_reloads_without_a_signal(
    tmp_path: Path, net: Net, start_daemon: StartDaemon
) -> None:
    config = write_config(tmp_path, net)
    daemon = await start_daemon(config)
    await daemon.ready()
    extra = "rules:\n  - id: harvest\n    title: Harvest\n    any: [harvest festival]\n"
    (tmp_path / "rules" / "zz-extra.yaml").write_text(extra)
    reloaded = await daemon.log(lambda e: e["event"] == "reloaded")  # the rule watcher noticed the new file
    assert reloaded["rules"] == 3
    daemon.proc.send_signal(signal.SIGTERM)
    assert await daemon.exit_code() == 0


async def test_the_daemon_exempts_what_it_runs_on_from_the_collector_and_a_reload_frees_what_it_replaced(
    tmp_path: Path, net: Net
) -> None:
    service = Service(load_config(write_config(tmp_path, net)))
    daemon = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(DEADLINE):
            await service.ready.wait()
        assert gc.get_freeze_count() > 0  # the config, schedule and rules are off the collector's walks
        old = weakref.ref(service.runtime.engine._engine)
        assert await service.reload()
        assert old() is None  # the replaced runtime is gone, not held until the next summary line
        assert gc.get_freeze_count() > 0
    finally:
        service.request_stop()
        await daemon
    assert gc.get_freeze_count() == 0


def test_settling_the_heap_collects_cyclic_garbage_that_an_earlier_settle_froze() -> None:
    class Node:
        peer: object = None

    node = Node()
    node.peer = node  # a cycle: only the collector frees it
    gone = weakref.ref(node)
    gc.freeze()  # as the start-up before a reload left it
    del node
    try:
        settle_heap()
        assert gone() is None
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
