"""Discover candidate article URLs in what a source returned: feeds, HTML listing pages, sitemaps.

Every parser takes bytes already fetched (:class:`~monitor.model.Fetched`), never touches the network
or the file system, and turns "this is not what it claims to be" into :class:`~monitor.errors.ParseError`
naming the URL. Inputs are hostile: bodies are size-capped upstream, gzip is capped here, XML entities
are never expanded and external entities / DTDs are never loaded.
"""

from __future__ import annotations

import calendar
import io
import json
import re
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.etree
import lxml.html
from bs4 import BeautifulSoup

from monitor.config import HttpConfig
from monitor.crawl import xmlsafe
from monitor.crawl.urls import canonicalize, matches_filters, same_site
from monitor.crawl.xmlsafe import GZIP_MAGIC, inflate, without_dtd
from monitor.dates import parse_date
from monitor.errors import ParseError
from monitor.extract import decode_html
from monitor.model import Candidate, Fetched, Source

__all__ = ["MAX_DECOMPRESSED", "parse_feed", "parse_listing", "parse_sitemap"]

# Bodies from HttpClient arrive inflated within the source's max_bytes; this bounds gzip that reaches a
# parser some other way (nested, or bytes from a file) by the same default.
MAX_DECOMPRESSED = HttpConfig().max_bytes
_MAX_ANCHORS = 20_000  # a hostile or generated page should not cost unbounded CPU
_MAX_TITLE = 500

_JSON_TYPES = frozenset({"application/feed+json", "application/json"})
_JSONFEED_PREFIX = "https://jsonfeed.org/version/"
_WS = re.compile(r"\s+")
# XML-illegal code points lxml refuses in text; U+FFFE/U+FFFF appear when feedparser sniffs a
# garbage body as UTF-32/UTF-16.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


# --- shared helpers -------------------------------------------------------------------------------


def _collapse(text: str | None, limit: int | None = None) -> str | None:
    if not text:
        return None
    text = _WS.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[:limit].rstrip() + "…"
    return text or None


_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)


def html_to_text(fragment: str | None) -> str | None:
    """Visible text of an HTML fragment, whitespace collapsed; block boundaries become spaces."""
    if not fragment:
        return None
    if "<" not in fragment and "&" not in fragment:
        return _collapse(fragment)
    fragment = _CONTROL.sub("", fragment)  # lxml refuses strings with XML-illegal characters
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return _collapse(re.sub(r"<[^>]*>", " ", fragment))
    for el in root.iter("script", "style", "noscript", "template"):
        tail = el.tail
        el.clear()
        el.tail = tail
    try:
        for el in root.iter():
            if isinstance(el.tag, str) and el.tag in _BLOCK_TAGS:
                el.tail = " " + (el.tail or "")
                el.text = " " + (el.text or "")
    except ValueError:
        # lxml can hand back text it then refuses to store (fuzz: a garbage body feedparser decoded
        # as UTF-32); the tag-stripped fragment is the best text there is.
        return _collapse(re.sub(r"<[^>]*>", " ", fragment))
    return _collapse(root.text_content())


def _looks_like_html(head: bytes) -> bool:
    h = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return h.startswith((b"<!doctype html", b"<html")) or b"<html" in h[:1024] or b"<body" in h[:2048]


def _dedupe(candidates: Iterable[Candidate]) -> list[Candidate]:
    seen: set[str] = set()
    out: list[Candidate] = []
    for c in candidates:
        if c.url not in seen:
            seen.add(c.url)
            out.append(c)
    return out


# --- feeds ----------------------------------------------------------------------------------------


def parse_feed(fetched: Fetched) -> list[Candidate]:
    """Candidates from an RSS 0.9x/1.0/2.0, Atom or JSON Feed body.

    Entries without an http(s) link are skipped; the same canonical URL twice keeps the first entry.
    A feed that parsed with errors but still gave entries is accepted. A body that is no feed at all
    raises :class:`ParseError`. A well-formed feed with no entries gives ``[]``.
    """
    where = fetched.url
    body = fetched.body
    if not body or not body.strip():
        raise ParseError(where, "empty body, expected a feed")
    if body[:2] == GZIP_MAGIC:
        body = inflate(body, MAX_DECOMPRESSED, where)
    if _is_json(fetched, body):
        return _parse_json_feed(fetched, body)

    entries, language = _feedparser_entries(fetched, without_dtd(body))
    return _candidates(entries, where, language)


def _feedparser_entries(fetched: Fetched, body: bytes) -> tuple[list[Any], str | None]:
    """The entries of a feed body, and the feed's language (RSS ``<language>``, Atom ``xml:lang``)."""
    where = fetched.url
    headers = {"content-location": fetched.url}
    if fetched.content_type:
        ctype = fetched.content_type
        headers["content-type"] = f"{ctype}; charset={fetched.charset}" if fetched.charset else ctype
    # A file-like object, never raw bytes/str: feedparser opens a str or bytes that names a local
    # file (a body of b"/dev/zero" would hang the daemon) and fetches a str that looks like a URL.
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except Exception as exc:
        # feedparser is decades of special cases over hostile input, and the fuzz tests keep finding
        # new exceptions deep inside it (an encoding name with \x80 or NUL, a malformed namespace
        # attribute in namespaces/_base.py): whatever it raises, the body is not a readable feed.
        raise ParseError(where, f"not a readable feed: {type(exc).__name__}: {exc}") from exc
    entries = parsed.get("entries") or []
    if not parsed.get("version") and not entries:
        raise ParseError(where, _not_a_feed_reason(body, parsed))
    return list(entries), _language(parsed.get("feed", {}).get("language"))


def _language(value: Any) -> str | None:
    """A language tag as a feed gives it ("ru-RU", "de"); a language tag is never long."""
    return value.strip()[:35] or None if isinstance(value, str) else None


def _candidates(entries: Iterable[Any], where: str, language: str | None) -> list[Candidate]:
    """Candidates from feedparser's entries, in ``language`` unless an entry says otherwise (an Atom
    entry's own ``xml:lang``, which feedparser gives on its title and summary)."""
    out: list[Candidate] = []
    for entry in entries:
        url = _entry_url(entry, where)
        if url is None:
            continue
        summary = entry.get("summary")
        if not summary and entry.get("content"):
            summary = entry["content"][0].get("value")
        out.append(
            Candidate(
                url=url,
                title=_collapse(html_to_text(entry.get("title")), _MAX_TITLE),
                summary=html_to_text(summary),
                # dict.get: FeedParserDict.get("updated_parsed") warns (DeprecationWarning) when
                # it falls back to published_parsed
                published=_struct_to_dt(
                    dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
                )
                or parse_date(dict.get(entry, "published") or dict.get(entry, "updated")),
                guid=_collapse(entry.get("id")),
                language=_entry_language(entry) or language,
            )
        )
    return _dedupe(out)


def _entry_language(entry: Any) -> str | None:
    for detail in ("title_detail", "summary_detail"):
        value = entry.get(detail)
        if isinstance(value, dict) and _language(value.get("language")):
            return _language(value.get("language"))
    return None


def _is_json(fetched: Fetched, body: bytes) -> bool:
    if fetched.content_type in _JSON_TYPES:
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _not_a_feed_reason(body: bytes, parsed: Any) -> str:
    if _looks_like_html(body[:4096]):
        return "an HTML page, not a feed (no RSS, RDF or Atom root element)"
    exc = parsed.get("bozo_exception")
    detail = f": {exc}" if exc else ""
    return f"not an RSS, RDF, Atom or JSON feed{detail}"


def _entry_url(entry: Any, base: str) -> str | None:
    candidates: list[str] = []
    if entry.get("link"):
        candidates.append(entry["link"])
    for link in entry.get("links") or []:
        if link.get("href") and link.get("rel", "alternate") == "alternate":
            candidates.append(link["href"])
    # RSS <guid isPermaLink="true"> and many Atom ids are the article URL when no link is given.
    guid = entry.get("id")
    if isinstance(guid, str) and guid.strip().lower().startswith(("http://", "https://")):
        candidates.append(guid)
    for raw in candidates:
        url = canonicalize(raw, base=base)
        if url is not None:
            return url
    return None


def _struct_to_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        # feedparser normalizes every date it understands to a UTC struct_time
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _parse_json_feed(fetched: Fetched, body: bytes) -> list[Candidate]:
    where = fetched.url
    text = _decode(body, fetched.charset)
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(where, f"invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ParseError(where, "JSON body is not an object, so not a JSON Feed")
    version = doc.get("version")
    items = doc.get("items")
    is_jsonfeed = isinstance(version, str) and version.startswith(_JSONFEED_PREFIX)
    if not isinstance(items, list) or (not is_jsonfeed and version is not None):
        raise ParseError(where, "JSON but not a JSON Feed (no jsonfeed.org version and items list)")

    out: list[Candidate] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        url = None
        for key in ("url", "external_url", "id"):
            raw = item.get(key)
            if isinstance(raw, str) and (key != "id" or raw.lower().startswith(("http://", "https://"))):
                url = canonicalize(raw, base=where)
                if url:
                    break
        if url is None:
            continue
        summary = _str(item.get("summary")) or _str(item.get("content_text"))
        summary_text = _collapse(summary) if summary else html_to_text(_str(item.get("content_html")))
        guid = item.get("id")
        out.append(
            Candidate(
                url=url,
                title=_collapse(_str(item.get("title")), _MAX_TITLE),
                summary=summary_text,
                published=parse_date(_str(item.get("date_published") or item.get("date_modified"))),
                guid=str(guid) if isinstance(guid, str | int) and not isinstance(guid, bool) else None,
                language=_language(item.get("language")) or _language(doc.get("language")),
            )
        )
    return _dedupe(out)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _decode(body: bytes, charset: str | None) -> str:
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", "replace")
    if charset:
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return body.decode("utf-8", "replace")


# --- HTML listing pages ---------------------------------------------------------------------------


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
    where = fetched.url
    if not fetched.body or not fetched.body.strip():
        raise ParseError(where, "empty body, expected an HTML listing page")
    body = fetched.body
    if body[:2] == GZIP_MAGIC:
        body = inflate(body, MAX_DECOMPRESSED, where)
    text = decode_html(body, fetched.charset)
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
    title = _collapse(a.get_text(" "), _MAX_TITLE)
    if title:
        return title
    attr = a.get("title")
    if isinstance(attr, str) and attr.strip():
        return _collapse(attr, _MAX_TITLE)
    img = a.find("img", alt=True)
    if img is not None:
        return _collapse(str(img.get("alt") or ""), _MAX_TITLE)
    return None


# --- sitemaps -------------------------------------------------------------------------------------


def parse_sitemap(fetched: Fetched) -> tuple[list[Candidate], list[str]]:
    """``(articles, child_sitemaps)`` from a sitemap: a ``<urlset>`` (with ``<lastmod>`` and Google News
    ``<news:news>`` title and publication date), a ``<sitemapindex>`` (child sitemap URLs, absolute,
    http(s) only, not canonicalized so they are fetched exactly as listed), or a plain-text sitemap
    (one URL per line). Gzip bodies are inflated up to :data:`MAX_DECOMPRESSED` bytes.
    """
    where = fetched.url
    body = fetched.body
    if not body or not body.strip():
        raise ParseError(where, "empty body, expected a sitemap")
    if body[:2] == GZIP_MAGIC:
        body = inflate(body, MAX_DECOMPRESSED, where)
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
    try:
        # recover: real sitemaps carry unescaped '&' and stray bytes; take what parses.
        root = xmlsafe.parse(body, where, recover=True)
    except ParseError as exc:
        raise ParseError(where, f"not a sitemap: {exc.reason}") from exc
    if root is None:
        reason = "an HTML page" if _looks_like_html(body[:4096]) else "unparseable XML"
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
                url = urljoin(where, loc)
            except ValueError:  # "http://[::1": not a URL at all
                continue
            # An index listing itself would only refetch the same body: dropped here, so a
            # self-referencing index costs one request, not one per child slot.
            if url == where:
                continue
            if urlsplit(url).scheme in ("http", "https") and url not in seen:
                seen.add(url)
                children.append(url)
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
                title = _collapse(_child_text(child, "title"), _MAX_TITLE)
                published = parse_date(_child_text(child, "publication_date"))
        if published is None:
            published = parse_date(_child_text(entry, "lastmod"))
        out.append(Candidate(url=url, title=title, published=published))
    return _dedupe(out), []


def _parse_text_sitemap(where: str, body: bytes, charset: str | None) -> list[Candidate]:
    lines = [ln.strip() for ln in _decode(body, charset).splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines or not lines[0].lower().startswith(("http://", "https://")):
        raise ParseError(where, "not a sitemap: neither XML nor a plain-text list of URLs")
    out = [Candidate(url=u) for u in (canonicalize(ln) for ln in lines) if u]
    return _dedupe(out)
