"""Jinja filters: times, durations, safe links and highlighted snippets. Output is escaped by the
templates' autoescape; these only shape values."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from monitor.matching.text import term_spans


def when(value: float | datetime | None) -> str:
    """A moment in UTC, to the minute: "2026-12-03 14:35 UTC"."""
    if value is None:
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    """A span for people: "45s", "12m", "3.5h", "2d"."""
    if seconds is None:
        return "—"
    seconds = abs(seconds)
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f}".removesuffix(".0") + unit
    return f"{seconds:.0f}s"


def href(url: str | None) -> str | None:
    """``url`` if a browser may follow it from the console (http or https), else None: an article's URL
    is hostile input, and ``javascript:`` survives HTML escaping."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def marked(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, highlighted) at ``spans`` (sorted, disjoint offsets)."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for start, end in spans:
        if start < at or end > len(text):
            continue
        if start > at:
            pieces.append((text[at:start], False))
        pieces.append((text[start:end], True))
        at = end
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


def snippet_marks(snippet: str, term: str) -> list[tuple[str, bool]]:
    """A hit's snippet with its term marked where the engine would find it."""
    return marked(snippet, term_spans(snippet, term))


FILTERS: dict[str, Callable[..., Any]] = {
    "when": when,
    "duration": duration,
    "href": href,
    "snippet_marks": snippet_marks,
}
