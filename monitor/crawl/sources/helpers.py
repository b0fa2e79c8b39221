"""What every kind's parser shares: the body within its budget, text hygiene, one candidate per URL."""

from __future__ import annotations

import re
from collections.abc import Iterable

from monitor.config import HttpConfig
from monitor.errors import ParseError
from monitor.model import Candidate, Fetched

# Bodies from HttpClient arrive inflated within the source's max_bytes; this bounds gzip that reaches a
# parser some other way (nested, or bytes from a file) by the same default.
MAX_DECOMPRESSED = HttpConfig().max_bytes
MAX_TITLE = 500

_WS = re.compile(r"\s+")
# XML-illegal code points lxml refuses in text; U+FFFE/U+FFFF appear when feedparser sniffs a
# garbage body as UTF-32/UTF-16.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
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


def body_of(fetched: Fetched, expected: str) -> bytes:
    """The body, gzip undone within :data:`MAX_DECOMPRESSED`; ParseError when there is none."""
    from monitor.crawl.xmlsafe import GZIP_MAGIC, inflate  # deferred: see monitor.crawl.sources

    body = fetched.body
    if not body or not body.strip():
        raise ParseError(fetched.url, f"empty body, expected {expected}")
    if body[:2] == GZIP_MAGIC:
        body = inflate(body, MAX_DECOMPRESSED, fetched.url)
    return body


def collapse(text: str | None, limit: int | None = None) -> str | None:
    if not text:
        return None
    text = _WS.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[:limit].rstrip() + "…"
    return text or None


def html_to_text(fragment: str | None) -> str | None:
    """Visible text of an HTML fragment, whitespace collapsed; block boundaries become spaces."""
    if not fragment:
        return None
    if "<" not in fragment and "&" not in fragment:
        return collapse(fragment)
    import lxml.etree  # deferred: see monitor.crawl.sources
    import lxml.html

    fragment = _CONTROL.sub("", fragment)  # lxml refuses strings with XML-illegal characters
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return collapse(re.sub(r"<[^>]*>", " ", fragment))
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
        return collapse(re.sub(r"<[^>]*>", " ", fragment))
    return collapse(root.text_content())


def looks_like_html(head: bytes) -> bool:
    h = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return h.startswith((b"<!doctype html", b"<html")) or b"<html" in h[:1024] or b"<body" in h[:2048]


def dedupe(candidates: Iterable[Candidate]) -> list[Candidate]:
    seen: set[str] = set()
    out: list[Candidate] = []
    for c in candidates:
        if c.url not in seen:
            seen.add(c.url)
            out.append(c)
    return out


def decode_text(body: bytes, charset: str | None) -> str:
    """A JSON or plain-text body as text: BOM, then the declared charset, then UTF-8 (never raises)."""
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", "replace")
    if charset:
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return body.decode("utf-8", "replace")
