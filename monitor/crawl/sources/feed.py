"""``kind = "feed"``: RSS 0.9x/1.0/2.0, Atom and JSON Feed, read with feedparser (JSON Feed by hand).

Feeds carry the most per request (titles, summaries, dates), so discovery prefers them: linked from the
page, the URL itself, or a path sites commonly use.
"""

from __future__ import annotations

import calendar
import io
import json
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from monitor.cadence import feed_hints
from monitor.crawl.charset import decode_html
from monitor.crawl.sources.base import Hints, How, Listing, Offer, Site, SourceKind
from monitor.crawl.sources.helpers import (
    MAX_TITLE,
    body_of,
    collapse,
    decode_text,
    dedupe,
    html_to_text,
    looks_like_html,
)
from monitor.crawl.urls import canonicalize
from monitor.dates import parse_date
from monitor.errors import ParseError
from monitor.model import Candidate, Fetched, Source

__all__ = ["COMMON_FEED_PATHS", "FeedKind", "parse_feed"]

COMMON_FEED_PATHS = ("/feed", "/rss", "/rss.xml", "/feed.xml", "/atom.xml", "/index.xml", "/feed.json")
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/rdf+xml",
        "application/json",
    }
)
MAX_LINKED = 8  # feed links taken from one page; sites with a feed per tag list hundreds
_JSON_TYPES = frozenset({"application/feed+json", "application/json"})
_JSONFEED_PREFIX = "https://jsonfeed.org/version/"


class FeedKind(SourceKind):
    kind = "feed"
    rank = 0
    counts = ("entry", "entries")
    label = "feed"
    carries_text = True
    in_opml = True

    def parse(self, fetched: Fetched, source: Source) -> Listing:
        return Listing(parse_feed(fetched))

    def hints(self, fetched: Fetched, now: float) -> Hints:
        return feed_hints(fetched.body, now)

    async def offers(self, site: Site) -> list[Offer]:
        found: list[Offer] = []
        if site.page is not None:
            if site.page_is_html:
                found += _linked_feeds(self, site.page)
            else:
                # Someone pasted a feed URL: judge it as what it is.
                found.append(Offer(self, site.page.url, How.GIVEN))
        return found + [Offer(self, site.origin + path, How.GUESSED) for path in COMMON_FEED_PATHS]


def parse_feed(fetched: Fetched) -> list[Candidate]:
    """Candidates from an RSS 0.9x/1.0/2.0, Atom or JSON Feed body.

    Entries without an http(s) link are skipped; the same canonical URL twice keeps the first entry.
    A feed that parsed with errors but still gave entries is accepted. A body that is no feed at all
    raises :class:`ParseError`. A well-formed feed with no entries gives ``[]``.
    """
    body = body_of(fetched, "a feed")
    if _is_json(fetched, body):
        return _parse_json_feed(fetched, body)
    entries, language = _feedparser_entries(fetched, body)
    return _candidates(entries, fetched.url, language)


def _feedparser_entries(fetched: Fetched, body: bytes) -> tuple[list[Any], str | None]:
    """The entries of a feed body, and the feed's language (RSS ``<language>``, Atom ``xml:lang``)."""
    # deferred: see monitor.crawl.sources. xmlsafe first: importing it points feedparser at an expat
    # that refuses entity declarations.
    import feedparser

    from monitor.crawl.xmlsafe import without_dtd

    where = fetched.url
    body = without_dtd(body)
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
                title=collapse(html_to_text(entry.get("title")), MAX_TITLE),
                summary=html_to_text(summary),
                # dict.get: FeedParserDict.get("updated_parsed") warns (DeprecationWarning) when
                # it falls back to published_parsed
                published=_struct_to_dt(
                    dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
                )
                or parse_date(dict.get(entry, "published") or dict.get(entry, "updated")),
                guid=collapse(entry.get("id")),
                language=_entry_language(entry) or language,
            )
        )
    return dedupe(out)


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
    if looks_like_html(body[:4096]):
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
    text = decode_text(body, fetched.charset)
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
        summary_text = collapse(summary) if summary else html_to_text(_str(item.get("content_html")))
        guid = item.get("id")
        out.append(
            Candidate(
                url=url,
                title=collapse(_str(item.get("title")), MAX_TITLE),
                summary=summary_text,
                published=parse_date(_str(item.get("date_published") or item.get("date_modified"))),
                guid=str(guid) if isinstance(guid, str | int) and not isinstance(guid, bool) else None,
                language=_language(item.get("language")) or _language(doc.get("language")),
            )
        )
    return dedupe(out)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _linked_feeds(kind: FeedKind, page: Fetched) -> list[Offer]:
    """The page's ``<link rel="alternate">`` feeds."""
    from bs4 import BeautifulSoup  # deferred: see monitor.crawl.sources

    with warnings.catch_warnings():
        # bs4 warns on XML-looking input; whatever the page is, we only read its <link> elements.
        warnings.simplefilter("ignore")
        soup = BeautifulSoup(decode_html(page.body, page.charset), "lxml")
    base_tag = soup.find("base", href=True)
    base = urljoin(page.url, str(base_tag["href"])) if base_tag is not None else page.url
    out: list[Offer] = []
    for link in soup.find_all("link", href=True):
        rel: Any = link.get("rel") or []
        rels = {r.lower() for r in (rel if isinstance(rel, list) else str(rel).split())}
        media = str(link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" not in rels or media not in FEED_TYPES:
            continue
        href = urljoin(base, str(link["href"]).strip())
        if urlsplit(href).scheme not in ("http", "https"):
            continue
        title = str(link.get("title") or "").strip() or None
        out.append(Offer(kind, href, How.LINKED, title))
        if len(out) >= MAX_LINKED:
            break
    return out
