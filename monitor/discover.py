"""Find the best way to watch a news site from any one of its pages: a feed, a sitemap, or the page.

Candidates come from the page's ``<link rel="alternate">`` feed links, from paths sites commonly use for
feeds and sitemaps, and from ``Sitemap:`` lines in robots.txt. Each is fetched with the daemon's own
``HttpClient`` (same robots.txt, SSRF guard and caps) and parsed with the daemon's own parsers, so a
candidate is offered only if the daemon could poll it as it is. Ranking prefers what carries the most per
request: feeds (titles, summaries, dates) over Google News sitemaps (titles, dates) over plain sitemaps
over scraping the page's links.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup

from monitor.crawl.charset import decode_html
from monitor.crawl.http import HttpClient
from monitor.crawl.robots import parse_robots
from monitor.crawl.sources import parse_feed, parse_listing, parse_sitemap
from monitor.crawl.urls import canonicalize
from monitor.errors import FetchError, ParseError
from monitor.model import Fetched, Source, SourceKind

__all__ = ["COMMON_FEED_PATHS", "COMMON_SITEMAP_PATHS", "Discovery", "Finding", "discover"]

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/rdf+xml",
        "application/json",
    }
)
COMMON_FEED_PATHS = ("/feed", "/rss", "/rss.xml", "/feed.xml", "/atom.xml", "/index.xml", "/feed.json")
COMMON_SITEMAP_PATHS = ("/news-sitemap.xml", "/sitemap_news.xml", "/sitemap.xml")
MAX_LINKED = 8  # feed links taken from one page; sites with a feed per tag list hundreds
MAX_CHILDREN = 3  # child sitemaps of an index opened to judge it
_NEWSY = re.compile(r"news", re.IGNORECASE)

# How a candidate was found, best first: what the site itself points at beats what we guessed.
LINKED, GIVEN, ROBOTS, INDEX, GUESSED, PAGE = (
    "linked from the page",
    "the URL itself",
    "robots.txt",
    "listed in a sitemap index",
    "common path",
    "the page itself",
)
_HOW_RANK = {GIVEN: 0, LINKED: 1, ROBOTS: 2, INDEX: 3, GUESSED: 4, PAGE: 5}


@dataclass(frozen=True, slots=True)
class Finding:
    """One candidate and what checking it showed. ``error`` is None when the daemon could poll it."""

    kind: SourceKind
    url: str
    how: str
    entries: int = 0
    news: bool = False  # a sitemap with Google News <news:news> entries
    title: str | None = None
    error: str | None = None
    index: bool = False  # a sitemap index: the daemon polls it and its first children

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def rank(self) -> tuple[int, bool, int, int]:
        kind = {"feed": 0, "sitemap": 2, "html": 3}[self.kind] - (1 if self.news else 0)
        # A news sitemap on its own beats the index that lists it: one small request per poll.
        return (kind, self.index, _HOW_RANK.get(self.how, 9), -self.entries)

    def describe(self) -> str:
        one, many = {"feed": ("entry", "entries"), "sitemap": ("URL", "URLs"), "html": ("link", "links")}[
            self.kind
        ]
        bits = [self.how]
        if self.error is None:
            bits.append(f"{self.entries} {one if self.entries == 1 else many}")
        if self.news:
            bits.append("Google News")
        if self.title:
            bits.append(repr(self.title))
        return ", ".join(bits)


@dataclass(slots=True)
class Discovery:
    url: str
    findings: list[Finding] = field(default_factory=list)  # every candidate checked, valid ones first
    page_error: str | None = None  # why the given URL itself could not be fetched (unreachable host, ...)

    @property
    def valid(self) -> list[Finding]:
        return [f for f in self.findings if f.ok]

    def best(self, kind: SourceKind | None = None) -> Finding | None:
        for finding in self.valid:
            if kind is None or finding.kind == kind:
                return finding
        return None


@dataclass(frozen=True, slots=True)
class _Candidate:
    kind: SourceKind
    url: str
    how: str
    title: str | None = None


async def discover(url: str, http: HttpClient) -> Discovery:
    """Check every way to watch the site of ``url``; ``http`` must be open."""
    result = Discovery(url)
    page: Fetched | None = None
    try:
        page = await http.fetch(url)
    except FetchError as exc:
        result.page_error = exc.reason
        result.findings.append(Finding("html", url, PAGE, error=exc.reason))

    candidates: list[_Candidate] = []
    if page is not None:
        if _looks_like_html(page):
            candidates += _linked_feeds(page)
        else:
            # Someone pasted a feed or sitemap URL: judge it as what it is.
            candidates.append(_Candidate("feed", page.url, GIVEN))
            candidates.append(_Candidate("sitemap", page.url, GIVEN))
    origin = _origin(page.url if page is not None else url)
    candidates += [_Candidate("sitemap", u, ROBOTS) for u in await _robots_sitemaps(http, origin)]
    candidates += [_Candidate("feed", origin + p, GUESSED) for p in COMMON_FEED_PATHS]
    candidates += [_Candidate("sitemap", origin + p, GUESSED) for p in COMMON_SITEMAP_PATHS]

    checked = await asyncio.gather(*(_check(http, c, page) for c in _unique(candidates)))
    findings = [f for group in checked for f in group]
    if page is not None and _looks_like_html(page):
        findings.append(_check_listing(page, url))
    result.findings += findings
    result.findings = _rank(result.findings)
    return result


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _looks_like_html(page: Fetched) -> bool:
    if page.content_type in ("text/html", "application/xhtml+xml"):
        return True
    head = page.body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _linked_feeds(page: Fetched) -> list[_Candidate]:
    with warnings.catch_warnings():
        # bs4 warns on XML-looking input; whatever the page is, we only read its <link> elements.
        warnings.simplefilter("ignore")
        soup = BeautifulSoup(decode_html(page.body, page.charset), "lxml")
    base_tag = soup.find("base", href=True)
    base = urljoin(page.url, str(base_tag["href"])) if base_tag is not None else page.url
    out: list[_Candidate] = []
    for link in soup.find_all("link", href=True):
        rel = link.get("rel") or []
        rels = {r.lower() for r in (rel if isinstance(rel, list) else str(rel).split())}
        kind = str(link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" not in rels or kind not in FEED_TYPES:
            continue
        href = urljoin(base, str(link["href"]).strip())
        if urlsplit(href).scheme not in ("http", "https"):
            continue
        title = str(link.get("title") or "").strip() or None
        out.append(_Candidate("feed", href, LINKED, title))
        if len(out) >= MAX_LINKED:
            break
    return out


async def _robots_sitemaps(http: HttpClient, origin: str) -> list[str]:
    try:
        fetched = await http.fetch(origin + "/robots.txt", robots=False)
    except FetchError:
        return []
    return parse_robots(fetched.body, origin).sitemaps()[:MAX_LINKED]


def _unique(candidates: Iterable[_Candidate]) -> list[_Candidate]:
    seen: set[tuple[str, str]] = set()
    out: list[_Candidate] = []
    for c in candidates:
        key = (c.kind, canonicalize(c.url) or c.url)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


async def _fetch(http: HttpClient, url: str, page: Fetched | None) -> Fetched:
    # The page was fetched already; a pasted feed URL is both the page and the candidate.
    if page is not None and url == page.url:
        return page
    return await http.fetch(url)


async def _check(http: HttpClient, c: _Candidate, page: Fetched | None) -> list[Finding]:
    try:
        fetched = await _fetch(http, c.url, page)
    except FetchError as exc:
        return [Finding(c.kind, c.url, c.how, title=c.title, error=exc.reason)]
    try:
        if c.kind == "feed":
            entries = parse_feed(fetched)
            if not entries:
                return [Finding("feed", fetched.url, c.how, title=c.title, error="a feed with no entries")]
            return [Finding("feed", fetched.url, c.how, entries=len(entries), title=c.title)]
        return await _check_sitemap(http, c, fetched)
    except ParseError as exc:
        return [Finding(c.kind, fetched.url, c.how, title=c.title, error=exc.reason)]


async def _check_sitemap(http: HttpClient, c: _Candidate, fetched: Fetched) -> list[Finding]:
    articles, children = parse_sitemap(fetched)
    if not children:
        if not articles:
            return [Finding("sitemap", fetched.url, c.how, error="a sitemap with no URLs")]
        news = any(a.title for a in articles)  # only <news:news> gives a sitemap entry a title
        return [Finding("sitemap", fetched.url, c.how, entries=len(articles), news=news)]
    # An index: the daemon reads the first children, so judge those, news sitemaps first. A news child
    # is also offered on its own: it is small and changes with every story, unlike the whole index.
    chosen = sorted(children, key=lambda u: not _NEWSY.search(u))[:MAX_CHILDREN]

    async def child(url: str) -> list[Finding]:
        try:
            # One level only, as in the daemon: a child that is itself an index counts as empty.
            articles, _ = parse_sitemap(await http.fetch(url))
        except (FetchError, ParseError):
            return []
        news = any(a.title for a in articles)
        return [Finding("sitemap", url, INDEX, entries=len(articles), news=news)] if articles else []

    results = await asyncio.gather(*(child(u) for u in chosen))
    child_findings = [f for r in results for f in r]
    total = sum(f.entries for f in child_findings)
    index = Finding(
        "sitemap",
        fetched.url,
        c.how,
        entries=total,
        news=any(f.news for f in child_findings),
        index=True,
        error=None if total else "a sitemap index whose first sitemaps list no URLs",
    )
    return [index, *(f for f in child_findings if f.news)]


def _check_listing(page: Fetched, url: str) -> Finding:
    probe = Source(name="discover", kind="html", url=page.url, interval=300.0)
    try:
        links = parse_listing(page, probe)
    except ParseError as exc:
        return Finding("html", url, PAGE, error=exc.reason)
    if not links:
        return Finding("html", page.url, PAGE, error="no article links on the page")
    return Finding("html", page.url, PAGE, entries=len(links))


def _rank(findings: list[Finding]) -> list[Finding]:
    """Valid findings best first, one per URL and kind (redirects make several candidates one URL)."""
    seen: set[tuple[str, str]] = set()
    out: list[Finding] = []
    for f in sorted(findings, key=lambda f: (not f.ok, f.rank)):
        key = (f.kind, canonicalize(f.url) or f.url)
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
    return out
