"""Source kinds: one class per ``kind`` of ``[[sources]]``, looked up by name in the registry below.

Each kind reads what a source returned (bytes already fetched, never the network or the file system) into
candidate article URLs, and tells discovery where to look for one and how much it is worth. Inputs are
hostile: bodies are size-capped upstream, gzip is capped here, XML entities are never expanded and
external entities / DTDs are never loaded. A body that is not what it claims to be is a
:class:`~monitor.errors.ParseError` naming the URL.

The config loader looks kinds up, so these modules import their parsing libraries (feedparser, lxml,
BeautifulSoup) at first parse: ``newsmon check``, and a run whose sources all answer 304, never pay for
them.

A new kind is one module with a :class:`SourceKind` subclass (``kind``, ``rank``, ``counts``, ``label``,
``parse``; ``offers`` to be found by ``sources add``) and one line in ``REGISTRY``; the config, the pipeline,
discovery and the CLI find it there (``tests/toy_kinds.py`` is one, ``tests/test_kind_registries.py`` runs
it).
"""

from __future__ import annotations

from monitor.crawl.sources.base import Finding, How, Listing, Offer, Site, SourceKind
from monitor.crawl.sources.feed import FeedKind, parse_feed
from monitor.crawl.sources.helpers import MAX_DECOMPRESSED, html_to_text
from monitor.crawl.sources.listing import ListingKind, parse_listing
from monitor.crawl.sources.sitemap import SitemapKind, parse_sitemap

REGISTRY: dict[str, SourceKind] = {
    FeedKind.kind: FeedKind(),
    SitemapKind.kind: SitemapKind(),
    ListingKind.kind: ListingKind(),
}


def ranked() -> list[SourceKind]:
    """Every kind, the one discovery prefers first."""
    return sorted(REGISTRY.values(), key=lambda kind: kind.rank)


__all__ = [
    "MAX_DECOMPRESSED",
    "REGISTRY",
    "FeedKind",
    "Finding",
    "How",
    "Listing",
    "ListingKind",
    "Offer",
    "Site",
    "SitemapKind",
    "SourceKind",
    "html_to_text",
    "parse_feed",
    "parse_listing",
    "parse_sitemap",
    "ranked",
]
