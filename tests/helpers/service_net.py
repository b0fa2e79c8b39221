"""A news site and a webhook receiver on loopback for daemon tests, and a config naming them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests import daemon as harness
from tests.helpers.receiver import Receiver

RULES = """\
entities:
  atacms: ["ATACMS", "Army Tactical Missile System"]
rules:
  - id: atacms-in-russia
    title: "ATACMS used inside Russia"
    all: ["@atacms", ["Russia", "Kursk"]]
  - id: nk-troops
    title: "North Korean troops"
    any: ["North Korean troops", "North Korean soldiers"]
"""


ATACMS = (
    "Ukraine fires ATACMS into Kursk",
    "<p>Ukraine used US-supplied ATACMS missiles against a depot in Russia's Kursk region, officials said. "
    "The strike was the deepest so far.</p>",
)


NK = (
    "North Korean soldiers near the front",
    "<p>Thousands of North Korean soldiers moved closer to the front line in western Russia, according to "
    "intelligence officials. Pyongyang did not comment.</p>",
)


# -- a news site and a webhook receiver, served by the test's own loop ------------------------------------
@dataclass
class Site:
    articles: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    broken: bool = False  # feeds answer 404
    hits: dict[str, int] = field(default_factory=dict)
    hit: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, slug: str, article: tuple[str, str]) -> None:
        self.articles[slug] = (*article, datetime.now(UTC))

    def app(self) -> web.Application:
        async def feed(request: web.Request) -> web.Response:
            self.hits[request.path] = self.hits.get(request.path, 0) + 1
            self.hit.set()
            if self.broken:
                raise web.HTTPNotFound()
            return harness.feed_page(request, self.articles)

        async def article(request: web.Request) -> web.Response:
            return harness.article_or_404(request, self.articles)

        app = web.Application()
        app.router.add_get("/news/{slug}", article)
        app.router.add_get("/{name}.xml", feed)
        return app


@dataclass
class Net:
    site: Site
    receiver: Receiver
    base: str
    hook: str


@contextlib.asynccontextmanager
async def serve_net() -> AsyncIterator[Net]:
    """The news site and the webhook receiver on loopback, for as long as the block runs."""
    site, receiver = Site(), Receiver()
    site_server = TestServer(site.app(), host="127.0.0.1")
    hook_server = TestServer(receiver.app(), host="127.0.0.1")
    await site_server.start_server()
    await hook_server.start_server()
    try:
        yield Net(
            site, receiver, str(site_server.make_url("")).rstrip("/"), str(hook_server.make_url("/hook"))
        )
    finally:
        receiver.release.set()
        await site_server.close()
        await hook_server.close()


@pytest.fixture
async def net() -> AsyncIterator[Net]:
    async with serve_net() as served:
        yield served


def write_config(
    tmp_path: Path,
    net: Net,
    *,
    sources: tuple[str, ...] = ("feed",),
    store: str | None = None,
    service: str = "",
    notifiers: str = "",
    alerts: str = 'first_run = "alert"',
    metrics: str = "",
) -> Path:
    """A config with one feed source per name (``/<name>.xml``), the webhook notifier and ``service``
    lines; rules in ``rules/``."""
    feeds = {name: f"{net.base}/{name}.xml" for name in sources}
    sections = {"alerts": alerts, "notifier": notifiers, "service": service}
    return harness.write_config(
        tmp_path, feeds, net.hook, rules=RULES, store=store, metrics=metrics, **sections
    )
