"""Several ``newsmon run`` processes sharing one real redis-server: each source polled by one instance per
tick, every (rule, story) alert delivered once, and an instance SIGKILLed mid-run taken over.

100 feeds on ten loopback hosts (127.0.0.2 ... 127.0.0.11), 300 articles of which 120 match, published in
waves while the daemons run. Waits are on receiver/server state and log lines with deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.store import keys
from tests import daemon as harness
from tests.conftest import OwnRedis
from tests.daemon import Daemon, instances, until
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
            base = f"http://{request.host}"
            items = "".join(
                f"<item><title>{self.articles[s][0]}</title><link>{base}/news/{s}</link><guid>{s}</guid>"
                f"<pubDate>{format_datetime(self.articles[s][2])}</pubDate></item>"
                for s in self.feeds.get(request.path, [])
            )
            text = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
            return web.Response(text=text, content_type="application/rss+xml")

        async def article(request: web.Request) -> web.Response:
            self.starts.append(time.monotonic())
            slug = request.match_info["slug"]
            if slug not in self.articles:
                raise web.HTTPNotFound()
            title, body, published = self.articles[slug]
            return harness.article_page(title, body, published)

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


async def publish_all(net: Net) -> None:
    for wave in range(WAVES):
        net.publish_wave(wave)
        # Paced by the daemons themselves: the next wave once this one's matches reached the receiver
        # would serialise the test; a fixed share of an interval keeps waves overlapping polls instead.
        await asyncio.sleep(INTERVAL / 2)


def assert_polled_once_per_tick(net: Net, start: float, end: float) -> None:
    counts = net.polls_between(start, end)
    window = end - start
    names = {f"{h.ip}{p}" for h, p, _ in net.sources}
    assert set(counts) == names, f"never polled: {sorted(names - set(counts))[:5]}"
    # One instance per tick: at most window / interval polls (+1 for the window's edges, + jitter). Three
    # instances each polling on their own would make about three times that.
    ceiling = window / (INTERVAL * 0.9) + 1
    too_often = {n: c for n, c in counts.items() if c > ceiling}
    assert not too_often, f"polled more than once per tick over {window:.1f}s: {too_often}"


def assert_host_politeness(net: Net) -> None:
    """Request starts per host keep per_host_delay apart across the three instances (allowing for the
    scheduling noise of three busy processes on one machine)."""
    for host in net.hosts:
        starts = sorted(host.starts)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        close = [g for g in gaps if g < HOST_DELAY / 4]
        # Arrival times carry the noise of three busy processes and this loop; the shared slots keep
        # the bunched ones rare, not absent.
        assert len(close) <= max(3, len(gaps) * 15 // 100), (host.ip, len(close), len(gaps))


async def test_three_instances_share_sources_and_alert_exactly_once(
    tmp_path: Path, own_redis: OwnRedis
) -> None:
    async with serve_net() as net:
        config = write_config(tmp_path, net, own_redis.url)
        async with instances(config, 3) as daemons:
            held = await settled(own_redis.url, daemons)
            assert len(held) == 3
            window_start = time.monotonic()
            await publish_all(net)
            await net.receiver.wait_posted(expected_matching(), within=DEADLINE)
            await drained(own_redis.url)  # so a second delivery of anything would have arrived too
            window_end = time.monotonic()
            for daemon in daemons:
                daemon.proc.send_signal(signal.SIGTERM)
            assert [await d.exit_code() for d in daemons] == [0, 0, 0]
        ids = net.receiver.ids()
        assert len(ids) == MATCHING
        assert max(ids.values()) == 1, [i for i, c in ids.items() if c > 1]
        assert_polled_once_per_tick(net, window_start, window_end)
        assert_host_politeness(net)
        # Clean shutdown released every lease and membership.
        assert await leases_by_instance(own_redis.url) == {}


async def test_an_instance_killed_mid_run_is_taken_over(tmp_path: Path, own_redis: OwnRedis) -> None:
    """Issue #6: one instance SIGKILLed mid-run, the others take its sources over; nothing is lost and no
    acknowledged delivery is sent again. A delivery counts as acknowledged once an instance logged it
    delivered: the outbox writes that line only after recording the outcome (XACK)."""
    async with serve_net() as net:
        config = write_config(tmp_path, net, own_redis.url)
        async with instances(config, 3) as daemons:
            held = await settled(own_redis.url, daemons)
            victim = max(daemons, key=lambda d: len(held[str(d.proc.pid)]))
            survivors = [d for d in daemons if d is not victim]
            orphans = held[str(victim.proc.pid)]
            net.publish_wave(0)
            net.publish_wave(1)
            # Mid-run: alerts are flowing, and the victim has acknowledged some of them.
            await victim.log(lambda e: e["event"] == "delivery" and e.get("outcome") == "delivered")
            killed_at, killed_wall = time.monotonic(), time.time()
            victim.proc.send_signal(signal.SIGKILL)
            await victim.exit_code()
            # Requests the victim sent before dying may reach the receiver (in this loop) just after.
            dead_at = time.monotonic()
            for wave in range(2, WAVES):
                net.publish_wave(wave)
            await net.receiver.wait_posted(expected_matching(), within=DEADLINE)

            # Every orphaned source polled again within lease TTL + one interval (+ scheduling slack: three
            # daemons and 100 sources share 2 cores, and a 1 s slack failed about once in five full runs).
            # The alerts may all be in before an orphan without news was polled: wait for every one.
            took_over = INTERVAL + LEASE + INTERVAL + 3.0
            hosts = {h.ip: h for h in net.hosts}

            def first_poll(name: str) -> float | None:
                ip, path = name[: name.index("/")], name[name.index("/") :]
                return next((at for at, p in list(hosts[ip].polls) if p == path and at > killed_at), None)

            await until(
                net.polled, lambda: all(first_poll(n) is not None for n in orphans), DEADLINE, "takeover"
            )
            late = {
                n: at - killed_at for n in orphans if (at := first_poll(n)) and at - killed_at > took_over
            }
            assert not late, f"polled again later than {took_over}s after the kill: {late}"
            # The victim's unacknowledged sends come back after the outbox lease and go out again; once
            # the outbox is empty nothing more is sent.
            await drained(own_redis.url)
            # The survivors have re-shared the sources among themselves before they stop, so neither hands
            # a lease to the other on its way out.
            await settled(own_redis.url, survivors)
            for daemon in survivors:
                daemon.proc.send_signal(signal.SIGTERM)
            assert [await d.exit_code() for d in survivors] == [0, 0]

        ids = net.receiver.ids()
        assert len(ids) == MATCHING  # nothing lost
        # Acknowledged before the kill: everything the victim logged delivered, and what the survivors had.
        acked_before = set(victim.delivered()) | {
            e["alert_id"]
            for d in survivors
            for e in d.events("delivery")
            if e.get("outcome") == "delivered" and datetime.fromisoformat(e["ts"]).timestamp() < killed_wall
        }
        assert acked_before, "no delivery was acknowledged before the kill: the kill was not mid-run"
        assert not [i for i in acked_before if ids[i] > 1], "an acknowledged delivery was sent again"
        # At-least-once across a SIGKILL: only a send the victim had in flight (the receiver answered,
        # the victim died before XACK) may arrive twice, under the same Idempotency-Key, and the receiver
        # dedupes it.
        assert [(i, k) for i, k in net.receiver.id_keys() if k != i] == []
        first_seen: dict[str, float] = {}
        for at, alert_id in ((p.at, p["id"]) for p in net.receiver.posts):
            first_seen.setdefault(alert_id, at)
        twice = [i for i, c in ids.items() if c > 1]
        assert all(first_seen[i] <= dead_at for i in twice), twice
        assert len(twice) <= 8  # the outbox's concurrency: what one instance can have in flight
        # The survivors released theirs on SIGTERM; only the victim's may still be lapsing.
        assert set(await leases_by_instance(own_redis.url)) <= {str(victim.proc.pid)}


def test_vocabulary_makes_distinct_stories() -> None:
    """The fixture's premise: 300 articles are 300 stories (else 'exactly 120 alerts' would be wrong)."""
    from monitor.fingerprint import fingerprint, same_story

    bodies = [fingerprint(article_body(n, is_matching(n))) for n in range(40)]
    assert not any(same_story(a, b) for i, a in enumerate(bodies) for b in bodies[i + 1 :])
