"""Text written by strangers (titles, snippets, URLs, error messages quoting them), made inert for output.

Everything newsmon shows a person passes through here at the point of output: a terminal, a mail
header, a chat message. What is removed cannot be seen anyway, or acts instead of being seen:

- C0/C1 controls (ESC starts terminal escape sequences, CR/LF start new header or log lines);
- bidirectional embeddings, overrides and isolates (U+202E makes ``moc.elpmaxe`` read as a trusted name);
- invisible format characters: zero-width spaces and joiners, word joiner, BOM, and the tag block
  (U+E0000-U+E007F, which can carry a whole hidden ASCII message).
"""

from __future__ import annotations

import json
import re

__all__ = ["header_text", "inert_json", "one_line", "terminal"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_CONTROL_KEEP_NEWLINES = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]+")
_BIDI_CHARS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLE_CHARS = "\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff\U000e0000-\U000e007f"
_BIDI = re.compile(f"[{_BIDI_CHARS}]+")
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS}]+")
# What ``json.dumps(..., ensure_ascii=False)`` leaves as it is although a terminal acts on it or hides it.
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f\u2028\u2029{_BIDI_CHARS}{_INVISIBLE_CHARS}]")
_SPACES = re.compile(r"\s+")
# "=?charset?Q?...?=" in a header is decoded by mail readers and by Python's own header parser, so CR/LF,
# ESC or U+202E hidden inside one would come back to life after every check on the plain text.
_ENCODED_WORD_START = re.compile(r"=\?")


def _visible(text: str) -> str:
    return _INVISIBLE.sub("", _BIDI.sub("", text))


def one_line(text: str | None, limit: int = 0) -> str:
    """``text`` on one line with no control, bidi or invisible characters; cut to ``limit`` (0: no cut)."""
    cleaned = _SPACES.sub(" ", _CONTROL.sub(" ", _visible(text or ""))).strip()
    if limit and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned


def terminal(text: str) -> str:
    """``text`` safe to print to a terminal: newlines kept, every other control, bidi and invisible
    character removed (tabs become a space)."""
    return _CONTROL_KEEP_NEWLINES.sub(" ", _visible(text))


def inert_json(encoded: str) -> str:
    """A JSON text with every control, bidi and invisible character written as its ``\\u`` escape: the
    same values to any JSON reader, inert where a person reads the line (``journalctl``, ``tail``)."""
    return _JSON_UNSAFE.sub(lambda m: json.dumps(m.group())[1:-1], encoded)


def header_text(text: str | None, limit: int = 250) -> str:
    """A mail header value: :func:`one_line`, and no RFC 2047 encoded word can start in it."""
    return _ENCODED_WORD_START.sub("= ?", one_line(text, limit))
