"""Discover candidate article URLs in what a source returned: feeds, HTML listing pages, sitemaps.

Every parser takes bytes already fetched (:class:`~monitor.model.Fetched`), never touches the network
or the file system, and turns "this is not what it claims to be" into :class:`~monitor.errors.ParseError`
naming the URL. Inputs are hostile: bodies are size-capped upstream, gzip is capped here, XML entities
are never expanded and external entities / DTDs are never loaded.
"""

from __future__ import annotations

import calendar
import contextlib
import io
import json
import re
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.urls as _fp_urls
import lxml.etree
import lxml.html
from bs4 import BeautifulSoup
from feedparser.api import StrictFeedParser as _FP_PARSER_CLASS
from feedparser.datetimes import _parse_date as _fp_parse_date
from feedparser.html import _cp1252 as _fp_cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.sanitizer import _sanitize_html as _fp_sanitize_html

from monitor.config import HttpConfig
from monitor.crawl import xmlsafe
from monitor.crawl.urls import canonicalize, matches_filters, same_site
from monitor.crawl.xmlsafe import GZIP_MAGIC, inflate, without_dtd
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
_fp_looks_like_html = _FeedParserMixin.looks_like_html
_fp_map_content_type = _FeedParserMixin.map_content_type
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


def _utc(dt: datetime) -> datetime:
    # A date without an offset is read as UTC: feeds and sitemaps rarely mean local server time,
    # and a consistent rule beats a guess.
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _parse_iso_date(text: str | None) -> datetime | None:
    """W3C datetime / RFC 3339 (``2024-05-03``, ``2024-05-03T15:47Z``, ``...+02:00``, fractions)."""
    if not text:
        return None
    text = text.strip()
    if not text:
        return None
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        pass
    # Forms fromisoformat refuses: "2024-05-03T15:47+0200", lower-case "t"/"z", 1-digit parts.
    m = re.fullmatch(
        r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?\s*"
        r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?",
        text,
    )
    if m is None:
        return None
    year, month, day, hour, minute, second, _z, sign, oh, om = m.groups()
    try:
        dt = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    if sign:
        offset = (int(oh) * 60 + int(om)) * (1 if sign == "+" else -1)
        return dt.replace(tzinfo=UTC) - timedelta(minutes=offset)
    return dt.replace(tzinfo=UTC)


# Month abbreviations of the languages whose feeds put localized names in RFC 822 dates (pt, es, fr,
# de, it, nl), which feedparser leaves unparsed: "Seg, 24 Set 2018 19:42:40 -0300".
_MONTH_ROWS = (
    "jan feb mar apr may jun jul aug sep oct nov dec",
    "jan fev mar abr mai jun jul ago set out nov dez",
    "ene feb mar abr may jun jul ago sep oct nov dic",
    "jan fév mar avr mai jui jul aoû sep oct nov déc",
    "jan feb mär apr mai jun jul aug sep okt nov dez",
    "gen feb mar apr mag giu lug ago set ott nov dic",
    "jan feb maa apr mei jun jul aug sep okt nov dec",
)
_MONTHS = {name: i for row in _MONTH_ROWS for i, name in enumerate(row.split(), 1)}
_MONTHS.update({"mrz": 3, "juin": 6, "juil": 7, "sept": 9})
_LOOSE_DATE = re.compile(
    r"(\d{1,2})\.?\s+([^\W\d_]{3,4})\w*\.?\s+(\d{2,4})\s+(\d{1,2}):?(\d{2})(?::(\d{2}))?"
    r"\s*(?:([+-])(\d{2}):?(\d{2}))?",
)


def _parse_loose_date(text: str | None) -> datetime | None:
    """Fallback for RFC 822-ish dates feedparser rejects: localized month names, ``1500`` times.

    Only a numeric offset is applied; a named zone (GMT, EST, ...) or none is read as UTC.
    """
    if not text:
        return None
    m = _LOOSE_DATE.search(text)
    if m is None:
        return None
    day, mon, year, hour, minute, second, sign, oh, om = m.groups()
    month = _MONTHS.get(mon.lower()[:4]) or _MONTHS.get(mon.lower()[:3])
    if month is None:
        return None
    y = int(year)
    y = y + 2000 if y < 70 else y + 1900 if y < 100 else y
    try:
        dt = datetime(y, month, int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC)
    except ValueError:
        return None
    if sign:
        dt -= timedelta(minutes=(int(oh) * 60 + int(om)) * (1 if sign == "+" else -1))
    return dt


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
    return _parse_feed(fetched, fast=True)


def _parse_feed_feedparser(fetched: Fetched) -> list[Candidate]:
    """:func:`parse_feed` without the lxml fast path: the reference the fast path must reproduce."""
    return _parse_feed(fetched, fast=False)


def _parse_feed(fetched: Fetched, *, fast: bool) -> list[Candidate]:
    where = fetched.url
    body = fetched.body
    if not body or not body.strip():
        raise ParseError(where, "empty body, expected a feed")
    if body[:2] == GZIP_MAGIC:
        body = inflate(body, MAX_DECOMPRESSED, where)
    if _is_json(fetched, body):
        return _parse_json_feed(fetched, body)

    body = without_dtd(body)
    entries = _fast_feed(fetched, body) if fast else None
    if entries is None:
        entries = _feedparser_entries(fetched, body)
    return _candidates(entries, where)


def _feedparser_entries(fetched: Fetched, body: bytes) -> list[Any]:
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
    return list(entries)


def _candidates(entries: Iterable[Any], where: str) -> list[Candidate]:
    """Candidates from feedparser-shaped entries (a FeedParserDict, or the fast path's plain dict)."""
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
                or _parse_loose_date(dict.get(entry, "published") or dict.get(entry, "updated")),
                guid=_collapse(entry.get("id")),
            )
        )
    return _dedupe(out)


# --- feeds: lxml fast path ------------------------------------------------------------------------
#
# feedparser's SAX state machine costs ~5x this on a clean feed. The fast path reads only feeds whose every
# entry element it understands, replays exactly the feedparser handlers that decide the fields
# _candidates reads (link, links, id, title, summary, content, published, updated), and reuses
# feedparser's own URL joining, HTML sanitizing and date parsing. Anything else returns None and
# feedparser reads the body: the equivalence test in tests/test_sources.py is the guard.

_RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RSS1_NS = frozenset({"http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/"})
_ATOM_NS = "http://www.w3.org/2005/Atom"
_DC_NS = "http://purl.org/dc/elements/1.1/"
_CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
# Only where feedparser decodes the bytes exactly as lxml does: a UTF-8 body with no other charset
# claimed. text/* without a charset is RFC 3023 us-ascii to feedparser, so it is left to it.
_FAST_CTYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml"}
)
_UTF8_NAMES = frozenset({"utf-8", "utf8"})
_XML_DECL = re.compile(rb"<\?xml\s[^>]*>")
_DECL_ENCODING = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})
_TEXT_TYPES = frozenset({"text/plain", "text/html"})
_ATOM_LINK_ATTRS = frozenset({"href", "rel", "type", "hreflang", "title", "length"})
# Entry fields _candidates reads (or that decide them): an unhandled element stored under one of
# these keys would change the result.
_FP_KEYS = frozenset(
    {"title", "link", "links", "id", "summary", "content", "published", "updated"}
    | {"published_parsed", "updated_parsed", "item", "entry", "source"}
)
# feedparser handlers that only fill keys of their own (authors, tags, enclosures, media_*).
_FP_HARMLESS = frozenset(
    {
        "author",
        "contributor",
        "name",
        "email",
        "uri",
        "category",
        "enclosure",
        "dc_creator",
        "dc_subject",
        "media_content",
        "media_thumbnail",
        "media_credit",
    }
)
_FP_NAMESPACES = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
_XMLNS_DECL = re.compile(rb"""xmlns:([^\s=]+)\s*=\s*["']([^"']*)["']""")


class _Unsupported(Exception):
    """Something the fast path does not replay exactly: feedparser reads the body instead."""


def _fast_feed(fetched: Fetched, body: bytes) -> list[dict[str, Any]] | None:
    """feedparser-shaped entries read with lxml, or None when only feedparser reads this body right."""
    if not _fast_encoding_ok(fetched, body):
        return None
    try:
        # Comments and PIs removed: expat reports no text for them either.
        root = xmlsafe.parse(body, fetched.url, recover=False)
    except (ParseError, lxml.etree.LxmlError, ValueError):
        return None
    # A DOCTYPE (even without an internal subset) makes feedparser define entities and versions.
    if root is None or root.getroottree().docinfo.doctype:
        return None
    base = _fp_urls.make_safe_absolute_uri("", fetched.url) or _fp_urls.make_safe_absolute_uri(fetched.url)
    if not base:
        return None
    prefixes = _doc_prefixes(body)
    if prefixes is None:
        return None
    try:
        entries = _fast_entries(root, base, prefixes)
    except _Unsupported:
        return None
    except Exception:
        # A hostile body that trips a helper (URL joining, the sanitizer, deep recursion) is
        # feedparser's to judge: its failures become ParseError there, never a crash here.
        return None
    # feedparser starts an entry at any <item>/<entry>, however nested; ours are only the expected
    # children of the root or channel, so a count mismatch means feedparser sees something else.
    if not entries or len(entries) != sum(1 for el in root.iter() if _is_entry_tag(el.tag)):
        return None
    return entries


def _is_entry_tag(tag: Any) -> bool:
    # feedparser matches lower-cased local names in any namespace it maps to the default prefix
    return isinstance(tag, str) and tag.rsplit("}", 1)[-1].lower() in ("item", "entry")


def _fast_encoding_ok(fetched: Fetched, body: bytes) -> bool:
    """Whether feedparser decodes this body as UTF-8 (or it is ASCII, where every decoding agrees)."""
    if fetched.charset and fetched.charset.strip().lower() not in _UTF8_NAMES:
        return False
    ctype = (fetched.content_type or "").strip().lower()
    if ctype and ctype not in _FAST_CTYPES and not fetched.charset:
        return False
    if not body.startswith(b"<"):  # BOMs, UTF-16/32, leading junk: feedparser's sniffing decides
        return False
    declared: str | None = None
    decl = _XML_DECL.match(body)
    if decl is not None:
        enc = _DECL_ENCODING.search(decl.group())
        if enc is not None:
            declared = enc.group(1).strip().lower().decode("ascii", "replace")
            if declared not in _UTF8_NAMES:
                return False
    # With no HTTP content type and no declared encoding feedparser reads the bytes as ISO-8859-1.
    return bool(ctype or fetched.charset or declared or body.isascii())


def _split(tag: Any) -> tuple[str, str]:
    if not isinstance(tag, str):
        raise _Unsupported
    if tag[:1] == "{":
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _attrs(el: Any) -> dict[str, str]:
    """Attributes as feedparser's strict parser hands them over: names lower-cased, rel/type values too."""
    out: dict[str, str] = {}
    for key, value in el.attrib.items():
        ns, name = _split(key)
        if ns == _XML_NS:
            name = "xml:" + name
        elif ns == _RDF_NS:
            name = "rdf:" + name
        elif ns:
            name = "{" + ns + "}" + name
        name = name.lower()
        out[name] = value.lower() if name in ("rel", "type") else value
    return out


def _enter(attrs: dict[str, str], base: str) -> str:
    """The base URI inside an element, tracked like feedparser (which honours a bare ``base`` too)."""
    new = attrs.get("xml:base", attrs.get("base"))
    if not new:
        return base
    return _fp_urls.make_safe_absolute_uri(base, new) or base


def _only(attrs: dict[str, str], allowed: frozenset[str] | tuple[str, ...], *, foreign: bool = False) -> None:
    for name in attrs:
        if name in allowed or name in ("xml:base", "xml:lang", "base") or (foreign and name[:1] == "{"):
            continue
        raise _Unsupported(name)


def _doc_prefixes(body: bytes) -> dict[str, str] | None:
    """Document prefixes bound to namespaces feedparser knows, mapped to its standard prefixes.

    feedparser remaps every element prefix through the declarations it has seen anywhere so far, so
    the whole body is scanned; a prefix bound to two different known namespaces is left to it.
    """
    out: dict[str, str] = {}
    for raw_prefix, raw_uri in _XMLNS_DECL.findall(body):
        std = _FP_NAMESPACES.get(raw_uri.decode("utf-8", "replace").lower())
        if std is None:
            continue
        prefix = raw_prefix.decode("utf-8", "replace")
        if out.setdefault(prefix, std) != std:
            return None
    return out


def _fp_key(el: Any, prefixes: dict[str, str]) -> str:
    """The name feedparser dispatches an element on (``_start_<key>``) and stores it under."""
    ns, local = _split(el.tag)
    local = local.lower()
    if not ns:
        return local
    if "backend.userland.com/rss" in ns.lower():
        raise _Unsupported(el.tag)
    std = _FP_NAMESPACES.get(ns.lower())
    if std is None:
        std = (el.prefix or "").lower()
        if not std:
            raise _Unsupported(el.tag)  # an unknown default namespace: feedparser uses the bare name
    std = prefixes.get(std, std)
    return f"{std}_{local}" if std else local


def _check_ignorable(el: Any, prefixes: dict[str, str]) -> None:
    """Raise unless feedparser would store this element (and its children) under keys of its own."""
    key = _fp_key(el, prefixes)
    if key in _FP_KEYS:
        raise _Unsupported(el.tag)
    if key not in _FP_HARMLESS and (
        hasattr(_FP_PARSER_CLASS, "_start_" + key) or hasattr(_FP_PARSER_CLASS, "_end_" + key)
    ):
        raise _Unsupported(el.tag)
    for child in el:
        _check_ignorable(child, prefixes)


def _leaf_text(el: Any) -> str:
    if len(el):
        raise _Unsupported  # markup inside a text element: feedparser turns it into xhtml
    return el.text or ""


def _fast_entries(root: Any, base: str, prefixes: dict[str, str]) -> list[dict[str, Any]]:
    ns, name = _split(root.tag)
    rattrs = _attrs(root)
    base = _enter(rattrs, base)
    if (ns, name) == ("", "rss"):
        items: list[tuple[Any, str]] = []
        for channel in root:
            if _split(channel.tag) != ("", "channel"):
                continue
            cbase = _enter(_attrs(channel), base)
            items.extend((item, cbase) for item in channel if _split(item.tag) == ("", "item"))
        return [_rss_entry(item, b, "", prefixes) for item, b in items]
    if (ns, name) == (_RDF_NS, "RDF"):
        out: list[dict[str, Any]] = []
        for item in root:
            ins, iname = _split(item.tag)
            if iname == "item" and ins in _RSS1_NS:
                out.append(_rss_entry(item, base, ins, prefixes))
        return out
    if (ns, name) == (_ATOM_NS, "feed"):
        entries = (entry for entry in root if _split(entry.tag) == (_ATOM_NS, "entry"))
        return [_atom_entry(entry, base, prefixes) for entry in entries]
    raise _Unsupported


def _fp_text(
    raw: str, base: str, *, element: str, ctype: str = "text/html", atom: bool = False, uri: bool = False
) -> str:
    """What feedparser's ``pop`` makes of an element's text (strict parser, UTF-8 document)."""
    out = raw.strip()
    if uri and out:
        out = _fp_urls._urljoin(base, out)
    if not atom and ctype == "text/plain" and _fp_looks_like_html(out):
        ctype = "text/html"
    # Plain text goes through feedparser's HTML rewriting unchanged; anything with markup or
    # entities is handed to the real thing, so the text html_to_text sees is the same.
    if (
        ctype in _HTML_TYPES
        and element in ("title", "description", "summary", "content")
        and ("<" in out or "&" in out or ">" in out)
    ):
        out = _fp_urls.resolve_relative_uris(out, base, "utf-8", ctype)
        out = _fp_sanitize_html(out, "utf-8", ctype)
    # feedparser's repair of UTF-8 read as Latin-1, then of C1 controls meant as windows-1252
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        out = out.encode("iso-8859-1").decode("utf-8")
    return out.translate(_fp_cp1252)


def _set_once(entry: dict[str, Any], seen: set[str], key: str, value: Any) -> None:
    # A second title/summary/date is where feedparser's depth bookkeeping decides: not replayed.
    if key in seen:
        raise _Unsupported(f"second {key}")
    seen.add(key)
    entry[key] = value


def _save_date(entry: dict[str, Any], seen: set[str], key: str, raw: str, base: str) -> None:
    value = _fp_text(raw, base, element=key)
    _set_once(entry, seen, key, value)
    entry[key + "_parsed"] = _fp_parse_date(value)


def _rss_entry(item: Any, base: str, ns: str, prefixes: dict[str, str]) -> dict[str, Any]:
    attrs = _attrs(item)
    _only(attrs, ("rdf:about",) if ns else ())
    base = _enter(attrs, base)
    entry: dict[str, Any] = {}
    seen: set[str] = set()
    if attrs.get("rdf:about"):
        entry["id"] = attrs["rdf:about"]
    has_content = False
    for child in item:
        cns, name = _split(child.tag)
        cattrs = _attrs(child)
        cbase = _enter(cattrs, base)
        if cns == ns and name == "title":
            _only(cattrs, ())
            value = _fp_text(_leaf_text(child), cbase, element="title", ctype="text/plain")
            _set_once(entry, seen, "title", value)
        elif cns == ns and name == "link":
            _only(cattrs, ())
            _set_once(entry, seen, "link", "")
            links = entry.setdefault("links", [])
            links.append({"rel": "alternate", "type": "text/html"})
            value = _fp_text(_leaf_text(child), cbase, element="link", uri=True)
            value = re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", value.replace("&amp;", "&"))
            entry["link"] = value
            if value:
                links[-1]["href"] = value
        elif cns == ns and name == "description":
            _only(cattrs, ())
            if "summary" in entry and not has_content:
                raise _Unsupported  # feedparser then reads it as content
            _set_once(entry, seen, "summary", _fp_text(_leaf_text(child), cbase, element="description"))
        elif (cns, name) == (_CONTENT_NS, "encoded"):
            _only(cattrs, ())
            has_content = True
            value = _fp_text(_leaf_text(child), cbase, element="content")
            _set_once(entry, seen, "content", [{"value": value}])
            entry.setdefault("summary", value)
        elif not ns and (cns, name) == ("", "guid"):
            _only(cattrs, ("ispermalink",))
            is_link = cattrs.get("ispermalink", "true") == "true"
            value = _fp_text(_leaf_text(child), cbase, element="id", uri=is_link)
            _set_once(entry, seen, "id", value)
            if is_link:
                entry.setdefault("link", value)
        elif not ns and (cns, name) == ("", "pubDate"):
            _only(cattrs, ())
            _save_date(entry, seen, "published", _leaf_text(child), cbase)
        elif (cns, name) == (_DC_NS, "date"):
            _only(cattrs, ())
            _save_date(entry, seen, "updated", _leaf_text(child), cbase)
        else:
            _check_ignorable(child, prefixes)
    return entry


def _atom_type(attrs: dict[str, str]) -> str:
    ctype = _fp_map_content_type(attrs.get("type", "text/plain"))
    if ctype not in _TEXT_TYPES:
        raise _Unsupported  # xhtml, base64 or media content
    return ctype


def _atom_entry(el: Any, base: str, prefixes: dict[str, str]) -> dict[str, Any]:
    attrs = _attrs(el)
    _only(attrs, ())
    base = _enter(attrs, base)
    entry: dict[str, Any] = {}
    seen: set[str] = set()
    has_content = False
    for child in el:
        cns, name = _split(child.tag)
        if cns != _ATOM_NS:
            _check_ignorable(child, prefixes)
            continue
        cattrs = _attrs(child)
        cbase = _enter(cattrs, base)
        if name == "title":
            _only(cattrs, ("type",))
            ctype = _atom_type(cattrs)
            value = _fp_text(_leaf_text(child), cbase, element="title", ctype=ctype, atom=True)
            _set_once(entry, seen, "title", value)
        elif name == "link":
            _only(cattrs, _ATOM_LINK_ATTRS, foreign=True)
            if "href" not in cattrs or len(child):
                raise _Unsupported
            link = dict(cattrs)
            link.pop("xml:base", None)
            link.pop("xml:lang", None)
            link.setdefault("rel", "alternate")
            link.setdefault("type", "application/atom+xml" if link["rel"] == "self" else "text/html")
            link["href"] = _fp_urls._urljoin(cbase, link["href"])
            entry.setdefault("links", []).append(link)
            if link["rel"] == "alternate" and _fp_map_content_type(link["type"]) in _HTML_TYPES:
                entry["link"] = link["href"]
        elif name == "id":
            _only(cattrs, ())
            value = _fp_text(_leaf_text(child), cbase, element="id", uri=True)
            _set_once(entry, seen, "id", value)
            entry.setdefault("link", value)
        elif name in ("published", "updated"):
            _only(cattrs, ())
            _save_date(entry, seen, name, _leaf_text(child), cbase)
        elif name == "summary":
            _only(cattrs, ("type",))
            if "summary" in entry and not has_content:
                raise _Unsupported
            ctype = _atom_type(cattrs)
            value = _fp_text(_leaf_text(child), cbase, element="summary", ctype=ctype, atom=True)
            _set_once(entry, seen, "summary", value)
        elif name == "content":
            _only(cattrs, ("type",))
            has_content = True
            ctype = _atom_type(cattrs)
            value = _fp_text(_leaf_text(child), cbase, element="content", ctype=ctype, atom=True)
            _set_once(entry, seen, "content", [{"value": value}])
            entry.setdefault("summary", value)
        else:
            _check_ignorable(child, prefixes)
    return entry


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
                published=_parse_iso_date(_str(item.get("date_published") or item.get("date_modified"))),
                guid=str(guid) if isinstance(guid, str | int) and not isinstance(guid, bool) else None,
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
                published = _parse_iso_date(_child_text(child, "publication_date"))
        if published is None:
            published = _parse_iso_date(_child_text(entry, "lastmod"))
        out.append(Candidate(url=url, title=title, published=published))
    return _dedupe(out), []


def _parse_text_sitemap(where: str, body: bytes, charset: str | None) -> list[Candidate]:
    lines = [ln.strip() for ln in _decode(body, charset).splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines or not lines[0].lower().startswith(("http://", "https://")):
        raise ParseError(where, "not a sitemap: neither XML nor a plain-text list of URLs")
    out = [Candidate(url=u) for u in (canonicalize(ln) for ln in lines) if u]
    return _dedupe(out)
