"""OPML subscription lists in and out, so feed-reader users (Miniflux, FreshRSS, Feedly, Inoreader, …) can
bring their feeds and take them away.

Import reads every ``<outline>`` carrying an ``xmlUrl`` at any depth (readers nest feeds in category
folders, some several levels deep). The file comes from elsewhere, so it is parsed like any hostile XML:
no entity expansion, no DTD, no network. Export writes OPML 2.0 with one flat outline per feed source;
``title`` and ``text`` carry the source name so that importing an export gives back the same names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

import lxml.etree

from monitor.crawl import xmlsafe
from monitor.crawl.sources import REGISTRY as SOURCE_KINDS
from monitor.crawl.urls import canonicalize
from monitor.errors import ParseError
from monitor.model import Source

__all__ = [
    "MAX_OPML_BYTES",
    "OpmlFeed",
    "Skipped",
    "export_opml",
    "parse_opml",
    "subscribable",
    "unsubscribable_kinds",
]

MAX_OPML_BYTES = 20 * 1024 * 1024  # a list of ~100k feeds; anything bigger is not a subscription list
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str  # as written in the file (stripped); only http(s)
    title: str | None  # title, else text
    category: str | None  # enclosing folder names joined by " / "
    html_url: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    where: str  # the outline's title or URL
    reason: str


def parse_opml(data: bytes, where: str) -> tuple[list[OpmlFeed], list[Skipped]]:
    """Feeds in document order, the first of each URL kept, and what was skipped and why."""
    if len(data) > MAX_OPML_BYTES:
        raise ParseError(where, f"larger than {MAX_OPML_BYTES} bytes; not a subscription list")
    if _ENTITY_DECL.search(data):
        # libxml2 expands internal entities inside attributes, where all of OPML's data lives, even
        # with resolve_entities off; no reader's export declares entities, so refuse them outright.
        raise ParseError(where, "not OPML as feed readers write it: declares XML entities")
    try:
        root = xmlsafe.parse(data, where, recover=False)
    except ParseError as exc:
        raise ParseError(where, f"not OPML: {exc.reason}") from exc
    if root is None or _local(root.tag) != "opml":
        raise ParseError(where, "not OPML: the root element is not <opml>")
    body = next((el for el in root if _local(el.tag) == "body"), None)
    if body is None:
        raise ParseError(where, "not OPML: no <body>")

    feeds: list[OpmlFeed] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for outline, folders in _walk(body, ()):
        url = _attr(outline, "xmlurl")
        if url is None:
            continue
        title = _attr(outline, "title") or _attr(outline, "text")
        kind = (_attr(outline, "type") or "rss").lower()
        if "xpath" in kind:
            # FreshRSS scraping sources: xmlUrl is a web page, not a feed.
            skipped.append(Skipped(title or url, f"{kind} is a scraped page: use `newsmon sources add`"))
            continue
        # feed:// and feed:https:// are old browser conventions for "subscribe to this http URL".
        if url.lower().startswith("feed://"):
            url = "http://" + url[len("feed://") :]
        elif url.lower().startswith("feed:"):
            url = url[len("feed:") :]
        scheme = urlsplit(url).scheme
        if scheme.lower() not in ("http", "https") or not urlsplit(url).hostname:
            skipped.append(Skipped(title or url, "not an http(s) URL"))
            continue
        url = scheme.lower() + url[len(scheme) :]  # "HTTPS://" is valid but the config wants it plain
        key = canonicalize(url) or url
        if key in seen:
            skipped.append(Skipped(title or url, "duplicate URL"))
            continue
        seen.add(key)
        category = " / ".join(folders) or None
        feeds.append(OpmlFeed(url=url, title=title, category=category, html_url=_attr(outline, "htmlurl")))
    return feeds, skipped


def _walk(parent: lxml.etree._Element, folders: tuple[str, ...]) -> Iterable[tuple[object, tuple[str, ...]]]:
    for el in parent:
        if _local(el.tag) != "outline":
            continue
        yield el, folders
        if len(el):
            name = _attr(el, "title") or _attr(el, "text")
            yield from _walk(el, (*folders, name) if name else folders)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _attr(el: object, name: str) -> str | None:
    """Attribute by case-insensitive local name: exporters disagree on ``xmlUrl`` vs ``xmlurl``."""
    for key, value in el.attrib.items():  # type: ignore[attr-defined]
        if _local(key) == name:
            text = " ".join(str(value).split())
            return text or None
    return None


def subscribable(sources: Iterable[Source]) -> list[Source]:
    """The sources whose kind a feed reader subscribes to (``in_opml``: feeds)."""
    return [s for s in sources if SOURCE_KINDS[s.kind].in_opml]


def unsubscribable_kinds() -> str:
    """The kinds OPML leaves out, for saying so: "html/sitemap"."""
    return "/".join(name for name, kind in SOURCE_KINDS.items() if not kind.in_opml)


def export_opml(
    sources: Iterable[Source], *, title: str = "newsmon sources", now: datetime | None = None
) -> bytes:
    """OPML 2.0 of the sources a feed reader can subscribe to (:func:`subscribable`); the others have no
    place in a feed reader."""
    root = lxml.etree.Element("opml", version="2.0")
    head = lxml.etree.SubElement(root, "head")
    lxml.etree.SubElement(head, "title").text = title
    lxml.etree.SubElement(head, "dateCreated").text = format_datetime(now or datetime.now(UTC), usegmt=True)
    body = lxml.etree.SubElement(root, "body")
    for source in subscribable(sources):
        lxml.etree.SubElement(
            body, "outline", type="rss", text=source.name, title=source.name, xmlUrl=source.url
        )
    lxml.etree.indent(root, space="  ")
    document: bytes = lxml.etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return document
