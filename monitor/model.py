"""The values that flow through the pipeline. Plain, frozen, slotted: no behaviour beyond derivation."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, get_args

DeliveryState = Literal["pending", "digest", "delivered", "dead"]  # digest: held for a batched send
# How one poll of a source ended: a label of newsmon_source_fetches_total and of the summary line.
PollOutcome = Literal["ok", "not_modified", "error"]
POLL_OUTCOMES: tuple[PollOutcome, ...] = get_args(PollOutcome)
# What became of one delivery attempt (held: waits for its digest; skipped: its notifier is gone).
DeliveryOutcome = Literal["delivered", "retry", "dead", "skipped", "held"]
FIELDS: tuple[str, ...] = ("title", "summary", "body")


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()


@dataclass(slots=True, frozen=True)
class Source:
    name: str
    kind: str  # a key of monitor.crawl.sources.REGISTRY
    url: str
    interval: float  # seconds
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    fetch_articles: bool = True
    schedule: Literal["fixed", "adaptive"] = "fixed"
    min_interval: float | None = None  # adaptive bounds; None: derived from interval (monitor.cadence)
    max_interval: float | None = None


@dataclass(slots=True, frozen=True)
class Fetched:
    """One HTTP answer. ``status`` is 304 (and ``body`` empty) when the validators still hold."""

    url: str  # final URL after redirects
    status: int
    body: bytes = b""
    content_type: str | None = None  # media type only, lower-case, e.g. "text/html"
    charset: str | None = None  # from the Content-Type header, if any
    etag: str | None = None
    last_modified: str | None = None
    fresh_until: float | None = None  # Unix time the response says it stays fresh (cache headers)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(slots=True, frozen=True)
class Candidate:
    """An article URL a source pointed at, with whatever metadata the source gave."""

    url: str  # canonicalized
    title: str | None = None
    summary: str | None = None
    published: datetime | None = None
    guid: str | None = None
    language: str | None = None  # the feed's (RSS <language>, Atom xml:lang, JSON Feed language)


@dataclass(slots=True, frozen=True)
class Article:
    url: str  # canonical URL: the article key
    source: str
    title: str
    body: str
    summary: str = ""
    published: datetime | None = None
    language: str | None = None
    fetched_url: str = ""


@dataclass(slots=True, frozen=True)
class Hit:
    term: str  # the rule's term as written ("@atacms" resolves to the alias that hit)
    entity: str | None  # entity name when the term came from one
    field: str  # title | summary | body
    start: int  # character offsets in the article field
    end: int
    snippet: str


@dataclass(slots=True, frozen=True)
class Match:
    """A rule that fired on an article. ``hits`` are worked out by ``report`` when first read: snippets
    cost more than deciding that the rule fired, and only the alert built from the match needs them."""

    rule_id: str
    rule_title: str
    report: Callable[[], tuple[Hit, ...]] = field(repr=False, compare=False)
    notify: tuple[str, ...] = ()  # empty: every notifier
    realert: float | None = None  # seconds after which the same story may alert this rule again; None: never

    @property
    def hits(self) -> tuple[Hit, ...]:
        return self.report()


@dataclass(slots=True, frozen=True)
class Alert:
    """What notifiers render. Persisted in the outbox as JSON before any delivery attempt."""

    id: str
    rule_id: str
    rule_title: str
    story_key: str
    url: str
    title: str
    source: str
    published: datetime | None
    detected_at: datetime
    hits: tuple[Hit, ...]
    also_seen_at: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class Delivery:
    """One (alert, notifier) delivery and where it stands."""

    alert_id: str
    notifier: str
    state: DeliveryState
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    created_at: float = field(default=0.0)
