"""Many news hosts on loopback addresses and one webhook receiver, for several daemons sharing one Redis."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.store import keys
from tests import daemon as harness
from tests.daemon import Daemon
from tests.helpers.receiver import Receiver

HOSTS = [f"127.0.0.{i}" for i in range(2, 12)]


SOURCES_PER_HOST = 10


ARTICLES, MATCHING = 300, 120


WAVES = 5


INTERVAL = 1.0  # seconds, every source


LEASE = 2.0  # [store] lease: a source lease lasts INTERVAL + LEASE


HOST_DELAY = 0.02  # [http] per_host_delay, shared by the instances through the store


DEADLINE = 30.0


RULES = """\
rules:
  - id: atacms
    title: "ATACMS"
    any: ["ATACMS"]
"""


VOCABULARY = [
    "".join(
        random.Random(i).choice("bcdfghklmnprstvz") + random.Random(i + 7).choice("aeiou") for _ in range(4)
    )
    for i in range(3000)
]


def article_body(n: int, matching: bool) -> str:
    """Distinct text per article, so each is its own story (no two are near-duplicates)."""
    rng = random.Random(n)
    sentences = [" ".join(rng.choice(VOCABULARY) for _ in range(12)).capitalize() + "." for _ in range(8)]
    if matching:
        sentences.insert(3, "Officials said ATACMS missiles were used.")
    return "".join(f"<p>{s}</p>" for s in sentences)


@dataclass
class Host:
    """One loopback host serving ``SOURCES_PER_HOST`` feeds and their articles; counts every request."""

    ip: str
    polled: asyncio.Event  # set at every feed request (one event shared by every host)
    feeds: dict[str, list[str]] = field(default_factory=dict)  # feed path -> article slugs
    articles: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    polls: list[tuple[float, str]] = field(default_factory=list)  # (monotonic arrival, feed path)
    starts: list[float] = field(default_factory=list)  # monotonic arrival of every request

    def app(self) -> web.Application:
        async def feed(request: web.Request) -> web.Response:
            now = time.monotonic()
            self.polls.append((now, request.path))
            self.polled.set()
            self.starts.append(now)
            return harness.feed_page(request, self.articles, self.feeds.get(request.path, []))

        async def article(request: web.Request) -> web.Response:
            self.starts.append(time.monotonic())
            return harness.article_or_404(request, self.articles)

        app = web.Application()
        app.router.add_get("/news/{slug}", article)
        app.router.add_get("/{name}.xml", feed)
        return app


@dataclass
class Net:
    hosts: list[Host]
    receiver: Receiver
    sources: list[tuple[Host, str, str]]  # (host, feed path, url)
    hook: str
    published: int = 0

    @property
    def polled(self) -> asyncio.Event:
        """Set at every feed request, on any host."""
        return self.hosts[0].polled

    def publish_wave(self, wave: int) -> None:
        """Publish the ``wave``-th fifth of the articles, spread over every source."""
        per_wave = ARTICLES // WAVES
        for n in range(wave * per_wave, (wave + 1) * per_wave):
            host, path, _ = self.sources[n % len(self.sources)]
            matching = is_matching(n)
            title = f"Report {n}" + (" on ATACMS" if matching else "")
            slug = f"a{n}"
            host.articles[slug] = (title, article_body(n, matching), datetime.now(UTC))
            host.feeds.setdefault(path, []).append(slug)
            self.published += 1

    def polls_between(self, start: float, end: float) -> Counter[str]:
        return Counter(f"{h.ip}{path}" for h in self.hosts for at, path in list(h.polls) if start <= at < end)


def is_matching(n: int) -> bool:
    return n % 5 < 2  # 2 of every 5: 120 of 300


def expected_matching() -> int:
    return sum(1 for n in range(ARTICLES) if is_matching(n))


@contextlib.asynccontextmanager
async def serve_net() -> AsyncIterator[Net]:
    polled = asyncio.Event()
    hosts = [Host(ip, polled) for ip in HOSTS]
    receiver = Receiver()
    servers = [TestServer(h.app(), host=h.ip) for h in hosts]
    hook = TestServer(receiver.app(), host="127.0.0.1")
    for server in [*servers, hook]:
        await server.start_server()
    sources = [
        (h, f"/feed{i}.xml", str(server.make_url(f"/feed{i}.xml")))
        for h, server in zip(hosts, servers, strict=True)
        for i in range(SOURCES_PER_HOST)
    ]
    try:
        yield Net(hosts, receiver, sources, str(hook.make_url("/hook")))
    finally:
        for server in [*servers, hook]:
            await server.close()


def write_config(tmp_path: Path, net: Net, store: str, *, lease: float = LEASE, metrics: str = "") -> Path:
    feeds = {f"{host.ip}{path}": url for host, path, url in net.sources}
    timing = {"lease": f"{lease}s", "interval": f"{INTERVAL}s", "per_host_delay": f"{HOST_DELAY}s"}
    options = {"http": "per_host_concurrency = 4", "metrics": metrics, "shutdown_timeout": "3s", **timing}
    return harness.write_config(tmp_path, feeds, net.hook, rules=RULES, store=store, **options)


async def leases_by_instance(url: str) -> dict[str, set[str]]:
    """pid -> names of the sources whose lease that process holds."""
    client = aioredis.from_url(url, decode_responses=True)
    try:
        held: dict[str, set[str]] = {}
        async for key in client.scan_iter("newsmon:lease:*"):
            holder = await client.get(key)
            if holder:
                held.setdefault(holder.split(":")[1], set()).add(key.split("{", 1)[1].rstrip("}"))
        return held
    finally:
        await client.aclose()


async def settled(url: str, daemons: list[Daemon], within: float = DEADLINE) -> dict[str, set[str]]:
    """Wait until every source is leased and every instance holds a share (the rendezvous handover is
    done), then return the leases by pid."""
    pids = {str(d.proc.pid) for d in daemons}
    total = len(HOSTS) * SOURCES_PER_HOST
    async with asyncio.timeout(within):
        while True:
            held = await leases_by_instance(url)
            shares = [len(names) for names in held.values()]
            if set(held) == pids and sum(shares) == total and min(shares) >= total // len(pids) // 3:
                return held
            await asyncio.sleep(0.1)  # polling Redis under the deadline above


async def drained(url: str, within: float = DEADLINE) -> None:
    """Wait until the shared outbox is empty: no retry waiting and every stream entry acknowledged (an
    entry is XACKed and deleted only once its outcome is recorded, after the receiver answered). From then
    on nothing is sent again, so a second delivery of anything, if there were one, has arrived."""
    client = aioredis.from_url(url)
    try:
        async with asyncio.timeout(within):
            while True:
                if await client.zcard(keys.DUE) + await client.xlen(keys.STREAM) == 0:
                    return
                await asyncio.sleep(0.1)  # polling Redis under the deadline above
    except TimeoutError:
        raise AssertionError(f"outbox not empty within {within}s") from None
    finally:
        await client.aclose()
