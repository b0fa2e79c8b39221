"""The whole daemon on each store: a real local news site, webhook receiver and SMTP server.

Polls and deliveries are driven explicitly (``Service.poll`` / ``Outbox.deliver_due``) with a fake clock,
so the assertions are exact; one test runs the scheduled daemon (``Service.run``) for real.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller

from monitor.config import Config, parse_config
from monitor.errors import ConfigError
from monitor.service import Service
from tests.helpers.clock import FakeClock

RULES = """
entities:
  atacms: ["ATACMS", "Army Tactical Missile System"]
  nk_troops: ["North Korean troops", "North Korean soldiers", "DPRK soldiers"]
rules:
  - id: atacms-in-russia
    title: "ATACMS used inside Russia"
    all: ["@atacms", ["Russia", "Kursk"]]
  - id: nk-troops
    title: "North Korean troops"
    any: ["@nk_troops"]
"""

ATACMS = (
    "Ukraine fires ATACMS into Kursk",
    "<p>Ukraine used US-supplied Army Tactical Missile Systems against a depot in Russia's Kursk region, "
    "officials said. The ATACMs have a range of 300 km.</p>"
    "<p>Russia said most missiles were intercepted.</p>",
)
HARVEST = (
    "Harvest festival draws crowds",
    "<p>Twenty thousand people visited the riverside harvest festival on a sunny weekend, organisers said. "
    "A pumpkin-carving contest was the highlight.</p>",
)
NK = (
    "North Korean soldiers near the front",
    "<p>Thousands of <b>North Korean</b>\nsoldiers moved closer to the front line in western Russia, "
    "according to intelligence officials. Pyongyang did not comment.</p>",
)


@dataclass
class Site:
    """A news site with a front page, an RSS feed and a news sitemap; ``publish`` adds an article."""

    articles: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    feed_broken: bool = False
    binary_pages: set[str] = field(default_factory=set)  # slugs served as binary junk labelled HTML
    slow_release: asyncio.Event = field(default_factory=asyncio.Event)  # /slow.xml answers once set

    def publish(self, slug: str, article: tuple[str, str]) -> None:
        self.articles[slug] = (*article, datetime.now(UTC))

    def app(self) -> web.Application:
        async def front(request: web.Request) -> web.Response:
            links = "".join(
                f'<li><a href="/news/{s}?utm_source=home">{t}</a></li>'
                for s, (t, _, _) in self.articles.items()
            )
            return web.Response(text=f"<html><body><ul>{links}</ul></body></html>", content_type="text/html")

        async def feed(request: web.Request) -> web.Response:
            if self.feed_broken:
                return web.Response(text="<html><body>Oops, not a feed", content_type="application/rss+xml")
            base = f"http://{request.host}"
            items = "".join(
                f"<item><title>{t}</title><link>{base}/news/{s}</link><guid>{s}</guid>"
                f"<pubDate>{format_datetime(p)}</pubDate></item>"
                for s, (t, _, p) in self.articles.items()
            )
            text = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
            return web.Response(text=text, content_type="application/rss+xml")

        async def sitemap(request: web.Request) -> web.Response:
            base = f"http://{request.host}"
            urls = "".join(f"<url><loc>{base}/news/{s}/</loc></url>" for s in self.articles)
            text = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
            return web.Response(text=text, content_type="application/xml")

        async def article(request: web.Request) -> web.Response:
            slug = request.match_info["slug"]
            if slug not in self.articles:
                raise web.HTTPNotFound()
            if slug in self.binary_pages:
                return web.Response(body=bytes(range(256)) * 40, content_type="text/html")
            title, body, published = self.articles[slug]
            base = f"http://{request.host}"
            html = (
                f"<html><head><title>{title} | Test News</title>"
                f'<link rel="canonical" href="{base}/news/{slug}">'
                f'<meta property="article:published_time" content="{published.isoformat()}"></head>'
                f"<body><nav><a href='/'>Home</a> Russia ATACMS menu</nav><article><h1>{title}</h1>{body}"
                f"</article><footer>Copyright</footer></body></html>"
            )
            return web.Response(text=html, content_type="text/html")

        async def slow(request: web.Request) -> web.Response:
            await self.slow_release.wait()
            return await feed(request)

        app = web.Application()
        app.router.add_get("/", front)
        app.router.add_get("/feed.xml", feed)
        app.router.add_get("/slow.xml", slow)
        app.router.add_get("/sitemap.xml", sitemap)
        app.router.add_get("/news/{slug}", article)
        app.router.add_get("/news/{slug}/", article)
        return app


@dataclass
class Receiver:
    """Webhook receiver that fails the first ``fail_first`` requests with 500."""

    fail_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    acked: list[dict[str, Any]] = field(default_factory=list)
    got: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            payload = await request.json()
            self.requests.append(payload)
            if len(self.requests) <= self.fail_first:
                return web.Response(status=500)
            assert request.headers["Idempotency-Key"] == payload["id"]
            self.acked.append(payload)
            self.got.set()
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/hook", hook)
        return app


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class World:
    site: Site
    receiver: Receiver
    mailbox: Mailbox
    config: Config
    clock: FakeClock


@pytest.fixture
def smtp(free_port: int) -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port)
    controller.start()
    yield mailbox, free_port
    controller.stop()
    controller.loop.close()  # aiosmtpd makes this loop and never closes it (a leaked socketpair)


@pytest.fixture(params=["sqlite", "redis"])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: tuple[Mailbox, int]
) -> AsyncIterator[World]:
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_server")
        import redis.asyncio as aioredis

        client = aioredis.from_url(redis_url)
        await client.flushdb()
        await client.aclose()
        store_url = redis_url
    else:
        store_url = f"sqlite://{tmp_path / 'state.db'}"
    site, receiver = Site(), Receiver()
    site_server = TestServer(site.app(), host="127.0.0.1")
    hook_server = TestServer(receiver.app(), host="127.0.0.1")
    await site_server.start_server()
    await hook_server.start_server()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "test.yaml").write_text(RULES)
    mailbox, smtp_port = smtp
    base = str(site_server.make_url("")).rstrip("/")
    config_text = f"""
[store]
url = "{store_url}"
[http]
allow_private_networks = true
respect_robots = false
per_host_delay = "0s"
per_host_concurrency = 4
[rules]
paths = ["rules/"]
[[sources]]
name = "front"
kind = "html"
url = "{base}/"
interval = "1s"
[[sources]]
name = "feed"
kind = "feed"
url = "{base}/feed.xml"
interval = "1s"
[[sources]]
name = "sitemap"
kind = "sitemap"
url = "{base}/sitemap.xml"
interval = "1s"
[[notifiers]]
name = "hook"
kind = "webhook"
url = "{hook_server.make_url("/hook")}"
[[notifiers]]
name = "mail"
kind = "email"
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "newsmon@test.example"
to = ["desk@test.example"]
[service]
shutdown_timeout = "5s"
"""
    config = parse_config(config_text, tmp_path / "config.toml")
    yield World(site, receiver, mailbox, config, FakeClock(time.time()))
    await site_server.close()
    await hook_server.close()


async def poll_all(service: Service) -> int:
    """Poll every source; returns the number of alerts claimed."""
    results = await asyncio.gather(*(service.poll(s) for s in service.config.sources))
    for r in results:
        assert not r.errors, r.errors
    return sum(len(r.alerts) for r in results)


async def deliver(service: Service) -> None:
    assert service.outbox is not None
    await service.outbox.deliver_due()


async def test_one_alert_per_rule_per_notifier_across_passes_and_restarts(world: World) -> None:
    world.site.publish("harvest", HARVEST)
    service = Service(world.config, clock=world.clock)
    await service.start()
    try:
        assert await poll_all(service) == 0  # first crawl: existing articles are marked seen, not alerted
        world.site.publish("atacms-kursk", ATACMS)
        world.site.publish("nk-soldiers", NK)
        assert await poll_all(service) == 2  # one per (rule, story), though every source lists both articles
        await deliver(service)
        rules = sorted(p["rule"]["id"] for p in world.receiver.acked)
        assert rules == ["atacms-in-russia", "nk-troops"]
        by_rule = {p["rule"]["id"]: p for p in world.receiver.acked}
        assert by_rule["atacms-in-russia"]["article"]["url"].endswith("/news/atacms-kursk")
        assert by_rule["atacms-in-russia"]["article"]["title"].startswith("Ukraine fires ATACMS into Kursk")
        assert {h["field"] for h in by_rule["atacms-in-russia"]["hits"]} <= {"title", "summary", "body"}
        assert len(world.mailbox.messages) == 2
        subjects = sorted(m["Subject"] for m in world.mailbox.messages)
        assert subjects[0].startswith("[newsmon] ATACMS used inside Russia: Ukraine fires ATACMS")

        assert await poll_all(service) == 0  # second pass: nothing new
        await deliver(service)
        assert len(world.receiver.requests) == 2 and len(world.mailbox.messages) == 2
    finally:
        await service.stop()

    restarted = Service(world.config, clock=world.clock)
    await restarted.start()
    try:
        assert await poll_all(restarted) == 0
        world.site.publish("harvest-2", ("Harvest festival part two", HARVEST[1].replace("Twenty", "Thirty")))
        assert await poll_all(restarted) == 0  # a new article that matches nothing
        await deliver(restarted)
        assert len(world.receiver.requests) == 2 and len(world.mailbox.messages) == 2
    finally:
        await restarted.stop()


async def test_failing_receiver_gets_the_alert_once_acknowledged(world: World) -> None:
    world.receiver.fail_first = 2
    service = Service(world.config, clock=world.clock)
    await service.start()
    try:
        await poll_all(service)
        world.site.publish("atacms-kursk", ATACMS)
        assert await poll_all(service) == 1
        for _ in range(3):
            await deliver(service)
            world.clock.now += 3600  # past any backoff
        assert len(world.receiver.requests) == 3
        assert len(world.receiver.acked) == 1
        ids = {p["id"] for p in world.receiver.requests}
        assert len(ids) == 1  # every retry carries the same alert id / Idempotency-Key
        await deliver(service)
        assert len(world.receiver.requests) == 3
        assert len(world.mailbox.messages) == 1
        assert service.store is not None and await service.store.outbox_pending() == 0
    finally:
        await service.stop()


async def test_broken_inputs_are_reported_and_the_rest_keeps_working(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.site.feed_broken = True
    bad_rules = world.config.rule_paths[0] / "broken.yaml"
    bad_rules.write_text("rules:\n  - id: typo\n    any: ['@nowhere']\n")
    # A bad rule file is named and located, and the daemon refuses to start without it: running on the
    # other files would mark seen the articles that the broken rule was written for.
    with pytest.raises(ConfigError, match=r"broken\.yaml:3:11: unknown entity '@nowhere'"):
        await Service(world.config, clock=world.clock).start()
    bad_rules.unlink()
    service = Service(world.config, clock=world.clock)
    await service.start()
    try:
        assert service.rules is not None and {r.id for r in service.rules.rules} == {
            "atacms-in-russia",
            "nk-troops",
        }
        for source in world.config.sources:
            await service.poll(source)
        world.site.publish("nk-soldiers", NK)
        world.site.publish("junk", ATACMS)
        world.site.binary_pages.add("junk")
        results = {s.name: await service.poll(s) for s in world.config.sources}
        assert results["feed"].errors and "feed.xml" in results["feed"].errors[0]
        assert any("/news/junk" in e for e in results["front"].errors)
        assert sum(len(r.alerts) for r in results.values()) == 1  # the good article on the good sources
        assert service.store is not None
        state = await service.store.source_state("feed")
        assert state.last_error and "feed.xml" in state.last_error
    finally:
        await service.stop()


async def test_scheduled_daemon_alerts_and_drains(world: World) -> None:
    world.site.publish("harvest", HARVEST)
    feed = next(s for s in world.config.sources if s.name == "feed")
    # A source that hangs must not hold up the others.
    stuck = dataclasses.replace(feed, name="stuck", url=feed.url.replace("feed.xml", "slow.xml"))
    config = dataclasses.replace(world.config, sources=(*world.config.sources, stuck))
    service = Service(config)
    task = asyncio.create_task(service.run())
    try:
        # Wait (with a deadline) for the first scheduled poll of every other source to be recorded.
        async with asyncio.timeout(15):
            while True:
                if service.store is not None:
                    states = await service.store.source_states()
                    if len([s for s in states if s.last_success]) == 3:
                        break
                await asyncio.sleep(0.05)
        world.site.publish("atacms-kursk", ATACMS)
        async with asyncio.timeout(15):
            await world.receiver.got.wait()
        assert [p["rule"]["id"] for p in world.receiver.acked] == ["atacms-in-russia"]
        assert service.store is not None
        assert (await service.store.source_state("stuck")).last_attempt is None  # still on its first poll
    finally:
        world.site.slow_release.set()
        service.request_stop()
        async with asyncio.timeout(15):
            await task
