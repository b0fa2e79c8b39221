"""Text of the parsed page, as every part of extraction reads it: whitespace collapsed, links counted."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

# C0 controls other than tab, LF, FF, CR, plus U+FFFD (what undecodable bytes became).
_BINARY_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\ufffd]")


def clean(text: str | None) -> str:
    """Collapse all whitespace (incl. NBSP and newlines from source formatting) to single spaces."""
    # str.split() splits on exactly the characters re's Unicode \s matches (both use str.isspace), and is
    # cheaper than a regex substitution plus strip on the hot path.
    return " ".join(text.split()) if text else ""


def looks_binary(text: str) -> bool:
    """NUL bytes or a high share of control/replacement characters: not an HTML page."""
    head = text[:2048]
    if "\x00" in head:
        return True
    return len(_BINARY_CHARS.findall(head)) > len(head) // 10


def node_text(node: LexborNode) -> str:
    # separator="" keeps "<b>North Korean</b> troops" one phrase; source newlines become spaces.
    return clean(node.text(deep=True, separator=""))


def link_chars(node: LexborNode) -> int:
    return sum(len(node_text(a)) for a in node.css("a"))
