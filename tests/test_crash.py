"""Crash anywhere: SIGKILL a real ``newsmon run`` at 20 random moments of a run that yields 200 alerts, on
each store: SQLite, and Redis (the session's real redis-server, flushed first).

Kill moments are drawn from a seeded RNG among three kinds, so they land everywhere: while the site is
serving the k-th article (mid-fetch, mid-extract, mid-claim), while the receiver holds the k-th webhook
POST open (delivered but never acknowledged), and after a random delay from start (startup, polling,
idle). After the last kill the daemon is restarted once more and runs until quiet; deliveries whose lease
was cut short come back after the outbox lease (``[store] lease``, 2 s here: on SQLite by the clock, on
Redis as the stream's visibility timeout in real time). A final in-process pass with a clock 10 minutes
ahead sends whatever retry is still scheduled, instead of waiting it out.

Receivers dedupe by alert id (Idempotency-Key): a re-delivery is allowed only with the same key.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config import load_config
from monitor.service import Service
from tests import daemon as harness
from tests._reliability import record
from tests.daemon import fired, run_daemon
from tests.helpers.clock import Later

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ARTICLES = 200
KILLS = 20
SEED = 20240917
TRIAL_DEADLINE = 10.0
RULES = "rules:\n  - id: zorblax\n    title: Zorblax sighted\n    any: ['zorblax']\n"


def _articles(rng: random.Random) -> dict[str, tuple[str, str]]:
    """200 unrelated stories (random vocabulary, so story dedup never merges two) that all match."""
    vocab = [
        "".join(rng.choice("bcdfghjklmnprstvwz") + rng.choice("aeiou") for _ in range(3)) for _ in range(4000)
    ]
    out = {}
    for i in range(ARTICLES):
        words = [rng.choice(vocab) for _ in range(160)]
        words.insert(rng.randrange(len(words)), "zorblax")
        out[f"story-{i:03d}"] = (f"Story {i} {' '.join(words[:6])}", " ".join(words))
    return out


@dataclass
class World:
    stories: dict[str, tuple[str, str]]  # everything that will be published
    articles: dict[str, tuple[str, str]] = field(default_factory=dict)  # published so far (in the feed)
    published: datetime = field(default_factory=lambda: datetime.now(UTC))
    served: int = 0  # article pages answered
    posts: list[tuple[str, str]] = field(default_factory=list)  # (alert id, Idempotency-Key) received
    acked: set[str] = field(default_factory=set)
    hold: asyncio.Event | None = None  # POSTs from ``post_trap`` on wait here (and the kill hits)
    post_trap: int | None = None
    held: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    article_trap: int | None = None  # kill when ``served`` reaches this
    trapped: asyncio.Event = field(default_factory=asyncio.Event)

    def site(self) -> web.Application:
        async def feed(request: web.Request) -> web.Response:
            base = f"http://{request.host}"
            date = format_datetime(self.published)
            items = "".join(
                f"<item><title>{t}</title><link>{base}/news/{s}</link><guid>{s}</guid><pubDate>{date}</pubDate>"
                "</item>"
                for s, (t, _) in self.articles.items()
            )
            text = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
            return web.Response(text=text, content_type="application/rss+xml")

        async def article(request: web.Request) -> web.Response:
            title, body = self.articles[request.match_info["slug"]]
            self.served += 1
            if self.article_trap is not None and self.served >= self.article_trap:
                self.trapped.set()
                await asyncio.Event().wait()  # never answers: the daemon dies with this fetch open
            return harness.article_page(title, f"<p>{body}</p>", self.published)

        app = web.Application()
        app.router.add_get("/feed.xml", feed)
        app.router.add_get("/news/{slug}", article)
        return app

    def receiver(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            payload = await request.json()
            self.posts.append((payload["id"], request.headers.get("Idempotency-Key", "")))
            self.changed.set()
            if self.hold is not None and self.post_trap is not None and len(self.posts) >= self.post_trap:
                self.held.set()
                await self.hold.wait()
            self.acked.add(payload["id"])
            self.changed.set()
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/hook", hook)
        return app


@contextlib.asynccontextmanager
async def serve(world: World) -> AsyncIterator[tuple[str, str]]:
    site = TestServer(world.site(), host="127.0.0.1")
    hook = TestServer(world.receiver(), host="127.0.0.1")
    await site.start_server()
    await hook.start_server()
    try:
        yield str(site.make_url("/feed.xml")), str(hook.make_url("/hook"))
    finally:
        if world.hold is not None:
            world.hold.set()
        await site.close()
        await hook.close()


def write_config(tmp_path: Path, feed: str, hook: str, store: str | None = None) -> Path:
    # [store] lease: a killed instance's source lease lapses after interval + lease, short here so each
    # restart polls at once (with the 60 s default a restart waits up to 61 s before its first poll;
    # nothing is lost). It is also the outbox lease (on Redis the stream's visibility timeout): a cut-off
    # send comes back after it.
    return harness.write_config(
        tmp_path,
        {"feed": feed},
        hook,
        rules=RULES,
        store=store,
        lease="2s",
        http='per_host_concurrency = 4\ntimeout = "5s"',
        notifier='timeout = "5s"',
    )


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """(kind, url): SQLite in the test's directory, or the session redis-server's database, flushed."""
    if request.param == "sqlite":
        return "sqlite", None
    url = str(request.getfixturevalue("redis_server"))
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return "redis", url


async def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path, store: tuple[str, str | None]) -> None:
    kind_of_store, url = store
    kills = KILLS
    rng = random.Random(SEED)
    world = World(_articles(rng))
    batch = ARTICLES // kills
    moments: list[str] = []
    started = time.monotonic()
    async with serve(world) as (feed, hook):
        config = write_config(tmp_path, feed, hook, url)
        for trial in range(kills):
            # Each trial publishes the next stories, so every kill lands while there is work in flight.
            for slug in list(world.stories)[trial * batch : (trial + 1) * batch]:
                world.articles[slug] = world.stories[slug]
            kind = rng.choice(["article", "post", "delay"])
            world.hold, world.article_trap, world.post_trap = None, None, None
            world.held.clear()
            world.trapped.clear()
            trigger: asyncio.Event | None = None
            if kind == "article":
                world.article_trap = world.served + rng.randint(1, batch)
                trigger = world.trapped
            elif kind == "post":
                world.hold = asyncio.Event()
                world.post_trap = len(world.posts) + rng.randint(1, batch)
                trigger = world.held
            async with run_daemon(config) as daemon:
                await daemon.ready()
                if trigger is not None:
                    hit = await fired(trigger, TRIAL_DEADLINE)
                    kind += "" if hit else "(not reached)"
                else:
                    # A random moment is the scenario itself, not a synchronisation wait.
                    await asyncio.sleep(rng.uniform(0.0, 1.0))
                assert daemon.proc.returncode is None, "\n".join(daemon.raw[-20:])
                daemon.proc.send_signal(signal.SIGKILL)
                await daemon.exit_code()
                crashed_logs = [e for e in daemon.logs if e.get("level") in ("critical",)]
                assert crashed_logs == [], crashed_logs
            if world.hold is not None:
                world.hold.set()  # the killed daemon's POST completes server-side: "delivered, unacked"
            moments.append(f"{trial}:{kind}")
            world.article_trap = None

        # The last start runs to completion of everything it can do without the lease running out.
        world.hold = None
        async with run_daemon(config) as daemon:
            await daemon.ready()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(world.acked) < ARTICLES:
                world.changed.clear()
                if not await fired(world.changed, 5.0):
                    break  # quiet: what is left waits for a lease to run out
            daemon.proc.send_signal(signal.SIGTERM)
            assert await daemon.exit_code() == 0

        # Retries scheduled by the kills' failed sends come due later; jump the clock instead of waiting.
        service = Service(load_config(config), clock=Later(600))
        await service.start()
        try:
            assert service.outbox is not None and service.pipeline is not None
            await service.poll(service.config.sources[0])
            while await service.outbox.deliver_due():
                pass
            pending = await service.store.outbox_pending() if service.store else -1
        finally:
            await service.stop()

    ids = [i for i, _ in world.posts]
    distinct = set(ids)
    wrong_key = [(i, k) for i, k in world.posts if k != i]
    duplicates = len(ids) - len(distinct)
    lost = ARTICLES - len(world.acked)
    record(
        f"crash anywhere: SIGKILL of `newsmon run` ({'Redis' if kind_of_store == 'redis' else 'SQLite'})",
        kills,
        lost=lost,
        duplicated=len(wrong_key),
        note=f"{ARTICLES} alerts; {duplicates} re-deliveries, "
        f"{'all' if not wrong_key else f'{len(wrong_key)} NOT'} with the same Idempotency-Key; "
        f"{time.monotonic() - started:.0f}s; kill points {', '.join(moments)}",
    )
    assert wrong_key == []
    assert pending == 0
    assert len(distinct) == ARTICLES, f"{len(distinct)} distinct alerts for {ARTICLES} stories"
    assert lost == 0, f"{lost} alerts never acknowledged; kill points {moments}"
    # Re-deliveries happen only for POSTs a kill cut off before the outcome was recorded.
    assert duplicates <= kills * 8, duplicates
