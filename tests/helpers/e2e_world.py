"""The end-to-end world: a news site, a webhook receiver and a mailbox on loopback, and a config for them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config import Config, parse_config
from monitor.service import Service
from tests.daemon import feed_page
from tests.helpers.clock import FakeClock
from tests.helpers.receiver import Receiver
from tests.helpers.smtp import Mailbox

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
            return feed_page(request, self.articles)

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
class World:
    site: Site
    receiver: Receiver
    mailbox: Mailbox
    config: Config
    clock: FakeClock


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
