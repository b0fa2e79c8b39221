"""``kind = "html"``: a front or section page whose same-site links are the articles.

The last resort of discovery (links carry only a title), and the only kind every site has.
"""

from __future__ import annotations

import warnings
from typing import Any
from urllib.parse import urljoin, urlsplit

from monitor.crawl.charset import decode_html
from monitor.crawl.sources.base import Finding, How, Listing, Offer, Site, SourceKind
from monitor.crawl.sources.helpers import MAX_TITLE, body_of, collapse
from monitor.crawl.urls import canonicalize, matches_filters, same_site
from monitor.errors import ParseError
from monitor.model import Candidate, Fetched, Source

__all__ = ["ListingKind", "parse_listing"]

_MAX_ANCHORS = 20_000  # a hostile or generated page should not cost unbounded CPU


class ListingKind(SourceKind):
    kind = "html"
    rank = 3
    counts = ("link", "links")
    label = "article links"

    def parse(self, fetched: Fetched, source: Source) -> Listing:
        return Listing(parse_listing(fetched, source))

    async def offers(self, site: Site) -> list[Offer]:
        return [Offer(self, site.page.url, How.PAGE)] if site.page is not None and site.page_is_html else []

    async def judge(self, site: Site, offer: Offer, fetched: Fetched) -> list[Finding]:
        try:
            links = self.parse(fetched, self.probe(fetched.url))
        except ParseError as exc:
            return [Finding(self, site.url, offer.how, error=exc.reason)]
        if not links.candidates:
            return [Finding(self, fetched.url, offer.how, error="no article links on the page")]
        return [Finding(self, fetched.url, offer.how, entries=len(links.candidates))]


_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "sms:", "data:", "about:", "blob:", "file:", "ftp:")
# Files, not pages. Feeds and sitemaps are excluded too: they are sources, not articles.
_NON_ARTICLE_EXT = frozenset(
    [
        "jpg",
        "jpeg",
        "png",
        "gif",
        "webp",
        "avif",
        "svg",
        "ico",
        "bmp",
        "tif",
        "tiff",
        "heic",
        "pdf",
        "zip",
        "gz",
        "tgz",
        "bz2",
        "xz",
        "7z",
        "rar",
        "tar",
        "mp3",
        "mp4",
        "m4a",
        "m4v",
        "mov",
        "avi",
        "wmv",
        "webm",
        "ogg",
        "oga",
        "ogv",
        "wav",
        "flac",
        "aac",
        "mkv",
        "css",
        "js",
        "mjs",
        "json",
        "xml",
        "rss",
        "atom",
        "doc",
        "docx",
        "xls",
        "xlsx",
        "ppt",
        "pptx",
        "odt",
        "ods",
        "exe",
        "dmg",
        "apk",
        "msi",
        "iso",
        "woff",
        "woff2",
        "ttf",
        "eot",
    ]
)
# Path segments that make a URL an index of articles, not an article, when at most one segment
# (the tag or author name) follows: /tag/ukraine, /news/author/jane-doe, /category/world.
_INDEX_SEGMENTS = frozenset({"tag", "tags", "author", "authors", "category", "categories"})
# Segments that are never articles, wherever they sit: site search, accounts, subscription funnels.
_UTILITY_SEGMENTS = frozenset(
    {
        "search",
        "login",
        "logout",
        "signin",
        "sign-in",
        "signup",
        "sign-up",
        "register",
        "subscribe",
        "account",
    }
)


def _is_index_or_utility(path: str) -> bool:
    segments = [s for s in path.lower().split("/") if s]
    for i, seg in enumerate(segments):
        if seg in _UTILITY_SEGMENTS:
            return True
        if seg in _INDEX_SEGMENTS and len(segments) - i - 1 <= 1:
            return True
    return False


def _is_file(path: str) -> bool:
    last = path.rsplit("/", 1)[-1]
    if "." not in last:
        return False
    return last.rsplit(".", 1)[-1].lower() in _NON_ARTICLE_EXT


def parse_listing(fetched: Fetched, source: Source, *, limit: int = 500) -> list[Candidate]:
    """Same-site article links on an HTML front or section page, in page order, at most ``limit``.

    Honours ``<base href>``; drops menu links (inside ``<nav>``, ``<footer>``, ``role=navigation``),
    links to other sites (see :func:`~monitor.crawl.urls.same_site`),
    the page itself and the site root, non-http schemes, files (images, PDFs, media, feeds),
    tag/author/category index pages and search/account pages, then applies ``source.include`` and
    ``source.exclude``. The title is the anchor text (or its ``title`` attribute, or an image's alt).
    """
    from bs4 import BeautifulSoup  # deferred: see monitor.crawl.sources

    where = fetched.url
    text = decode_html(body_of(fetched, "an HTML listing page"), fetched.charset)
    if "<" not in text:
        raise ParseError(where, "no HTML markup in the body")
    with warnings.catch_warnings():
        # bs4 warns about XML-looking or URL-looking input; we parse whatever came, by design.
        warnings.simplefilter("ignore")
        soup = BeautifulSoup(text, "lxml")
    if soup.find(True) is None:
        raise ParseError(where, "no HTML elements in the body")

    base = fetched.url
    base_tag = soup.find("base", href=True)
    if base_tag is not None:
        href = str(base_tag.get("href") or "").strip()
        resolved = canonicalize(href, base=fetched.url) if href else None
        if resolved:
            # canonicalize drops a trailing slash; relative links need the directory form back
            raw = urljoin(fetched.url, href)
            base = raw if urlsplit(raw).scheme in ("http", "https") else base

    own = {u for u in (canonicalize(fetched.url), canonicalize(source.url)) if u}
    titles: dict[str, str | None] = {}
    untitled = 0  # past the limit we only keep scanning to give untitled (image) links a title
    for n, a in enumerate(soup.find_all("a", href=True)):
        if n >= _MAX_ANCHORS or (len(titles) >= limit and not untitled):
            break
        href = str(a.get("href") or "").strip()
        if not href or href.startswith("#") or href.lower().startswith(_SKIP_SCHEMES):
            continue
        if _in_navigation(a):
            continue
        url = canonicalize(href, base=base)
        if url is None or url in own:
            continue
        if not (same_site(url, source.url) or same_site(url, fetched.url)):
            continue
        path = urlsplit(url).path
        if path == "/" or _is_file(path) or _is_index_or_utility(path):
            continue
        if not matches_filters(url, source.include, source.exclude):
            continue
        if url in titles:
            if titles[url] is None:
                titles[url] = _anchor_title(a)
                untitled -= titles[url] is not None
            continue
        if len(titles) >= limit:
            continue
        titles[url] = _anchor_title(a)
        untitled += titles[url] is None
    return [Candidate(url=u, title=t) for u, t in titles.items()]


def _in_navigation(a: Any) -> bool:
    """Menus and footers link sections and service pages, not stories; fetching them costs a request
    per poll and yields pages that are not articles."""
    return any(p.name in ("nav", "footer") or p.get("role") == "navigation" for p in a.parents)


def _anchor_title(a: Any) -> str | None:
    title = collapse(a.get_text(" "), MAX_TITLE)
    if title:
        return title
    attr = a.get("title")
    if isinstance(attr, str) and attr.strip():
        return collapse(attr, MAX_TITLE)
    img = a.find("img", alt=True)
    if img is not None:
        return collapse(str(img.get("alt") or ""), MAX_TITLE)
    return None
