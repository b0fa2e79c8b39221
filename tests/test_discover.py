"""`newsmon sources add`: discovery against local sites, and the config edit that follows it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from monitor.cli import main
from monitor.config import HttpConfig, load_config
from monitor.crawl.http import HttpClient
from monitor.discover import How, discover
from tests.threaded import serve_in_thread

ARTICLES = [f"/news/2024/story-{i}" for i in range(3)]

FRONT = """<!doctype html><html><head><title>Example News</title>{head}</head>
<body><nav><a href="/about">About</a></nav>
<main>{links}</main></body></html>"""
LINKS = "".join(f'<h2><a href="{u}">Story number {i} about the war</a></h2>' for i, u in enumerate(ARTICLES))

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Example World</title>
<link>{base}/</link>{items}</channel></rss>"""
NEWS_SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>"""
PLAIN_SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>"""
INDEX = """<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>{base}/sitemaps/pages.xml</loc></sitemap>
<sitemap><loc>{base}/sitemaps/news.xml</loc></sitemap></sitemapindex>"""


def _rss(base: str) -> str:
    items = "".join(
        f"<item><title>Story {i}</title><link>{base}{u}</link></item>" for i, u in enumerate(ARTICLES)
    )
    return RSS.format(base=base, items=items)


def _news(base: str) -> str:
    urls = "".join(
        f"<url><loc>{base}{u}</loc><news:news><news:publication><news:name>Example</news:name>"
        f"<news:language>en</news:language></news:publication>"
        f"<news:publication_date>2024-11-18T10:00:00Z</news:publication_date>"
        f"<news:title>Story {i}</news:title></news:news></url>"
        for i, u in enumerate(ARTICLES)
    )
    return NEWS_SITEMAP.format(urls=urls)


def _plain(base: str) -> str:
    return PLAIN_SITEMAP.format(urls="".join(f"<url><loc>{base}{u}</loc></url>" for u in ARTICLES))


Routes = dict[str, tuple[str, Callable[[str], str]]]  # path -> (content type, body from base URL)


def site_app(routes: Routes) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        route = routes.get(request.path)
        if route is None:
            raise web.HTTPNotFound()
        ctype, body = route
        return web.Response(text=body(f"http://{request.host}"), content_type=ctype)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


@contextmanager
def serve(routes: Routes) -> Iterator[str]:
    with serve_in_thread(site_app(routes)) as url:
        yield url


def html(head: str = "", links: str = LINKS) -> tuple[str, Callable[[str], str]]:
    return "text/html", lambda base: FRONT.format(head=head, links=links)


FEED_SITE: Routes = {
    "/": html('<link rel="alternate" type="application/rss+xml" title="World news" href="/world/rss">'),
    # A feed at a path no guess would find: only the <link> can lead there.
    "/world/rss": ("application/rss+xml", _rss),
}
ROBOTS_SITE: Routes = {
    "/": html(),
    "/robots.txt": (
        "text/plain",
        lambda base: f"User-agent: *\nAllow: /\nSitemap: {base}/sitemaps/news.xml\n",
    ),
    "/sitemaps/news.xml": ("application/xml", _news),
    "/sitemap.xml": ("application/xml", _plain),
}
INDEX_SITE: Routes = {
    "/": html(),
    "/robots.txt": ("text/plain", lambda base: f"Sitemap: {base}/sitemap-index.xml\n"),
    "/sitemap-index.xml": ("application/xml", lambda base: INDEX.format(base=base)),
    "/sitemaps/pages.xml": ("application/xml", _plain),
    "/sitemaps/news.xml": ("application/xml", _news),
}
BARE_SITE: Routes = {"/": html()}

CONFIG = """# my newsmon config
[http]
allow_private_networks = true   # the test sites are on loopback
per_host_delay = "0s"

[[sources]]
# the one I started with
name = "existing"
kind = "feed"
url = "https://example.org/feed.xml"

[[notifiers]]
name = "terminal"
kind = "console"   # keep me
"""


def _discover(url: str) -> list:
    async def run() -> list:
        config = HttpConfig(allow_private_networks=True, per_host_delay=0)
        async with HttpClient(config) as http:
            return (await discover(url, http)).findings

    return asyncio.run(run())


def test_feed_linked_from_the_page_ranks_first() -> None:
    with serve(FEED_SITE) as base:
        findings = _discover(base + "/")
    valid = [f for f in findings if f.ok]
    assert (valid[0].kind, valid[0].url, valid[0].how) == ("feed", base + "/world/rss", How.LINKED)
    assert valid[0].entries == 3 and valid[0].title == "World news"
    assert valid[-1].kind == "html" and valid[-1].how == How.PAGE and valid[-1].entries == 3


def test_news_sitemap_from_robots_beats_plain_sitemap_and_page() -> None:
    with serve(ROBOTS_SITE) as base:
        valid = [f for f in _discover(base + "/") if f.ok]
    assert [(f.kind, f.url) for f in valid] == [
        ("sitemap", base + "/sitemaps/news.xml"),
        ("sitemap", base + "/sitemap.xml"),
        ("html", base + "/"),
    ]
    assert valid[0].news and valid[0].how == How.ROBOTS and not valid[1].news


def test_sitemap_index_offers_its_news_child() -> None:
    with serve(INDEX_SITE) as base:
        valid = [f for f in _discover(base + "/") if f.ok]
    best = valid[0]
    assert (best.kind, best.url, best.news) == ("sitemap", base + "/sitemaps/news.xml", True)
    index = next(f for f in valid if f.url == base + "/sitemap-index.xml")
    assert index.entries == 6 and index.news


def test_pasted_feed_url_is_judged_as_a_feed() -> None:
    with serve(FEED_SITE) as base:
        valid = [f for f in _discover(base + "/world/rss") if f.ok]
    assert valid[0].kind == "feed" and valid[0].url == base + "/world/rss"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def test_add_feed_site_appends_block_keeping_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path)
    with serve(FEED_SITE) as base:
        assert main(["sources", "add", base + "/", "-c", str(path), "--interval", "5m"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f" 1. feed     {base}/world/rss")
    text = path.read_text()
    # Everything that was there is still there, byte for byte, and the new block follows the sources.
    assert text.startswith(CONFIG.split("[[notifiers]]")[0])
    assert 'kind = "console"   # keep me' in text
    assert text.index("127-0-0-1") < text.index("[[notifiers]]")
    config = load_config(path)
    added = config.sources[-1]
    assert (added.name, added.kind, added.url, added.interval) == (
        "127-0-0-1",
        "feed",
        base + "/world/rss",
        300,
    )


def test_add_robots_only_site_and_bare_site(tmp_path: Path) -> None:
    path = _config(tmp_path)
    with serve(ROBOTS_SITE) as base:
        assert main(["sources", "add", base + "/", "-c", str(path)]) == 0
    with serve(BARE_SITE) as other:
        assert main(["sources", "add", other + "/", "-c", str(path)]) == 0
    sources = load_config(path).sources
    assert [(s.name, s.kind, s.url) for s in sources[1:]] == [
        ("127-0-0-1", "sitemap", base + "/sitemaps/news.xml"),
        ("127-0-0-1-2", "html", other + "/"),  # same host name: made unique
    ]


def test_dry_run_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path)
    with serve(FEED_SITE) as base:
        assert main(["sources", "add", base + "/", "-c", str(path), "--dry-run", "--name", "world"]) == 0
    assert path.read_text() == CONFIG
    out = capsys.readouterr().out
    assert '[[sources]]\nname = "world"\nkind = "feed"\nurl = "' + base + '/world/rss"' in out


def test_kind_option_picks_the_best_of_that_kind(tmp_path: Path) -> None:
    path = _config(tmp_path)
    with serve(FEED_SITE) as base:
        assert main(["sources", "add", base + "/", "-c", str(path), "--kind", "html", "--name", "f"]) == 0
    assert load_config(path).sources[-1].kind == "html"


def test_refusals_exit_2_and_leave_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path)
    with serve(FEED_SITE) as base:
        add = ["sources", "add", base + "/", "-c", str(path)]
        assert main([*add, "--name", "existing"]) == 2
        assert 'named "existing" exists already' in capsys.readouterr().err
        assert main([*add, "--interval", "soon"]) == 2
        assert "--interval" in capsys.readouterr().err
        # A valid duration the config refuses: the edit is validated before anything is written.
        assert main([*add, "--interval", "0s"]) == 2
        err = capsys.readouterr().err
        assert "unchanged" in err and "interval: must be at least 1s" in err
        assert path.read_text() == CONFIG
        assert main(add) == 0
        assert main(add) == 2
        assert "already watched" in capsys.readouterr().err


def test_nothing_found_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path)
    with serve({"/": html(links="<p>No links here.</p>")}) as base:
        assert main(["sources", "add", base + "/", "-c", str(path)]) == 1
    assert "no feed, sitemap or article links found" in capsys.readouterr().err
    assert path.read_text() == CONFIG


def test_config_ssrf_guard_applies_to_discovery(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.replace("allow_private_networks = true", "allow_private_networks = false"))
    with serve(FEED_SITE) as base:
        assert main(["sources", "add", base + "/", "-c", str(path)]) == 1
    assert "not a public address" in capsys.readouterr().out


def test_missing_config_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sources", "add", "http://127.0.0.1:9/", "-c", str(tmp_path / "nope.toml")]) == 2
    assert "create it first" in capsys.readouterr().err
