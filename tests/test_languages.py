"""The language an article is read in, end to end: a real feed server, the in-process service.

Which language a rule term's inflected forms are looked for in is the article's: its page's
``<html lang>``, else ``og:locale`` (or a content-language meta), else the language its feed declares
(RSS ``<language>``, Atom ``xml:lang``), else what its text says. The article bodies here are too short
for the detector, so only a declaration can make them read as Russian or German.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config import load_config
from monitor.crawl.sources import parse_feed
from monitor.matching.lemmas import detect
from monitor.model import Fetched
from monitor.service import Service
from tests import daemon as harness

RULES = """\
rules:
  - id: nk-troops
    title: North Korean troops
    any: ["северокорейские войска"]
  - id: cruise-missiles
    title: Cruise missiles
    any: ["Marschflugkörper"]
"""
RUSSIAN = "<p>Там северокорейскими войсками.</p>"  # "North Korean troops", instrumental case
GERMAN = "<p>Mit Marschflugkörpern.</p>"  # "cruise missiles", dative plural
UNUSED_HOOK = "http://127.0.0.1:9/hook"  # deliveries are not what these tests look at


@dataclass
class Site:
    """``/rss.xml`` (``<language>ru</language>``) and ``/atom.xml`` (``xml:lang="de"``), each listing
    ``pages``: slug -> (html lang or None, body)."""

    rss: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    atom: dict[str, tuple[str | None, str]] = field(default_factory=dict)

    def app(self) -> web.Application:
        async def rss(request: web.Request) -> web.Response:
            base = f"http://{request.host}"
            items = "".join(f"<item><title>{s}</title><link>{base}/p/{s}</link></item>" for s in self.rss)
            text = (
                '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
                f"<language>ru-RU</language>{items}</channel></rss>"
            )
            return web.Response(text=text, content_type="application/rss+xml")

        async def atom(request: web.Request) -> web.Response:
            base = f"http://{request.host}"
            now = datetime.now(UTC).isoformat()  # an old article would alert no one
            entries = "".join(
                f'<entry><title>{s}</title><id>{base}/p/{s}</id><link href="{base}/p/{s}"/>'
                f"<updated>{now}</updated></entry>"
                for s in self.atom
            )
            text = (
                '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">'
                f"<title>T</title><id>urn:t</id><updated>{now}</updated>{entries}</feed>"
            )
            return web.Response(text=text, content_type="application/atom+xml")

        async def page(request: web.Request) -> web.Response:
            slug = request.match_info["slug"]
            lang, body = {**self.rss, **self.atom}[slug]
            declared = f' lang="{lang}"' if lang else ""
            head = f"<html{declared}><head><title>{slug}</title></head>"
            html = f"{head}<body><article>{body}</article></body></html>"
            return web.Response(text=html, content_type="text/html")

        app = web.Application()
        app.router.add_get("/rss.xml", rss)
        app.router.add_get("/atom.xml", atom)
        app.router.add_get("/p/{slug}", page)
        return app


@pytest.fixture
async def site() -> AsyncIterator[tuple[Site, str]]:
    served = Site()
    server = TestServer(served.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield served, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def test_the_bodies_are_too_short_to_detect() -> None:
    """What the tests below rely on: without a declaration, these articles are in no known language."""
    assert detect("Там северокорейскими войсками. a") is None
    assert detect("Mit Marschflugkörpern. a") is None


async def test_the_feeds_language_reads_an_article_whose_page_declares_none(
    tmp_path: Path, site: tuple[Site, str]
) -> None:
    served, base = site
    served.rss = {"undeclared": (None, RUSSIAN), "english-page": ("en", RUSSIAN)}
    served.atom = {"de-undeclared": (None, GERMAN)}
    feeds = {"rss": f"{base}/rss.xml", "atom": f"{base}/atom.xml"}
    config = load_config(harness.write_config(tmp_path, feeds, UNUSED_HOOK, rules=RULES))
    service = Service(config)
    await service.start()
    try:
        fired = {}
        for source in config.sources:
            result = await service.poll(source)
            assert result.errors == []
            fired.update({a.url.rsplit("/", 1)[-1]: a.rule_id for a in result.alerts})
    finally:
        await service.stop()
    # RSS <language>ru-RU</language> and Atom xml:lang="de" made the inflected forms count; the page
    # that says it is English is read as English whatever its feed says.
    assert fired == {"undeclared": "nk-troops", "de-undeclared": "cruise-missiles"}


async def test_the_service_builds_the_matcher_off_the_event_loop(
    tmp_path: Path, site: tuple[Site, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Compiling every language's forms takes seconds at ten thousand rules: never on the loop's thread,
    at start or on reload, so no poll waits for it."""
    _, base = site
    config = load_config(harness.write_config(tmp_path, {"rss": f"{base}/rss.xml"}, UNUSED_HOOK, rules=RULES))
    caplog.set_level(logging.INFO, logger="newsmon.matching")
    service = Service(config)
    await service.start()
    try:
        started = [r.threadName for r in caplog.records if r.getMessage() == "inflected_forms_compiled"]
        caplog.clear()
        assert await service.reload()
        reloaded = [r.threadName for r in caplog.records if r.getMessage() == "inflected_forms_compiled"]
    finally:
        await service.stop()
    loop_thread = threading.current_thread().name
    assert len(started) == len(reloaded) == 8  # ru, uk for the Cyrillic term; six for the Latin one
    assert loop_thread not in started + reloaded


def test_each_feed_kind_gives_its_language_to_its_entries() -> None:
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de"><title>T</title>'
        '<entry><title>a</title><link href="http://x/a"/></entry>'
        '<entry xml:lang="pl"><title>b</title><link href="http://x/b"/></entry></feed>'
    )
    json_feed = (
        '{"version": "https://jsonfeed.org/version/1.1", "language": "uk", "items": ['
        '{"id": "1", "url": "http://x/c"}, {"id": "2", "url": "http://x/d", "language": "ru"}]}'
    )
    rss = '<rss version="2.0"><channel><title>T</title><item><link>http://x/e</link></item></channel></rss>'
    found = {}
    for body, kind in ((atom, "application/atom+xml"), (json_feed, "application/feed+json"), (rss, None)):
        fetched = Fetched(url="http://x/feed", status=200, body=body.encode(), content_type=kind)
        found.update({c.url[-1]: c.language for c in parse_feed(fetched)})
    assert found == {"a": "de", "b": "pl", "c": "uk", "d": "ru", "e": None}
