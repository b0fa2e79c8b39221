"""A cheap look at how deeply a page nests, taken before any HTML parser sees it.

HTML parsers build the tree a page describes, however deep, and lexbor's cost grows with the square of
the depth: tens of thousands of nested ``<div>``s cost seconds of CPU, and everything after the parser
walks that tree again. Real pages nest a few dozen elements deep; one nesting thousands deep is hostile
or broken, and is refused before parsing.
"""

from __future__ import annotations

import re

from monitor.errors import ParseError

__all__ = ["MAX_DEPTH", "check_nesting", "nesting_depth"]

MAX_DEPTH = 5000

# Scripts, styles, comments and raw-text elements are skipped whole (their text may spell tags).
_TOKEN = re.compile(
    r"<!--.*?(?:-->|\Z)|<(script|style|textarea|title)\b.*?(?:</\1\s*>|\Z)|<(/?)([a-zA-Z][^\s/>]*)[^>]*?(/?)>",
    re.IGNORECASE | re.DOTALL,
)
# Elements that never hold others (void) or whose end tag the parser implies (optional): counting them
# would make ordinary unclosed <p>/<li> look deep.
_VOID = "area base br col embed hr img input link meta source track wbr param keygen frame basefont bgsound"
_IMPLIED_END = (
    "p li dt dd tr td th thead tbody tfoot option optgroup colgroup caption rb rt rtc rp html head body"
)
_NOT_COUNTED = frozenset(f"{_VOID} {_IMPLIED_END} body".split())


def nesting_depth(html: str, limit: int = MAX_DEPTH) -> int:
    """The deepest element nesting in ``html`` as its tags say (self-closed, void and implied-end
    elements not counted), scanning no further than the first point where it exceeds ``limit``."""
    depth = deepest = 0
    for match in _TOKEN.finditer(html):
        name = match.group(3)
        if name is None or match.group(4) or name.lower() in _NOT_COUNTED:
            continue
        if match.group(2):
            depth = max(0, depth - 1)
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


def check_nesting(html: str, where: str) -> None:
    """Raise ParseError if ``html`` nests deeper than :data:`MAX_DEPTH` elements.

    A page with fewer tags than that cannot nest deeper, and counting "<" costs a small fraction of a
    parse, so the scan runs only on the rare page with more tags than the limit."""
    if html.count("<") > MAX_DEPTH and nesting_depth(html) > MAX_DEPTH:
        raise ParseError(where, f"elements nested more than {MAX_DEPTH} deep: refused unparsed")
