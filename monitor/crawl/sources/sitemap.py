"""``kind = "sitemap"``: ``<urlset>`` (Google News ``<news:news>`` titles and dates), ``<sitemapindex>``
and plain-text sitemaps.

Discovery finds them in robots.txt and at common paths; a Google News sitemap ranks next to feeds.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from monitor.crawl.robots import parse_robots
from monitor.crawl.sources.base import Finding, How, Listing, Offer, Site, SourceKind
from monitor.crawl.sources.helpers import MAX_TITLE, body_of, collapse, decode_text, dedupe, looks_like_html
from monitor.crawl.urls import canonicalize
from monitor.dates import parse_date
from monitor.errors import FetchError, ParseError
from monitor.model import Candidate, Fetched, Source

__all__ = ["COMMON_SITEMAP_PATHS", "SitemapKind", "parse_sitemap"]

COMMON_SITEMAP_PATHS = ("/news-sitemap.xml", "/sitemap_news.xml", "/sitemap.xml")
MAX_ROBOTS_SITEMAPS = 8
MAX_CHILDREN = 3  # child sitemaps of an index opened to judge it
_NEWSY = re.compile(r"news", re.IGNORECASE)


class SitemapKind(SourceKind):
    kind = "sitemap"
    rank = 2  # a Google News sitemap: one better
    counts = ("URL", "URLs")
    label = "sitemap"

    def parse(self, fetched: Fetched, source: Source) -> Listing:
        articles, children = parse_sitemap(fetched)
        return Listing(articles, children)

    async def offers(self, site: Site) -> list[Offer]:
        found: list[Offer] = []
        if site.page is not None and not site.page_is_html:
            # Someone pasted a sitemap URL: judge it as what it is.
            found.append(Offer(self, site.page.url, How.GIVEN))
        found += [Offer(self, url, How.ROBOTS) for url in await _robots_sitemaps(site)]
        return found + [Offer(self, site.origin + path, How.GUESSED) for path in COMMON_SITEMAP_PATHS]

    async def judge(self, site: Site, offer: Offer, fetched: Fetched) -> list[Finding]:
        articles, children = parse_sitemap(fetched)
        if not children:
            if not articles:
                return [Finding(self, fetched.url, offer.how, error="a sitemap with no URLs")]
            news = any(a.title for a in articles)  # only <news:news> gives a sitemap entry a title
            return [Finding(self, fetched.url, offer.how, entries=len(articles), news=news)]
        # An index: the daemon reads the first children, so judge those, news sitemaps first. A news child
        # is also offered on its own: it is small and changes with every story, unlike the whole index.
        chosen = sorted(children, key=lambda u: not _NEWSY.search(u))[:MAX_CHILDREN]

        async def child(url: str) -> list[Finding]:
            try:
                # One level only, as in the daemon: a child that is itself an index counts as empty.
                articles, _ = parse_sitemap(await site.http.fetch(url))
            except (FetchError, ParseError):
                return []
            news = any(a.title for a in articles)
            return [Finding(self, url, How.INDEX, entries=len(articles), news=news)] if articles else []

        results = await asyncio.gather(*(child(u) for u in chosen))
        child_findings = [f for r in results for f in r]
        total = sum(f.entries for f in child_findings)
        index = Finding(
            self,
            fetched.url,
            offer.how,
            entries=total,
            news=any(f.news for f in child_findings),
            index=True,
            error=None if total else "a sitemap index whose first sitemaps list no URLs",
        )
        return [index, *(f for f in child_findings if f.news)]


async def _robots_sitemaps(site: Site) -> list[str]:
    try:
        fetched = await site.http.fetch(site.origin + "/robots.txt", robots=False)
    except FetchError:
        return []
    return parse_robots(fetched.body, site.origin).sitemaps()[:MAX_ROBOTS_SITEMAPS]


def parse_sitemap(fetched: Fetched) -> tuple[list[Candidate], list[str]]:
    """``(articles, child_sitemaps)`` from a sitemap: a ``<urlset>`` (with ``<lastmod>`` and Google News
    ``<news:news>`` title and publication date), a ``<sitemapindex>`` (child sitemap URLs, absolute,
    http(s) only, not canonicalized so they are fetched exactly as listed), or a plain-text sitemap
    (one URL per line).
    Gzip bodies are inflated up to :data:`~monitor.crawl.sources.helpers.MAX_DECOMPRESSED` bytes.
    """
    where = fetched.url
    body = body_of(fetched, "a sitemap")
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return _parse_xml_sitemap(where, body)
    return _parse_text_sitemap(where, body, fetched.charset), []


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def _child_text(el: Any, name: str) -> str | None:
    for child in el:
        if _local(child.tag) == name:
            return (child.text or "").strip() or None
    return None


def _parse_xml_sitemap(where: str, body: bytes) -> tuple[list[Candidate], list[str]]:
    from monitor.crawl import xmlsafe  # deferred: see monitor.crawl.sources

    try:
        # recover: real sitemaps carry unescaped '&' and stray bytes; take what parses.
        root = xmlsafe.parse(body, where, recover=True)
    except ParseError as exc:
        raise ParseError(where, f"not a sitemap: {exc.reason}") from exc
    if root is None:
        reason = "an HTML page" if looks_like_html(body[:4096]) else "unparseable XML"
        raise ParseError(where, f"not a sitemap: {reason}")
    kind = _local(root.tag)
    if kind == "sitemapindex":
        children: list[str] = []
        seen: set[str] = set()
        for sm in root:
            if _local(sm.tag) != "sitemap":
                continue
            loc = _child_text(sm, "loc")
            if not loc:
                continue
            try:
                child = urljoin(where, loc)
            except ValueError:  # "http://[::1": not a URL at all
                continue
            # An index listing itself would only refetch the same body: dropped here, so a
            # self-referencing index costs one request, not one per child slot.
            if child == where:
                continue
            if urlsplit(child).scheme in ("http", "https") and child not in seen:
                seen.add(child)
                children.append(child)
        return [], children
    if kind != "urlset":
        raise ParseError(where, f"not a sitemap: root element is <{kind or root.tag}>, not <urlset>")

    out: list[Candidate] = []
    for entry in root:
        if _local(entry.tag) != "url":
            continue
        loc = _child_text(entry, "loc")
        url = canonicalize(loc, base=where) if loc else None
        if url is None:
            continue
        title: str | None = None
        published: datetime | None = None
        for child in entry:
            if _local(child.tag) == "news":
                title = collapse(_child_text(child, "title"), MAX_TITLE)
                published = parse_date(_child_text(child, "publication_date"))
        if published is None:
            published = parse_date(_child_text(entry, "lastmod"))
        out.append(Candidate(url=url, title=title, published=published))
    return dedupe(out), []


def _parse_text_sitemap(where: str, body: bytes, charset: str | None) -> list[Candidate]:
    lines = [ln.strip() for ln in decode_text(body, charset).splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines or not lines[0].lower().startswith(("http://", "https://")):
        raise ParseError(where, "not a sitemap: neither XML nor a plain-text list of URLs")
    out = [Candidate(url=u) for u in (canonicalize(ln) for ln in lines) if u]
    return dedupe(out)
