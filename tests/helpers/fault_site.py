"""A news site for the fault tests: a feed of articles that match the rules, served on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

RULES = "rules:\n  - id: zorblax\n    title: Zorblax sighted\n    any: ['zorblax']\n"


def body(slug: str) -> str:
    """A distinct story per slug (random vocabulary), so story dedup never merges two test articles."""
    rng = random.Random(slug)
    words = [
        "".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(120)
    ]
    return f"<p>The zorblax {' '.join(words)}.</p>"


@dataclass
class Site:
    slugs: list[str] = field(default_factory=list)
    feed_hits: int = 0
    hit: asyncio.Event = field(default_factory=asyncio.Event)  # set at every feed request

    def app(self) -> web.Application:
        async def feed(request: web.Request) -> web.Response:
            self.feed_hits += 1
            self.hit.set()
            base = f"http://{request.host}"
            date = format_datetime(datetime.now(UTC))
            items = "".join(
                f"<item><title>Zorblax {s}</title><link>{base}/news/{s}</link><guid>{s}</guid>"
                f"<pubDate>{date}</pubDate></item>"
                for s in self.slugs
            )
            return web.Response(
                text=f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>',
                content_type="application/rss+xml",
            )

        async def article(request: web.Request) -> web.Response:
            slug = request.match_info["slug"]
            html = (
                f"<html><head><title>Zorblax {slug}</title></head>"
                f"<body><article>{body(slug)}</article></body></html>"
            )
            return web.Response(text=html, content_type="text/html")

        app = web.Application()
        app.router.add_get("/feed.xml", feed)
        app.router.add_get("/news/{slug}", article)
        return app


@contextlib.asynccontextmanager
async def serve_site() -> AsyncIterator[tuple[Site, str]]:
    """A ``Site`` on loopback and its feed URL, for as long as the block runs."""
    s = Site()
    server = TestServer(s.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield s, str(server.make_url("/feed.xml"))
    finally:
        await server.close()


@pytest.fixture
async def site() -> AsyncIterator[tuple[Site, str]]:
    async with serve_site() as served:
        yield served
