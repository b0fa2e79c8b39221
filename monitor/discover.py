"""Find the best way to watch a news site from any one of its pages: a feed, a sitemap, or the page.

Every source kind offers candidates (a feed the page links to, a sitemap robots.txt names, a path sites
commonly use, the page itself). Each is fetched with the daemon's own ``HttpClient`` (same robots.txt,
SSRF guard and caps) and judged by its kind with the daemon's own parser, so a candidate is offered only
if the daemon could poll it as it is. Ranking prefers what carries the most per request (each kind's
``rank``): feeds (titles, summaries, dates) over Google News sitemaps (titles, dates) over plain sitemaps
over scraping the page's links.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.crawl.http import HttpClient
from monitor.crawl.sources import REGISTRY, Finding, How, ListingKind, Offer, Site, ranked
from monitor.crawl.urls import canonicalize
from monitor.errors import FetchError, ParseError
from monitor.model import Fetched

__all__ = ["Discovery", "Finding", "How", "discover", "looked_for"]


@dataclass(slots=True)
class Discovery:
    url: str
    findings: list[Finding] = field(default_factory=list)  # every candidate checked, valid ones first
    page_error: str | None = None  # why the given URL itself could not be fetched (unreachable host, ...)

    @property
    def valid(self) -> list[Finding]:
        return [f for f in self.findings if f.ok]

    def best(self, kind: str | None = None) -> Finding | None:
        for finding in self.valid:
            if kind is None or finding.kind == kind:
                return finding
        return None


def looked_for() -> str:
    """What discovery looks for, best first: "feed, sitemap or article links"."""
    labels = [kind.label for kind in ranked()]
    return " or ".join([", ".join(labels[:-1]), labels[-1]]) if len(labels) > 1 else labels[0]


async def discover(url: str, http: HttpClient) -> Discovery:
    """Check every way to watch the site of ``url``; ``http`` must be open."""
    result = Discovery(url)
    page: Fetched | None = None
    try:
        page = await http.fetch(url)
    except FetchError as exc:
        result.page_error = exc.reason
        result.findings.append(Finding(REGISTRY[ListingKind.kind], url, How.PAGE, error=exc.reason))
    site = Site(url, page, http)
    offers = [offer for kind in REGISTRY.values() for offer in await kind.offers(site)]
    checked = await asyncio.gather(*(_check(site, offer) for offer in _unique(offers)))
    result.findings += [f for group in checked for f in group]
    result.findings = _rank(result.findings)
    return result


def _unique(offers: Iterable[Offer]) -> list[Offer]:
    seen: set[tuple[str, str]] = set()
    out: list[Offer] = []
    for offer in offers:
        key = (offer.kind, canonicalize(offer.url) or offer.url)
        if key not in seen:
            seen.add(key)
            out.append(offer)
    return out


async def _check(site: Site, offer: Offer) -> list[Finding]:
    try:
        # The page was fetched already; a pasted feed URL is both the page and the candidate.
        page = site.page
        fetched = page if page is not None and offer.url == page.url else await site.http.fetch(offer.url)
    except FetchError as exc:
        return [Finding(offer.of, offer.url, offer.how, title=offer.title, error=exc.reason)]
    try:
        return await offer.of.judge(site, offer, fetched)
    except ParseError as exc:
        return [Finding(offer.of, fetched.url, offer.how, title=offer.title, error=exc.reason)]


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
