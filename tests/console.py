"""The web console as its tests run it: a news site and a webhook receiver served from their own threads,
and ``newsmon run`` with ``[service] ui = true`` on a free loopback port.

The site and the receiver run on threads so a test may block on a browser (Selenium is synchronous)
while the daemon's log lines are still read on the test's loop.
"""

from __future__ import annotations

import contextlib
import html
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from aiohttp import web

from tests.daemon import Daemon, article_page, run_daemon, write_config
from tests.threaded import serve_in_thread

HOOK_PASSWORD = "hook-pass-7c1e"  # in the webhook URL's userinfo: no page may show it
RULES = """\
rules:
  - id: atacms
    title: ATACMS strikes
    all: [ATACMS]
"""
ATACMS = (
    "Ukraine fires ATACMS into Kursk",
    "<p>Ukraine used US-supplied ATACMS missiles against a depot in Russia's Kursk region, officials said. "
    "The strike was the deepest so far.</p>",
)
HOSTILE = (
    "<script>window.pwned = 1</script>ATACMS strike <b>reported</b>",
    "<p>A second ATACMS strike hit an airfield, officials said on Thursday morning.</p>",
)


@dataclass
class Site:
    """A feed at /feed.xml listing every published article, each at /news/<slug>. A title is text: one
    reading "<script>" is served escaped, so the extracted article's title says "<script>"."""

    articles: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, slug: str, article: tuple[str, str]) -> None:
        with self.lock:
            self.articles[slug] = (*article, datetime.now(UTC))

    def app(self) -> web.Application:
        async def feed(request: web.Request) -> web.Response:
            base = f"http://{request.host}"
            with self.lock:
                listed = list(self.articles.items())
            items = "".join(
                f"<item><title>{slug}</title><link>{base}/news/{slug}</link><guid>{slug}</guid>"
                f"<pubDate>{format_datetime(published)}</pubDate></item>"
                for slug, (_, _, published) in listed
            )
            text = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
            return web.Response(text=text, content_type="application/rss+xml")

        async def article(request: web.Request) -> web.Response:
            with self.lock:
                found = self.articles.get(request.match_info["slug"])
            if found is None:
                raise web.HTTPNotFound()
            title, body, published = found
            return article_page(html.escape(title), body, published)  # the title's text is what it says

        app = web.Application()
        app.router.add_get("/feed.xml", feed)
        app.router.add_get("/news/{slug}", article)
        return app


@dataclass
class Hook:
    """A webhook receiver that refuses every alert (HTTP 400: a dead letter at once) while ``reject``."""

    reject: bool = False

    def app(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            await request.read()
            if self.reject:
                return web.Response(status=400, text="receiver refuses")
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/hook", hook)
        return app


@dataclass
class Console:
    url: str  # the console's base URL, ending in /ui/
    daemon: Daemon
    site: Site
    hook: Hook

    async def claimed(self, count: int) -> None:
        """Wait until the daemon has claimed ``count`` alerts (each is in the store then)."""
        await self.daemon.log(lambda _: len(self.daemon.events("alert_claimed")) >= count)

    async def delivery(self, outcome: str, count: int = 1) -> None:
        await self.daemon.log(
            lambda _: sum(e.get("outcome") == outcome for e in self.daemon.events("delivery")) >= count
        )


@contextlib.asynccontextmanager
async def console(
    tmp_path: Path,
    *,
    service: str = "ui = true",
    reject: bool = False,
    broken: bool = False,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Console]:
    """The daemon on the site and the receiver (refusing alerts with ``reject``); with ``broken`` a second
    source, "wire", whose feed answers 404."""
    site, hook = Site(), Hook(reject=reject)
    site.publish("atacms", ATACMS)
    with serve_in_thread(site.app()) as site_url, serve_in_thread(hook.app()) as hook_url:
        config = write_config(
            tmp_path,
            {"news": f"{site_url}/feed.xml", **({"wire": f"{site_url}/gone.xml"} if broken else {})},
            f"{hook_url.replace('//', f'//newsmon:{HOOK_PASSWORD}@')}/hook",
            rules=RULES,
            metrics="127.0.0.1:0",
            service=service,
        )
        async with run_daemon(config, env=env) as daemon:
            await daemon.ready()
            listening = await daemon.log(lambda e: e.get("event") == "console_listening")
            yield Console(str(listening["url"]), daemon, site, hook)
