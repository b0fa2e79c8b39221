"""A local news-site simulator: many sites on loopback, realistic pages, feeds and sitemaps, ground truth.

    python benchmarks/newssim.py [--sites 50] [--addresses 8] [--port 0] [--rate 2] [--latency-ms 0:50]

Site ``i`` lives under ``/s<i>/`` on address ``127.0.0.<1 + i % addresses>`` (all addresses share one
port and one aiohttp app). Per site:

- ``/s<i>/``             front page (HTML listing of the latest articles, nav/footer/aside boilerplate)
- ``/s<i>/feed.xml``     RSS 2.0, ``/s<i>/atom.xml`` Atom 1.0, ``/s<i>/sitemap.xml`` Google News sitemap
- ``/s<i>/news/<yyyy>/<slug>`` 30-80 KB article pages: nav, header, cookie banner, "most read" aside with
  other headlines, inline scripts and a ``__NEXT_DATA__``-style JSON state that repeats the text, JSON-LD,
  OpenGraph meta, related links, footer. Only the visible ``<article>`` body holds the planted keywords.
- ``/robots.txt``        allows everything

Every response carries ETag and Last-Modified and answers conditional requests with 304; bodies are
gzip-compressed when the client accepts it. Each site has its own latency. Control endpoints (JSON) live
under ``/_sim/``: ``POST publish`` ``{"count", "site"?, "prerender"?, "match"?}``, ``GET truth`` (every
article: url, site, published, planted keywords), ``POST rate`` ``{"rate"}``, ``POST hook`` (a webhook
receiver that timestamps each alert), ``GET hooks``, ``GET stats``, ``GET polls`` (the last 100 listing
requests of each site).

Ground truth: the keywords an article holds are exactly the ones planted (filler text comes from a
vocabulary disjoint from every rule term, see ``common.py``), with the publication time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import hashlib
import html
import json
import random
import sys
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CODES, FILLER, TOPICS, Entity, make_entities

SECTIONS = (  # noqa: SIM905
    "World Europe Asia Africa Americas Business Markets Tech Science Health Climate Sport Culture "
    "Opinion Travel Video Podcasts Weather Local Politics Economy Media Education Style Food"
).split()


def _rfc1123(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(int(ts), UTC), usegmt=True)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(slots=True)
class SimArticle:
    site: int
    seq: int
    slug: str
    title: str
    published: float
    keywords: tuple[str, ...]  # planted rule terms (entity aliases, topics, "re:<CODE>")
    seed: int

    def path(self) -> str:
        year = datetime.fromtimestamp(self.published, UTC).year
        return f"/s{self.site}/news/{year}/{self.slug}"


@dataclass(slots=True)
class _Cached:
    etag: str
    last_modified: float
    gz: bytes
    content_type: str


@dataclass
class Site:
    index: int
    base: str
    latency: float
    boilerplate: tuple[str, str, str]  # (head extras, header+nav, footer+scripts)
    articles: deque[SimArticle] = field(default_factory=deque)
    version: int = 0
    last_modified: float = 0.0
    listings: dict[str, _Cached] = field(default_factory=dict)  # kind -> cached body of this version


class NewsSim:
    """The simulator. ``await start()`` / ``await stop()`` in-process, or run the module standalone."""

    def __init__(
        self,
        *,
        sites: int = 50,
        addresses: int = 8,
        port: int = 0,
        seed: int = 1,
        initial: int = 5,
        keep: int = 60,
        listing: int = 30,
        rate: float = 0.0,
        latency_ms: tuple[float, float] = (0.0, 0.0),
        entities: int = 5000,
        match_share: float = 0.35,
        gzip_level: int = 5,
        cache_pages: int = 6000,
        max_publications: int = 1_000_000,
    ) -> None:
        self.n_sites = sites
        self.n_addresses = max(1, min(addresses, 250))
        self.port = port
        self.seed = seed
        self.initial = initial
        self.keep = keep
        self.listing = listing
        self.rate = rate
        self.latency_ms = latency_ms
        self.entities: list[Entity] = make_entities(entities)
        self.match_share = match_share
        self.gzip_level = gzip_level
        self.cache_pages = cache_pages
        self.max_publications = max_publications
        self.sites: list[Site] = []
        self.by_path: dict[str, SimArticle] = {}
        self.truth: deque[SimArticle] = deque(maxlen=200_000)
        self.hooks: deque[dict[str, Any]] = deque(maxlen=200_000)
        self.requests = 0
        # site -> the last times its listings were requested (bounded: the simulator may run for hours)
        self.listing_polls: dict[int, deque[float]] = {}
        self.not_modified = 0
        self.bytes_out = 0
        self._pages: OrderedDict[str, _Cached] = OrderedDict()
        self._seq = 0
        self._rng = random.Random(seed)
        self._runner: web.AppRunner | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._published = 0

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        first = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=4096)
        await first.start()
        self.port = self._runner.addresses[0][1]
        for n in range(2, self.n_addresses + 1):
            await web.TCPSite(self._runner, f"127.0.0.{n}", self.port, backlog=4096).start()
        rng = random.Random(self.seed + 1)
        lo, hi = self.latency_ms
        for i in range(self.n_sites):
            base = f"http://127.0.0.{1 + i % self.n_addresses}:{self.port}"
            site = Site(i, base, rng.uniform(lo, hi) / 1000.0, self._boilerplate(i, rng))
            self.sites.append(site)
        now = time.time()
        for site in self.sites:
            for k in range(self.initial):
                self._publish_one(site, published=now - 3600 + k * 60 + site.index % 60 / 10)
        if self.rate > 0:
            self._publisher = asyncio.create_task(self._publish_loop())

    async def stop(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> NewsSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def control(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def site_url(self, site: int, kind: str = "feed") -> str:
        path = {"feed": "feed.xml", "atom": "atom.xml", "sitemap": "sitemap.xml", "html": ""}[kind]
        return f"{self.sites[site].base}/s{site}/{path}"

    # -- content -----------------------------------------------------------------------------------------
    def _boilerplate(self, i: int, rng: random.Random) -> tuple[str, str, str]:
        name = f"The Daily {i}"
        css = "".join(
            f".c{n}{{margin:{n % 7}px;padding:{n % 5}px;color:#{n * 9973 % 0xFFFFFF:06x}}}" for n in range(60)
        )
        head = (
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta property="og:site_name" content="{name}">'
            f'<link rel="stylesheet" href="/static/site{i}.css">'
            f"<style>{css}</style>"
            '<script async src="https://ads.example.invalid/tag.js"></script>'
        )
        nav_links = "".join(
            f'<li class="nav-item"><a href="/s{i}/section/{s.lower()}">{s}</a></li>' for s in SECTIONS
        )
        sub_links = "".join(
            f'<li><a href="/s{i}/section/{s.lower()}/{w}">{w.capitalize()}</a></li>'
            for s in SECTIONS[:8]
            for w in rng.sample(FILLER, 4)
        )
        header = (
            '<div class="cookie-banner" role="dialog"><p>We use cookies to improve your experience, '
            "measure audiences and show you relevant advertising.</p><button>Accept all</button>"
            "<button>Manage preferences</button></div>"
            f'<header class="site-header"><a class="logo" href="/s{i}/">{name}</a>'
            f'<form role="search" action="/s{i}/search"><input name="q" placeholder="Search"></form>'
            f'<a href="/s{i}/account/login">Sign in</a> <a href="/s{i}/subscribe">Subscribe</a></header>'
            f'<nav class="main-nav" role="navigation"><ul>{nav_links}</ul>'
            f'<ul class="sub">{sub_links}</ul></nav>'
        )
        footer_links = "".join(
            f'<li><a href="/s{i}/about/{w}">{w.capitalize()} {v}</a></li>'
            for w, v in zip(rng.sample(FILLER, 40), rng.sample(FILLER, 40), strict=True)
        )
        js_words = [f"_{w}{n}" for n, w in enumerate(rng.sample(FILLER, 120))]
        script = ";".join(
            f"function {a}(e,t){{var n=e||{{}};return n.{b}=t&&t.{c}?t.{c}:{n},window.{a}=n,n}}"
            for n, (a, b, c) in enumerate(zip(js_words, js_words[1:], js_words[2:], strict=False))
        )
        scripts = "".join(f"<script>(function(){{{script}}})();</script>" for _ in range(rng.randint(1, 4)))
        footer = (
            f'<footer class="site-footer"><ul>{footer_links}</ul>'
            f"<p>&copy; 2025 {name}. All rights reserved. Registered in the city of nowhere.</p></footer>"
            f"{scripts}"
            '<script type="text/javascript">window.dataLayer=window.dataLayer||[];'
            "function gtag(){dataLayer.push(arguments)}gtag('js',new Date());</script>"
        )
        return head, header, footer

    def _plan(self, rng: random.Random, match: bool | None) -> tuple[list[str], list[str]]:
        """(entity aliases, topics) to plant: most articles mention a couple of named things."""
        if match is None:
            match = rng.random() < self.match_share
        count = rng.randint(1, 3)
        names: list[str] = []
        for _ in range(count):
            entity = self.entities[rng.randrange(len(self.entities))]
            names.append(rng.choice(entity.aliases))
        topics = rng.sample(TOPICS, rng.randint(1, 3))
        if match:
            # Names from the low end of the pool are the ones rule sets tend to pick; no guarantee.
            entity = self.entities[rng.randrange(min(len(self.entities), 200))]
            names[0] = rng.choice(entity.aliases)
        return names, topics

    def _sentence(self, rng: random.Random, plant: str | None = None) -> str:
        words = [rng.choice(FILLER) for _ in range(rng.randint(9, 22))]
        if plant is not None:
            words.insert(rng.randrange(1, len(words)), plant)
        text = " ".join(words)
        return text[0].upper() + text[1:] + "."

    def _publish_one(
        self, site: Site, *, published: float | None = None, match: bool | None = None
    ) -> SimArticle:
        self._seq += 1
        seed = self.seed * 1_000_003 + self._seq
        rng = random.Random(seed)
        names, topics = self._plan(rng, match)
        keywords = [*names, *topics]
        if rng.random() < 0.03:
            keywords.append(f"re:{rng.choice(CODES)}")
        title_words = [rng.choice(FILLER) for _ in range(rng.randint(3, 6))]
        title = f"{names[0]} {' '.join(title_words)} {topics[0]}".strip()
        title = title[0].upper() + title[1:]
        slug = "-".join(w.lower() for w in title.split()[:8]) + f"-{self._seq}"
        article = SimArticle(
            site.index, self._seq, slug, title, published or time.time(), tuple(keywords), seed
        )
        site.articles.append(article)
        while len(site.articles) > self.keep:
            old = site.articles.popleft()
            self.by_path.pop(old.path(), None)
            self._pages.pop(old.path(), None)
        self.by_path[article.path()] = article
        self.truth.append(article)
        site.version += 1
        site.last_modified = max(site.last_modified, article.published)
        site.listings.clear()
        return article

    def _plural(self, rng: random.Random, term: str) -> str:
        return term + "s" if not term.isupper() and rng.random() < 0.3 else term

    def render_article(self, article: SimArticle) -> str:
        site = self.sites[article.site]
        rng = random.Random(article.seed + 17)
        head, header, footer = site.boilerplate
        plants: list[str] = []
        for kw in article.keywords:
            if kw.startswith("re:"):
                plants.append(f"{kw[3:]}-{rng.randint(10, 999)}")
            else:
                plants.append(self._plural(rng, kw))
        target = rng.randint(30_000, 80_000)
        paragraphs: list[str] = []
        n_par = rng.randint(9, 16)
        slots = {rng.randrange(n_par): p for p in plants}
        for n in range(n_par):
            sentences = [self._sentence(rng) for _ in range(rng.randint(3, 6))]
            if n in slots:
                sentences[rng.randrange(len(sentences))] = self._sentence(rng, slots[n])
            paragraphs.append(" ".join(sentences))
        for p in plants:  # a plant whose slot collided with another's still goes in
            if not any(p in par for par in paragraphs):
                paragraphs[-1] += " " + self._sentence(rng, p)
        description = paragraphs[0][:160].rsplit(" ", 1)[0]
        others = [a for a in site.articles if a.seq != article.seq][-12:]
        most_read = "".join(
            f'<li><a href="{o.path()}"><img src="/img/{o.seq}.jpg" alt="">'
            f"<span>{html.escape(o.title)}</span></a></li>"
            for o in others
        )
        related = "".join(f'<li><a href="{o.path()}">{html.escape(o.title)}</a></li>' for o in others[:4])
        body_html = "".join(
            f"<p>{html.escape(p)}</p>"
            + (
                f'<figure><img src="/img/{article.seq}-{n}.jpg" alt="">'
                "<figcaption>File photo.</figcaption></figure>"
                if n == 2
                else ""
            )
            + ('<div class="ad-slot" data-ad="mid"></div>' if n == 5 else "")
            for n, p in enumerate(paragraphs)
        )
        url = f"{site.base}{article.path()}"
        ld = json.dumps(
            {
                "@context": "https://schema.org",
                "@type": "NewsArticle",
                "headline": article.title,
                "datePublished": _iso(article.published),
                "author": {"@type": "Person", "name": "Staff reporter"},
                "publisher": {"@type": "Organization", "name": f"The Daily {site.index}"},
            }
        )
        page_head = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(article.title)} | "
            f"The Daily {site.index}</title>"
            f'<link rel="canonical" href="{url}">'
            f'<meta name="description" content="{html.escape(description)}">'
            f'<meta property="og:title" content="{html.escape(article.title)}">'
            f'<meta property="article:published_time" content="{_iso(article.published)}">'
            f'<script type="application/ld+json">{ld}</script>{head}</head><body>{header}<main>'
            f'<article class="story"><h1>{html.escape(article.title)}</h1>'
            f'<p class="byline">By Staff reporter · <time datetime="{_iso(article.published)}">'
            f"{_iso(article.published)}</time></p>"
            f'<div class="story-body">{body_html}</div></article>'
            f'<section class="related"><h2>Related</h2><ul>{related}</ul></section>'
            f'<aside class="most-read"><h2>Most read</h2><ol>{most_read}</ol></aside></main>'
        )
        state = {"props": {"page": {"id": article.seq, "title": article.title, "paragraphs": paragraphs}}}
        page = page_head + footer
        pad = max(0, target - len(page) - 200)
        state["props"]["tracking"] = "".join(rng.choice("abcdef0123456789") for _ in range(pad // 2))
        blob = json.dumps(state)
        state_script = f'<script id="__NEXT_DATA__" type="application/json">{blob}</script>'
        return f"{page_head}{state_script}{footer}</body></html>"

    def _article_cached(self, article: SimArticle) -> _Cached:
        path = article.path()
        cached = self._pages.get(path)
        if cached is None:
            data = self.render_article(article).encode()
            cached = _Cached(
                f'"a{article.seq}"',
                article.published,
                gzip.compress(data, self.gzip_level, mtime=0),
                "text/html",
            )
            self._pages[path] = cached
            while len(self._pages) > self.cache_pages:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(path)
        return cached

    def render_listing(self, site: Site, kind: str) -> tuple[str, str]:
        latest = list(site.articles)[-self.listing :][::-1]
        if kind == "feed":
            items = "".join(
                f"<item><title>{html.escape(a.title)}</title><link>{site.base}{a.path()}</link>"
                f'<guid isPermaLink="false">s{site.index}-{a.seq}</guid>'
                f"<pubDate>{_rfc1123(a.published)}</pubDate>"
                f"<description>{html.escape(a.title)}.</description></item>"
                for a in latest
            )
            text = (
                '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
                f"<title>The Daily {site.index}</title><link>{site.base}/s{site.index}/</link>"
                f"<description>News</description><lastBuildDate>{_rfc1123(site.last_modified)}</lastBuildDate>"
                f"{items}</channel></rss>"
            )
            return text, "application/rss+xml"
        if kind == "atom":
            entries = "".join(
                f'<entry><title>{html.escape(a.title)}</title><link href="{site.base}{a.path()}"/>'
                f"<id>tag:sim,2025:s{site.index}-{a.seq}</id><updated>{_iso(a.published)}</updated>"
                f"<summary>{html.escape(a.title)}.</summary></entry>"
                for a in latest
            )
            text = (
                '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>The Daily {site.index}</title><id>tag:sim,2025:s{site.index}</id>"
                f"<updated>{_iso(site.last_modified)}</updated>{entries}</feed>"
            )
            return text, "application/atom+xml"
        if kind == "sitemap":
            urls = "".join(
                f"<url><loc>{site.base}{a.path()}</loc><news:news><news:publication><news:name>The Daily "
                f"{site.index}</news:name><news:language>en</news:language></news:publication>"
                f"<news:publication_date>{_iso(a.published)}</news:publication_date>"
                f"<news:title>{html.escape(a.title)}</news:title></news:news></url>"
                for a in latest
            )
            text = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>'
            )
            return text, "application/xml"
        head, header, footer = site.boilerplate
        cards = "".join(
            f'<div class="card"><a href="{a.path()}"><h3>{html.escape(a.title)}</h3></a>'
            f"<p>{html.escape(a.title)}.</p></div>"
            for a in latest
        )
        text = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>The Daily {site.index}</title>"
            f"{head}</head><body>{header}<main><h1>Latest news</h1>{cards}</main>{footer}</body></html>"
        )
        return text, "text/html"

    def _listing_cached(self, site: Site, kind: str) -> _Cached:
        cached = site.listings.get(kind)
        if cached is None:
            text, content_type = self.render_listing(site, kind)
            etag = f'"v{site.version}-{kind}-{hashlib.blake2b(text.encode(), digest_size=6).hexdigest()}"'
            cached = _Cached(
                etag, site.last_modified, gzip.compress(text.encode(), self.gzip_level, mtime=0), content_type
            )
            site.listings[kind] = cached
        return cached

    # -- publishing --------------------------------------------------------------------------------------
    def publish(
        self, count: int = 1, *, site: int | None = None, prerender: bool = False, match: bool | None = None
    ) -> list[SimArticle]:
        out = []
        for n in range(min(count, self.max_publications - self._published)):
            target = self.sites[
                site
                if site is not None
                else (self._rng.randrange(self.n_sites) if count == 1 else n % self.n_sites)
            ]
            article = self._publish_one(target, match=match)
            self._published += 1
            if prerender:
                self._article_cached(article)
            out.append(article)
        return out

    async def _publish_loop(self) -> None:
        while self._published < self.max_publications:
            if self.rate <= 0:
                await asyncio.sleep(0.2)
                continue
            await asyncio.sleep(self._rng.expovariate(self.rate))
            self.publish(1)

    # -- HTTP --------------------------------------------------------------------------------------------
    def _respond(self, request: web.Request, cached: _Cached) -> web.StreamResponse:
        self.requests += 1
        headers = {
            "ETag": cached.etag,
            "Last-Modified": _rfc1123(cached.last_modified),
            "Vary": "Accept-Encoding",
        }
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        fresh = False
        if inm is not None:
            fresh = cached.etag in [t.strip() for t in inm.split(",")]
        elif ims is not None:
            with contextlib.suppress(TypeError, ValueError):
                fresh = int(cached.last_modified) <= parsedate_to_datetime(ims).timestamp()
        if fresh:
            self.not_modified += 1
            return web.Response(status=304, headers=headers)
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            body = cached.gz
        else:
            body = gzip.decompress(cached.gz)
        self.bytes_out += len(body)
        return web.Response(body=body, headers=headers, content_type=cached.content_type, charset="utf-8")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/robots.txt":
            return web.Response(text="User-agent: *\nAllow: /\n")
        parts = path.split("/", 3)  # "", "s12", rest
        if len(parts) < 3 or not parts[1].startswith("s") or not parts[1][1:].isdigit():
            raise web.HTTPNotFound()
        index = int(parts[1][1:])
        if index >= len(self.sites):
            raise web.HTTPNotFound()
        site = self.sites[index]
        if site.latency > 0:
            await asyncio.sleep(site.latency)
        rest = path[len(parts[1]) + 2 :]
        kind = {"": "html", "feed.xml": "feed", "atom.xml": "atom", "sitemap.xml": "sitemap"}.get(rest)
        if kind is not None:
            self.listing_polls.setdefault(index, deque(maxlen=100)).append(time.time())
            return self._respond(request, self._listing_cached(site, kind))
        article = self.by_path.get(path)
        if article is None:
            raise web.HTTPNotFound()
        return self._respond(request, self._article_cached(article))

    async def _control(self, request: web.Request) -> web.StreamResponse:
        action = request.match_info["action"]
        if action == "hook" and request.method == "POST":
            received = time.time()
            payload = await request.json()
            article = payload.get("article", {})
            self.hooks.append(
                {"received": received, "url": article.get("url"), "rule": payload.get("rule", {}).get("id")}
            )
            return web.Response(status=200)
        if action == "publish" and request.method == "POST":
            body = await request.json() if request.can_read_body else {}
            articles = self.publish(
                int(body.get("count", 1)),
                site=body.get("site"),
                prerender=bool(body.get("prerender", False)),
                match=body.get("match"),
            )
            return web.json_response([self.describe(a) for a in articles])
        if action == "truth":
            since = float(request.query.get("since", "0"))
            return web.json_response([self.describe(a) for a in self.truth if a.published >= since])
        if action == "hooks":
            return web.json_response(list(self.hooks))
        if action == "polls":  # when each site's listings were requested (scale-out checks)
            return web.json_response({str(k): list(v) for k, v in self.listing_polls.items()})
        if action == "rate" and request.method == "POST":
            self.rate = float((await request.json())["rate"])
            if self._publisher is None:
                self._publisher = asyncio.create_task(self._publish_loop())
            return web.json_response({"rate": self.rate})
        if action == "stats":
            return web.json_response(
                {
                    "requests": self.requests,
                    "not_modified": self.not_modified,
                    "bytes_out": self.bytes_out,
                    "published": self._published,
                    "cached_pages": len(self._pages),
                    "hooks": len(self.hooks),
                }
            )
        raise web.HTTPNotFound()

    def describe(self, article: SimArticle) -> dict[str, Any]:
        return {
            "url": f"{self.sites[article.site].base}{article.path()}",
            "site": article.site,
            "title": article.title,
            "published": article.published,
            "keywords": list(article.keywords),
        }

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_route("*", "/_sim/{action}", self._control)
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        return app


def _range(text: str) -> tuple[float, float]:
    lo, _, hi = text.partition(":")
    return float(lo), float(hi or lo)


async def _serve(args: argparse.Namespace) -> None:
    sim = NewsSim(
        sites=args.sites,
        addresses=args.addresses,
        port=args.port,
        seed=args.seed,
        initial=args.initial,
        keep=args.keep,
        listing=args.listing,
        rate=args.rate,
        latency_ms=_range(args.latency_ms),
        entities=args.entities,
        max_publications=args.max_publications,
    )
    await sim.start()
    bases = [f"http://127.0.0.{n}:{sim.port}" for n in range(1, sim.n_addresses + 1)]
    ready = {"control": sim.control, "bases": bases, "sites": sim.n_sites, "port": sim.port}
    if args.print_ready:
        print(json.dumps(ready), flush=True)
    else:
        print(f"newssim: {sim.n_sites} sites on {len(bases)} addresses, port {sim.port}")
        print(f"  e.g. {sim.site_url(0, 'html')}  {sim.site_url(1, 'feed')}  {sim.site_url(2, 'sitemap')}")
        print(f"  control: {sim.control}/_sim/stats, /_sim/truth, POST /_sim/publish")
    try:
        await asyncio.sleep(args.max_seconds)  # until killed, or this long at most
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--addresses", type=int, default=8, help="loopback addresses 127.0.0.1..N")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--initial", type=int, default=5, help="articles per site at start")
    parser.add_argument("--keep", type=int, default=60, help="articles kept per site (older ones 404)")
    parser.add_argument("--listing", type=int, default=30, help="articles per feed/sitemap/front page")
    parser.add_argument("--rate", type=float, default=0.0, help="articles published per second, all sites")
    parser.add_argument("--latency-ms", default="0:0", help="per-site latency range, LO:HI milliseconds")
    parser.add_argument("--entities", type=int, default=5000)
    parser.add_argument("--max-publications", type=int, default=1_000_000)
    parser.add_argument("--max-seconds", type=float, default=6 * 3600, help="exit after this long")
    parser.add_argument("--print-ready", action="store_true", help="print one JSON line when serving")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
