"""The one way XML and compressed bodies from strangers are read: feeds, sitemaps, OPML.

- :func:`inflate` undoes gzip within a byte budget (the caller's ``max_bytes``), in steps, so a bomb is
  refused after at most one step past the budget.
- :func:`parse` is lxml with entity expansion, DTD loading, network access and huge trees off: whatever
  precedes the DOCTYPE, no entity is ever expanded, and libxml2's default depth limit holds.
- :func:`without_dtd` is for feedparser, whose strict parser is expat and expands internal entities: the
  whole DOCTYPE internal subset goes, wherever in the prolog it stands and however the file is encoded.
  Importing this module also points feedparser at :func:`create_parser`, an expat that refuses entity
  declarations, so a subset that got past :func:`without_dtd` still expands nothing.
"""

from __future__ import annotations

import codecs
import re
import xml.sax
import zlib
from typing import Any

import feedparser.api
import lxml.etree
from defusedxml.expatreader import DefusedExpatParser

from monitor.errors import ParseError

__all__ = ["GZIP_MAGIC", "InflatesTooFar", "create_parser", "inflate", "parse", "without_dtd"]

GZIP_MAGIC = b"\x1f\x8b"
_INFLATE_STEP = 1 << 20
_MAX_LAYERS = 3  # gzip inside gzip inside gzip: nothing real goes deeper

_PARSER_OPTS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "huge_tree": False,
    "load_dtd": False,
    "dtd_validation": False,
    "remove_comments": True,
    "remove_pis": True,
}


class InflatesTooFar(ParseError):
    """A gzip body that would exceed its byte budget once inflated."""


def inflate(data: bytes, limit: int, where: str) -> bytes:
    """``data`` with every gzip layer undone, refused (ParseError) as soon as it would exceed ``limit``."""
    for _ in range(_MAX_LAYERS):
        if data[:2] != GZIP_MAGIC:
            return data
        data = _gunzip(data, limit, where)
    if data[:2] == GZIP_MAGIC:
        raise ParseError(where, f"gzip nested more than {_MAX_LAYERS} deep")
    return data


def _gunzip(data: bytes, limit: int, where: str) -> bytes:
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    parts: list[bytes] = []
    size = 0
    pending = data
    try:
        # In 1 MB steps: one big max_length call allocates and then copies its whole output, so a
        # bomb would cost twice the cap in memory before it is refused.
        while pending and not d.eof:
            part = d.decompress(pending, min(_INFLATE_STEP, limit + 1 - size))
            pending = d.unconsumed_tail
            size += len(part)
            if size > limit:
                raise InflatesTooFar(where, f"gzip body inflates beyond max_bytes ({limit} bytes)")
            parts.append(part)
    except zlib.error as exc:
        raise ParseError(where, f"corrupt gzip body: {exc}") from exc
    if not d.eof:
        raise ParseError(where, "truncated or corrupt gzip body")
    return b"".join(parts)


def parse(body: bytes, where: str, *, recover: bool) -> Any:
    """The root element of ``body`` (None if ``recover`` found nothing), parsed with nothing expanded.

    The internal subset goes first: libxml2 expands internal entities inside attribute values even with
    ``resolve_entities`` off."""
    parser = lxml.etree.XMLParser(recover=recover, **_PARSER_OPTS)
    try:
        return lxml.etree.fromstring(without_dtd(body), parser=parser)
    except lxml.etree.XMLSyntaxError as exc:
        raise ParseError(where, f"unparseable XML: {exc}") from exc


# --- feedparser -----------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# "<?" or "<!" in UTF-16/32 without a BOM (XML 1.0 appendix F).
_NULL_PATTERNS = (
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)
_ENCODING_DECL = re.compile(rb"""(<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""", re.IGNORECASE)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_SUBSET_TOKEN = re.compile(rb"""\]|"[^"]*"|'[^']*'|<!--.*?-->""", re.DOTALL)


def _wide_encoding(body: bytes) -> tuple[str, int] | None:
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name, len(bom)
    for pattern, name in _NULL_PATTERNS:
        if body.startswith(pattern):
            return name, 0
    return None


def _as_utf8(body: bytes) -> bytes:
    """A UTF-16/32 body as UTF-8 with its declaration saying so: byte patterns below only see ASCII."""
    wide = _wide_encoding(body)
    if wide is None:
        return body
    name, skip = wide
    text = body[skip:].decode(name, "replace").encode("utf-8")
    return _ENCODING_DECL.sub(rb"\1\2utf-8\2", text, count=1)


def without_dtd(body: bytes) -> bytes:
    """``body`` without any DOCTYPE internal subset ("[...]", where entity declarations live).

    Feeds have no legitimate use for one. The subset is found by a quote-aware scan, so a "]>" inside
    an entity value cannot end the cut early, and at any distance from the start of the file."""
    body = _as_utf8(body)
    out: list[bytes] = []
    pos = 0
    for match in _DOCTYPE.finditer(body):
        if match.start() < pos:
            continue
        bracket = body.find(b"[", match.end())
        close = body.find(b">", match.end())
        if bracket < 0 or (0 <= close < bracket):
            continue  # a DOCTYPE without an internal subset declares nothing
        end = _subset_end(body, bracket + 1)
        out.append(body[pos : match.start()])
        pos = end
    out.append(body[pos:])
    return b"".join(out) if len(out) > 1 else body


def _subset_end(body: bytes, start: int) -> int:
    """Where the DOCTYPE whose internal subset starts at ``start`` ends (past its ">"), or the body's end."""
    for token in _SUBSET_TOKEN.finditer(body, start):
        if token.group() == b"]":
            close = body.find(b">", token.end())
            return len(body) if close < 0 else close + 1
    return len(body)


class _NoEntitiesParser(DefusedExpatParser):  # type: ignore[misc]
    """defusedxml's expat, failing the way feedparser expects (a SAX error), so it falls back to its
    loose parser, which leaves undeclared references as text, instead of propagating ValueError."""

    def defused_entity_decl(self, name: str, *args: object) -> None:
        raise xml.sax.SAXParseException(f"entity {name!r} declared: entities are not expanded", None, self)

    def defused_unparsed_entity_decl(self, name: str, *args: object) -> None:
        raise xml.sax.SAXParseException(f"entity {name!r} declared: entities are not expanded", None, self)

    def defused_external_entity_ref_handler(self, context: str, *args: object) -> None:
        raise xml.sax.SAXParseException("external entity reference: not loaded", None, self)


def create_parser(*args: Any, **kwargs: Any) -> _NoEntitiesParser:
    """The SAX driver entry point ``xml.sax.make_parser`` looks for in a module named in its list."""
    return _NoEntitiesParser(*args, forbid_dtd=False, forbid_entities=True, forbid_external=True, **kwargs)


# feedparser asks xml.sax.make_parser for the drivers in this list first, by module name.
feedparser.api.PREFERRED_XML_PARSERS[:] = [__name__]
