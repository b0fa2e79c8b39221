"""Overload: 5,000 sources, all slow at once, plus one normal source, in one in-process daemon.

The slow sources are 5,000 feed paths spread over four loopback hosts (127.0.0.2-5) of one aiohttp app
whose handler never answers until the test releases it. The daemon (``Service.run``) starts them staggered
(10 ms apart, by design), so after ~50 s every one of them is stuck in a request. Meanwhile:

* concurrency stays bounded: the server never sees more requests at once than ``per_host_concurrency``
  times the number of hosts (and it does reach that bound, so the count is real);
* memory stays bounded: the process's RSS growth, and the Python heap growth tracemalloc sees (RSS alone
  under-reports after the fuzzers, whose freed pages get reused), stay under a generous per-source budget;
* other work proceeds: an article published on a normal source (another host) after all 5,000 are stuck
  is fetched, matched and delivered to the webhook.

Slow: the staggered start alone takes 50 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config import load_config
from monitor.model import Source
from monitor.pipeline import PollResult
from monitor.service import Service
from tests._reliability import record
from tests.helpers.fault_site import RULES, Site
from tests.helpers.receiver import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SLOW_SOURCES = 5000
HOSTS = [f"127.0.0.{i}" for i in range(2, 6)]
PER_HOST = 2  # [http] per_host_concurrency
STAGGER = 0.01  # seconds between first polls (monitor.scheduler)
START_DEADLINE = SLOW_SOURCES * STAGGER + 60.0  # all 5,000 in flight by then, with room for a busy CPU
DEADLINE = 30.0  # for the normal source's alert once published
RSS_BUDGET = 300 << 20  # bytes: ~60 KB per stuck source, far above what a task and a lease cost


@dataclass
class SlowSite:
    """Every request waits for ``release``; counts how many are open at once."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    active: int = 0
    peak: int = 0
    total: int = 0
    per_host: dict[str, int] = field(default_factory=dict)
    per_host_peak: dict[str, int] = field(default_factory=dict)

    def app(self) -> web.Application:
        async def feed(request: web.Request) -> web.Response:
            host = request.host.split(":")[0]
            self.active += 1
            self.total += 1
            self.per_host[host] = self.per_host.get(host, 0) + 1
            self.peak = max(self.peak, self.active)
            self.per_host_peak[host] = max(self.per_host_peak.get(host, 0), self.per_host[host])
            try:
                await self.release.wait()
            finally:
                self.active -= 1
                self.per_host[host] -= 1
            return web.Response(
                text='<rss version="2.0"><channel><title>slow</title></channel></rss>',
                content_type="application/rss+xml",
            )

        app = web.Application()
        app.router.add_get("/feed/{n}.xml", feed)
        return app


@contextlib.asynccontextmanager
async def serve_slow(site: SlowSite) -> AsyncIterator[dict[str, int]]:
    """The slow app on every host of ``HOSTS``; yields host -> port."""
    runner = web.AppRunner(site.app(), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        for host in HOSTS:
            await web.TCPSite(runner, host, 0).start()
        yield {str(a[0]): int(a[1]) for a in runner.addresses}
    finally:
        site.release.set()
        await runner.cleanup()


def write_config(tmp_path: Path, ports: dict[str, int], normal: str, hook: str) -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "r.yaml").write_text(RULES)
    hosts = sorted(ports)
    slow = "".join(
        f'[[sources]]\nname = "slow-{n}"\n'
        f'url = "http://{hosts[n % len(hosts)]}:{ports[hosts[n % len(hosts)]]}/feed/{n}.xml"\n'
        # Long enough not to come round again during the test: each source is polled (and stuck) once.
        'interval = "300s"\n'
        for n in range(SLOW_SOURCES)
    )
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[store]
url = "sqlite://{tmp_path / "state.db"}"
[http]
allow_private_networks = true
respect_robots = false
per_host_delay = "0s"
per_host_concurrency = {PER_HOST}
timeout = "600s"
[rules]
paths = ["rules/"]
[alerts]
first_run = "alert"
[[sources]]
name = "normal"
url = "{normal}"
interval = "1s"
{slow}
[[notifiers]]
name = "hook"
kind = "webhook"
url = "{hook}"
timeout = "5s"
[service]
metrics = ""
shutdown_timeout = "2s"
"""
    )
    return path


def settled_rss(process: psutil.Process) -> int:
    """RSS after handing freed memory back to the OS, so growth from here is new memory, not pages an
    earlier test (the fuzzers run in the same process) freed and this one merely reuses."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc only; elsewhere the baseline is just higher
    return int(process.memory_info().rss)


def counting(
    poll: Callable[[Source], Awaitable[PollResult]], started: dict[str, int], everyone: asyncio.Event
) -> Callable[[Source], Awaitable[PollResult]]:
    """Wraps ``Service.poll``: ``started`` counts the polls begun per source; ``everyone`` is set once
    every slow source has begun one."""

    async def wrapped(source: Source) -> PollResult:
        started[source.name] = started.get(source.name, 0) + 1
        if sum(1 for name in started if name.startswith("slow-")) >= SLOW_SOURCES:
            everyone.set()
        return await poll(source)

    return wrapped


async def test_five_thousand_slow_sources_stay_bounded_and_other_work_proceeds(tmp_path: Path) -> None:
    slow = SlowSite()
    normal, receiver = Site(), Receiver()
    normal_server = TestServer(normal.app(), host="127.0.0.1")
    hook_server = TestServer(receiver.app(), host="127.0.0.1")
    await normal_server.start_server()
    await hook_server.start_server()
    me = psutil.Process()
    try:
        async with serve_slow(slow) as ports:
            path = write_config(
                tmp_path, ports, str(normal_server.make_url("/feed.xml")), str(hook_server.make_url("/hook"))
            )
            service = Service(load_config(path))
            started: dict[str, int] = {}
            everyone = asyncio.Event()
            service.poll = counting(service.poll, started, everyone)  # type: ignore[method-assign]
            daemon = asyncio.create_task(service.run())
            try:
                async with asyncio.timeout(60):
                    await service.ready.wait()
                baseline = settled_rss(me)
                # RSS alone under-reports after the fuzzers (same process): new objects reuse the pages
                # they freed. tracemalloc counts this test's Python allocations whatever the history.
                tracemalloc.start()
                async with asyncio.timeout(START_DEADLINE):
                    await everyone.wait()  # all 5,000 slow polls are running, and stuck
                stuck_rss = me.memory_info().rss
                traced = tracemalloc.get_traced_memory()[0]
                assert slow.peak == slow.active == PER_HOST * len(HOSTS), (slow.peak, slow.active)
                normal_polls = started.get("normal", 0)

                # Other work proceeds while every slow source is stuck.
                normal.slugs.append("fresh")
                await receiver.wait_acked(1, within=DEADLINE)
                assert slow.release.is_set() is False and slow.active == PER_HOST * len(HOSTS)
                assert not daemon.done()
                end_rss = me.memory_info().rss
                traced = max(traced, tracemalloc.get_traced_memory()[0])
            finally:
                tracemalloc.stop()
                service.request_stop()
                slow.release.set()
                async with asyncio.timeout(60):
                    await daemon
    finally:
        await normal_server.close()
        await hook_server.close()

    growth = max(stuck_rss, end_rss) - baseline
    allowed = PER_HOST * len(HOSTS)
    record(
        "overload: 5,000 slow sources at once + 1 normal source",
        1,
        lost=1 - len(set(receiver.acked_ids())),
        note=f"peak {slow.peak} requests open at the slow server (bound {PER_HOST}/host x {len(HOSTS)} "
        f"hosts = {allowed}); with all {SLOW_SOURCES} stuck, Python heap +{traced >> 20} MB "
        f"(tracemalloc), RSS +{growth >> 20} MB to {max(stuck_rss, end_rss) >> 20} MB "
        f"(budget {RSS_BUDGET >> 20} MB); the normal source polled {normal_polls}x meanwhile and its "
        "alert delivered",
    )
    assert slow.peak <= allowed
    assert all(peak <= PER_HOST for peak in slow.per_host_peak.values()), slow.per_host_peak
    assert growth < RSS_BUDGET, f"RSS grew {growth >> 20} MB"
    assert traced < RSS_BUDGET, f"Python allocations grew {traced >> 20} MB"
    assert normal_polls >= 1
    assert len(set(receiver.acked_ids())) == 1
