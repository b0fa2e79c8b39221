"""What the page says about itself: title, publication date, canonical URL, language.

Read from ``<meta>`` tags, JSON-LD and the visible headline, in the order measured to be most often right
on the shared corpus; each falls back to what the listing (feed entry) said.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from monitor.crawl.urls import same_site
from monitor.dates import parse_date
from monitor.extract.nodes import clean
from monitor.model import Candidate

_ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "reportagenewsarticle",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "backgroundnewsarticle",
        "blogposting",
        "liveblogposting",
        "socialmediaposting",
        "webpage",
        "report",
    }
)
_DATE_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "og:published_time",
    "published_time",
    "article.published",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dc.date",
    "dcterms.issued",
    "dcterms.created",
    "date",
)
_MODIFIED_META = "article:modified_time"  # better than nothing: modified is rarely far from published
# " | Sport", " » News", " :: World": up to three words after a pipe-like separator, at the end.
_SECTION_SUFFIX = re.compile(r"\s+(?:[|»｜]|::)\s+((?:[^\s|»｜]+\s?){1,3})$")
_MAX_SECTIONS = 3
_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—·:»/]\s+|\s+::\s+|\s*[｜：]\s*")


def meta_map(tree: LexborHTMLParser) -> dict[str, str]:
    """First non-empty content per lower-cased ``property`` / ``name`` / ``itemprop`` / ``http-equiv``."""
    out: dict[str, str] = {}
    for node in tree.css("meta"):
        attrs = node.attributes
        content = attrs.get("content")
        if not content:
            continue
        for key in ("property", "name", "itemprop", "http-equiv"):
            name = attrs.get(key)
            if name:
                out.setdefault(name.strip().lower(), content.strip())
    return out


def _walk_ld(data: Any) -> Iterator[dict[str, Any]]:
    """Every JSON-LD object, descending into lists and ``@graph``."""
    if isinstance(data, list):
        for item in data:
            yield from _walk_ld(item)
    elif isinstance(data, dict):
        yield data
        graph = data.get("@graph")
        if graph is not None:
            yield from _walk_ld(graph)


def _ld_types(obj: dict[str, Any]) -> set[str]:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower() for k in kinds if isinstance(k, str)}


def json_ld_article(tree: LexborHTMLParser) -> dict[str, Any]:
    """The most article-like JSON-LD object (news types beat WebPage); {} when none."""
    best: dict[str, Any] = {}
    best_rank = 0
    for script in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text(deep=True) or "null")
        except ValueError:  # broken JSON-LD is common; the other sources still apply
            continue
        for obj in _walk_ld(data):
            kinds = _ld_types(obj)
            if not kinds & _ARTICLE_TYPES:
                continue
            rank = 1 if kinds <= {"webpage", "report"} else 2
            if rank > best_rank:
                best, best_rank = obj, rank
    return best


def _ld_str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if isinstance(value, list) and value:
        value = value[0]
    # JSON-LD is often filled from escaped HTML: "&#8216;" must read as a quote.
    return clean(unescape(value)) if isinstance(value, str) else ""


def _strip_site(title: str, site: str, *, aggressive: bool) -> str:
    """Drop a " | Site" suffix (or "Site | " prefix) and " | Section" suffixes from a title.

    A segment equal to og:site_name always goes. With ``aggressive`` (for ``<title>``, which nearly
    always carries the site name) a last segment at most half as long as the rest goes too.
    """
    seps = list(_TITLE_SEPARATORS.finditer(title))
    if not seps:
        return title
    first, last = seps[0], seps[-1]
    head, tail = title[: last.start()].strip(), title[last.end() :].strip()
    site_l = site.strip().lower()
    if site_l and tail.lower() == site_l:
        return _strip_section(head)
    if site_l and title[: first.start()].strip().lower() == site_l:
        return _strip_section(title[first.end() :].strip())
    if aggressive and head and len(tail) * 2 <= len(head):
        return _strip_section(head)
    return _strip_section(title)


def _strip_section(title: str) -> str:
    """Drop section names a CMS appends with a pipe: "Rooney retires | Sport | Football" -> "Rooney
    retires". Only pipe-like separators: " - " and ": " join parts of real headlines."""
    for _ in range(_MAX_SECTIONS):
        match = _SECTION_SUFFIX.search(title)
        if match is None or len(match.group(1)) > match.start():
            break
        title = title[: match.start()].rstrip()
    return title


def _h1(tree: LexborHTMLParser) -> str:
    """The page's single headline; several ``<h1>`` usually mean logos or teasers, so none is trusted."""
    found = tree.css("h1")
    texts = [t for t in (clean(h.text(deep=True, separator="")) for h in found) if t]
    return texts[0] if len(texts) == 1 else ""


def find_title(
    tree: LexborHTMLParser, meta: dict[str, str], ld: dict[str, Any], hint: Candidate | None
) -> str:
    # Measured on the fundus corpus: JSON-LD headline and the lone <h1> are the visible headline;
    # og:/twitter: titles are often rewritten for social media (and carry the site name).
    site = meta.get("og:site_name", "")
    title = _strip_site(_ld_str(ld, "headline"), site, aggressive=False) or _h1(tree)
    if title:
        return title
    for raw in (meta.get("og:title"), meta.get("twitter:title")):
        title = clean(raw)
        if title:
            return _strip_site(title, site, aggressive=False)
    node = tree.css_first("title")
    title = clean(node.text(deep=True)) if node is not None else ""
    if title:
        return _strip_site(title, site, aggressive=True)
    return clean(hint.title) if hint is not None and hint.title else ""


def find_published(
    tree: LexborHTMLParser, meta: dict[str, str], ld: dict[str, Any], hint: Candidate | None
) -> datetime | None:
    candidates: list[str | None] = [_ld_str(ld, "datePublished")]
    candidates += [meta.get(key) for key in _DATE_META]
    node = tree.css_first('[itemprop="datePublished"]')
    if node is not None:
        candidates.append(node.attributes.get("datetime") or node.attributes.get("content"))
    node = tree.css_first("time[datetime]")
    if node is not None:
        candidates.append(node.attributes.get("datetime"))
    candidates += [_ld_str(ld, "dateCreated"), meta.get(_MODIFIED_META), _ld_str(ld, "dateModified")]
    for value in candidates:
        parsed = parse_date(value)
        if parsed is not None:
            return parsed
    return hint.published if hint is not None else None


def _http_url(value: str | None, base: str) -> str | None:
    if not value or not value.strip():
        return None
    url = urljoin(base, value.strip())
    return url if urlsplit(url).scheme in ("http", "https") else None


def find_canonical(tree: LexborHTMLParser, meta: dict[str, str], page_url: str) -> str:
    """The page's canonical URL, trusted only within the page's own registrable domain: any page can
    name any URL, and the canonical becomes the alert's link and the seen-key that suppresses the
    real article. Syndicated copies on other sites are joined by their story fingerprint instead."""
    link = tree.css_first('link[rel="canonical"]')
    for claimed in (link.attributes.get("href") if link is not None else None, meta.get("og:url")):
        url = _http_url(claimed, page_url)
        if url is not None and same_site(url, page_url):
            return url
    return page_url


def find_language(tree: LexborHTMLParser, meta: dict[str, str]) -> str | None:
    root = tree.css_first("html")
    lang = clean(root.attributes.get("lang") or root.attributes.get("xml:lang")) if root else ""
    lang = lang or clean(meta.get("og:locale"))  # "ru_RU": rule matching reads its inflected forms
    lang = lang or clean(meta.get("content-language", "").split(",")[0])
    return lang or None
