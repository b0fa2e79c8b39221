"""robots.txt: RFC 9309's own examples through monitor.crawl.robots, then HttpClient obeying a real file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config import HttpConfig
from monitor.crawl.http import HttpClient
from monitor.crawl.robots import MAX_CRAWL_DELAY, parse_robots
from monitor.errors import Refused

ORIGIN = "https://www.example.com"

# RFC 9309 section 5.2, verbatim.
RFC_EXAMPLE = b"""User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot

EOF
"""


@pytest.mark.parametrize(
    ("agent", "path", "allowed"),
    [
        # "*": wildcard and end anchor, a directory, and an Allow.
        ("newsmon/0.1", "/images/logo.gif", False),
        ("newsmon/0.1", "/images/logo.gif?size=2", True),  # '$' anchors: the query is part of the path
        ("newsmon/0.1", "/example/page.html", False),
        ("newsmon/0.1", "/publications/2024", True),
        ("newsmon/0.1", "/news/story", True),
        # foobot: its own group only, the longest match wins over "Disallow: /".
        ("foobot/2.1", "/example/page.html", True),
        ("foobot/2.1", "/example/allowed.gif", True),
        ("foobot/2.1", "/example/other.html", False),
        ("foobot/2.1", "/", False),
        # barbot and bazbot share one group.
        ("barbot", "/example/page.html", False),
        ("bazbot", "/example/page.html", False),
        ("bazbot", "/example/other.gif", True),
        # quxbot's group is empty: everything is allowed.
        ("quxbot", "/example/page.html", True),
    ],
)
def test_rfc_9309_example(agent: str, path: str, allowed: bool) -> None:
    assert parse_robots(RFC_EXAMPLE, ORIGIN).allowed(ORIGIN + path, agent) is allowed


def test_longest_match_wins_and_allow_wins_a_tie() -> None:
    # RFC 9309 2.2.2: the most specific (longest) match wins; on equal length, Allow.
    robots = parse_robots(
        b"User-agent: *\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n"
        b"Disallow: /tie\nAllow: /tie\n",
        ORIGIN,
    )
    assert robots.allowed(ORIGIN + "/example/page/ok.html", "newsmon")
    assert not robots.allowed(ORIGIN + "/example/page/disallowed.gif", "newsmon")
    assert robots.allowed(ORIGIN + "/tie", "newsmon")


def test_what_the_standard_library_got_wrong() -> None:
    # The site's intent: no search, no print views, no tracking redirects; the stdlib parser allowed
    # the wildcard URLs because it reads '*' and '$' literally and lets the first rule win.
    robots = parse_robots(
        b"User-agent: *\nAllow: /\nDisallow: /*?s=\nDisallow: /*/print$\nDisallow: /go/*\n", ORIGIN
    )
    assert not robots.allowed(ORIGIN + "/?s=ukraine", "newsmon")
    assert not robots.allowed(ORIGIN + "/world/story-1/print", "newsmon")
    assert not robots.allowed(ORIGIN + "/go/partner", "newsmon")
    assert robots.allowed(ORIGIN + "/world/story-1/printers", "newsmon")
    assert robots.allowed(ORIGIN + "/world/story-1", "newsmon")


def test_crawl_delay_and_sitemaps() -> None:
    robots = parse_robots(
        b"Sitemap: /news-sitemap.xml\nSitemap: https://cdn.example.com/all.xml\nSitemap: ftp://x/y\n"
        b"Sitemap: /news-sitemap.xml\n\n"
        b"User-agent: newsmon\nCrawl-delay: 2.5\n\nUser-agent: slowbot\nCrawl-delay: 86400\n",
        ORIGIN + "/",
    )
    assert robots.crawl_delay("newsmon/0.1 (+https://github.com/newsmon/newsmon)") == 2.5
    assert robots.crawl_delay("slowbot") == MAX_CRAWL_DELAY
    assert robots.crawl_delay("otherbot") == 0.0
    assert robots.sitemaps() == [ORIGIN + "/news-sitemap.xml", "https://cdn.example.com/all.xml"]


def test_garbage_allows_everything() -> None:
    robots = parse_robots(b"\xff\xfe<html>not robots</html>\x00", ORIGIN)
    assert robots.allowed(ORIGIN + "/anything", "newsmon")
    assert robots.crawl_delay("newsmon") == 0.0
    assert robots.sitemaps() == []


ROBOTS = "User-agent: *\nDisallow: /*.pdf$\nDisallow: /search\nAllow: /search/about\nCrawl-delay: 0.3\n"


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async def robots(request: web.Request) -> web.Response:
        return web.Response(text=ROBOTS)

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<p>ok</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/robots.txt", robots)
    app.router.add_get("/{tail:.*}", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_client_obeys_wildcards_longest_match_and_crawl_delay(server: TestServer) -> None:
    config = HttpConfig(allow_private_networks=True, per_host_delay=0, respect_robots=True, timeout=5)
    loop = asyncio.get_running_loop()
    async with HttpClient(config) as http:
        with pytest.raises(Refused, match="robots"):
            await http.fetch(str(server.make_url("/files/report.pdf")))
        with pytest.raises(Refused, match="robots"):
            await http.fetch(str(server.make_url("/search?q=x")))
        first = loop.time()
        for path in ("/search/about", "/files/report.pdf?page=2", "/news/1"):
            assert (await http.fetch(str(server.make_url(path)))).status == 200
        # Three requests after robots.txt was read: two Crawl-delay gaps between their starts.
        assert loop.time() - first >= 2 * 0.3
