"""What every notifier is: a named, configured sender of one alert, and the text hygiene they share.

A notifier never retries and never decides what "later" means: it makes one attempt and either returns the
receiver's answer or raises ``DeliveryError`` saying whether another attempt could help. Retry policy
lives in the outbox, so every kind gets the same backoff, dead letters and logging.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import aiohttp

from monitor.matching.text import term_spans
from monitor.model import Alert, Clock, Hit, SystemClock
from monitor.safe_text import one_line as one_line  # re-exported: every notifier's text hygiene


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryPolicy:
    """Options every notifier kind accepts (its ``Options`` derive from this).

    ``digest``: seconds; alerts wait for the end of the current window (aligned to the epoch) and go
    out together in one message. ``max_per_hour``: single messages allowed per clock hour; beyond that,
    alerts wait for the hour's digest instead of being dropped."""

    digest: float | None = None
    max_per_hour: int | None = None

    def problems(self) -> list[tuple[str, str]]:
        """``(key, message)`` for values valid in type but unusable (a webhook URL without http://):
        ``newsmon check`` and every start refuse them, instead of each delivery failing for a day.
        Kinds with checks of their own add them to these."""
        if self.max_per_hour is not None and self.max_per_hour < 1:
            # 0 or less would hold every alert for the hour's digest, which reads as alerts going nowhere.
            return [
                (
                    "max_per_hour",
                    f'must be 1 or more (remove it for no limit, or use digest = "1h"), '
                    f"got {self.max_per_hour}",
                )
            ]
        return []


def digest_id(alerts: list[Alert]) -> str:
    """A stable id for a digest of ``alerts``: a retry of the same digest carries the same id."""
    joined = "\0".join(sorted(a.id for a in alerts))
    return "digest-" + hashlib.sha256(joined.encode()).hexdigest()[:24]


class Notifier(ABC):
    """One configured ``[[notifiers]]`` entry.

    ``Options`` is a frozen slotted dataclass whose fields are exactly the TOML keys this kind accepts
    besides ``name`` and ``kind``; the config loader builds it generically from the field type hints.
    """

    kind: ClassVar[str]
    Options: ClassVar[type[DeliveryPolicy]]
    options: DeliveryPolicy  # each kind narrows it to its Options
    digest_limit: int = 50  # most alerts one digest message carries; more make several messages

    def __init__(
        self,
        name: str,
        options: Any,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(options, self.Options):
            raise TypeError(
                f"{type(self).__name__} needs {self.Options.__name__}, got {type(options).__name__}"
            )
        self.name = name
        self.options = options
        self._session = session
        self._clock: Clock = clock or SystemClock()

    @abstractmethod
    async def send(self, alert: Alert) -> str:
        """Deliver ``alert`` once. Returns the receiver's answer in a few words ("HTTP 200").

        Raises ``DeliveryError`` (and nothing else) when the receiver did not take it."""

    @abstractmethod
    async def send_digest(self, alerts: list[Alert]) -> str:
        """Deliver ``alerts`` (one of :meth:`digest_sizes`' batches) in one message, with ``send``'s
        contract."""

    def digest_sizes(self, alerts: list[Alert]) -> list[int]:
        """How many of ``alerts``, in order, each digest message carries: ``digest_limit`` at most. A
        notifier whose receiver limits a message's size too (Discord's embed characters) packs by that."""
        n = self.digest_limit
        return [min(n, len(alerts) - start) for start in range(0, len(alerts), n)]

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the notifier owns (never a session it was given)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def link(url: str) -> str | None:
    """``url`` if it is safe to render as a clickable link, else None.

    Article URLs come from crawled pages; a ``javascript:`` or ``data:`` URL must never become a link."""
    cleaned = one_line(url)
    try:
        scheme = urlsplit(cleaned).scheme.lower()
    except ValueError:
        return None
    return cleaned if scheme in ("http", "https") else None


def redact_url(url: str) -> str:
    """Only ``scheme://host[:port]/…``: webhook paths, queries and userinfo are often the credential."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    if not parts.scheme or not host:
        return "<invalid url>"
    return f"{parts.scheme}://{host}{port}/…"


def snippets(alert: Alert) -> list[tuple[str, str, list[str]]]:
    """Hits folded per (field, snippet), in order, with the distinct terms found there: several terms
    in one sentence read as one line, not the same sentence repeated."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for hit in alert.hits:
        terms = grouped.setdefault((hit.field, hit.snippet), [])
        if hit.term not in terms:
            terms.append(hit.term)
    return [(field, snippet, terms) for (field, snippet), terms in grouped.items()]


def highlight_spans(snippet: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Where any of ``terms`` shows in ``snippet``, found as the engine matches it
    (:func:`~monitor.matching.text.term_spans`); overlapping spans are merged, in order."""
    spans = [span for term in terms for span in term_spans(snippet, term)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def marked(
    snippet: str, terms: Iterable[str], escape: Callable[[str], str], mark: Callable[[str], str]
) -> str:
    """``snippet`` escaped for a format, with every term occurrence wrapped by ``mark`` (after escaping)."""
    out, at = [], 0
    for start, end in highlight_spans(snippet, terms):
        out += [escape(snippet[at:start]), mark(escape(snippet[start:end]))]
        at = end
    out.append(escape(snippet[at:]))
    return "".join(out)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def sample_alert(now: datetime | None = None) -> Alert:
    """A realistic alert for ``newsmon notify test`` and for tests."""
    now = now or datetime.now(UTC)
    return Alert(
        id="sample-0000000000000000",
        rule_id="newsmon-test",
        rule_title="newsmon test alert",
        story_key="0",
        url="https://example.org/news/newsmon-test",
        title="Test alert: your newsmon notifier works",
        source="newsmon",
        published=now,
        detected_at=now,
        hits=(
            Hit(
                term="newsmon", entity=None, field="title", start=12, end=19, snippet="your newsmon notifier"
            ),
        ),
    )
