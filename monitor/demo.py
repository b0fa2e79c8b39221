"""``newsmon demo``: serve the bundled sample site on loopback, crawl it with the example rules, print alerts.

Everything goes through the real daemon path (config parsing, HTTP, extraction, matching, SQLite store,
outbox, console notifier); only the site is local, so the demo proves an install without network.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from aiohttp import web

from monitor import loop as event_loop
from monitor.config import parse_config
from monitor.examples import example_rules
from monitor.logs import setup_logging
from monitor.service import Service

SITE = Path(__file__).with_name("demo_site")


def demo_app(published: datetime) -> web.Application:
    """The sample site: a front page, an RSS feed and article pages under /<section>/<slug>."""

    def render(name: str, request: web.Request) -> str:
        base = f"{request.scheme}://{request.host}"
        text = (SITE / name).read_text(encoding="utf-8")
        return (
            text.replace("{base}", base)
            .replace("{published_rfc822}", format_datetime(published))
            .replace("{published}", published.isoformat())
        )

    async def front(request: web.Request) -> web.Response:
        return web.Response(text=render("index.html", request), content_type="text/html")

    async def feed(request: web.Request) -> web.Response:
        return web.Response(text=render("feed.xml", request), content_type="application/rss+xml")

    async def article(request: web.Request) -> web.Response:
        name = f"articles/{request.match_info['slug']}.html"
        if not (SITE / name).is_file():
            raise web.HTTPNotFound()
        return web.Response(text=render(name, request), content_type="text/html")

    app = web.Application()
    app.router.add_get("/", front)
    app.router.add_get("/feed.xml", feed)
    app.router.add_get("/{section}/{slug}", article)
    return app


DEMO_CONFIG = """
[store]
url = "sqlite://{db}"

[http]
allow_private_networks = true
respect_robots = false
per_host_delay = "0s"
per_host_concurrency = 4

[rules]
paths = ["{rules}"]

[alerts]
first_run = "alert"

[[sources]]
name = "demo-front-page"
kind = "html"
url = "{base}/"

[[sources]]
name = "demo-world-feed"
kind = "feed"
url = "{base}/feed.xml"

[[notifiers]]
name = "terminal"
kind = "console"

[service]
log_format = "text"
log_level = "warning"
"""


async def demo(console: str | None = None) -> int:
    """One pass over the sample site, printing alerts; with ``console`` (a listen address) the daemon runs
    on instead, polling the site, with the web console there, until SIGINT/SIGTERM."""
    runner = web.AppRunner(demo_app(datetime.now(UTC) - timedelta(minutes=5)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    try:
        with tempfile.TemporaryDirectory(prefix="newsmon-demo-") as tmp:
            path = Path(tmp) / "demo.toml"
            text = DEMO_CONFIG.format(db=Path(tmp) / "demo.db", rules=example_rules(), base=base)
            if console is not None:  # [service] is the config's last table
                text += f'metrics = "{console}"\nui = true\n'
            config = parse_config(text, path)
            print(f"newsmon demo: sample site at {base}, rules from {example_rules()}\n")
            if console is not None:
                return await _serve(Service(config), console)
            results = await Service(config).once()
    finally:
        await runner.cleanup()
    alerts = sum(len(r.alerts) for r in results)
    articles = sum(r.new_articles for r in results)
    print(f"\nnewsmon demo: {articles} article(s) fetched, {alerts} alert(s) delivered, each once.")
    return 0 if alerts else 1


async def _serve(service: Service, console: str) -> int:
    running = asyncio.create_task(service.run())
    ready = asyncio.create_task(service.ready.wait())
    await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
    if service.ready.is_set():
        print(f"newsmon demo: web console at http://{console}/ui/ (Ctrl-C stops)\n", flush=True)
    else:
        ready.cancel()
    await running
    return 0


def run_demo(console: str | None = None) -> int:
    setup_logging("text", "warning")
    return event_loop.run(demo(console))
