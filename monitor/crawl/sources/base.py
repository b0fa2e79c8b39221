"""What every source kind is: how its listing is read, and how ``sources add`` finds and ranks one.

A kind is stateless: one instance serves every ``[[sources]]`` entry of that ``kind``. Its ``parse`` takes
bytes already fetched and never touches the network; discovery (``offers``, ``judge``) may fetch, through
the ``HttpClient`` it is given, so a candidate is offered only if the daemon could poll it as it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from monitor.model import Candidate, Fetched, Source

if TYPE_CHECKING:
    from monitor.crawl.http import HttpClient


@dataclass(frozen=True, slots=True)
class Listing:
    """What one fetched listing gave: candidate articles, and more listings of the same kind to read for
    this poll (a sitemap index's sitemaps). Those are read one level deep: their own ``more`` is ignored."""

    candidates: list[Candidate]
    more: list[str] = field(default_factory=list)


# What a schedule learns from a listing: no poll before this Unix time, and the UTC hours to skip.
Hints = tuple[float | None, tuple[int, ...] | None]


class How(StrEnum):
    """How discovery came upon a candidate, best first: what the site itself points at beats what we
    guessed. The value is how ``sources add`` prints it."""

    GIVEN = "the URL itself"
    LINKED = "linked from the page"
    ROBOTS = "robots.txt"
    INDEX = "listed in a sitemap index"
    GUESSED = "common path"
    PAGE = "the page itself"

    @property
    def rank(self) -> int:
        return _HOW_ORDER.index(self)


_HOW_ORDER = list(How)


@dataclass(frozen=True, slots=True)
class Site:
    """What discovery knows when it asks each kind for candidates."""

    url: str  # as the user gave it
    page: Fetched | None  # that URL fetched; None when it could not be
    http: HttpClient

    @property
    def origin(self) -> str:
        parts = urlsplit(self.page.url if self.page is not None else self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def page_is_html(self) -> bool:
        page = self.page
        if page is None:
            return False
        if page.content_type in ("text/html", "application/xhtml+xml"):
            return True
        return page.body[:1024].lstrip().lower().startswith((b"<!doctype html", b"<html"))


@dataclass(frozen=True, slots=True)
class Offer:
    """A URL that may be a source of the kind ``of``, before it is checked."""

    of: SourceKind
    url: str
    how: How
    title: str | None = None

    @property
    def kind(self) -> str:
        return self.of.kind


@dataclass(frozen=True, slots=True)
class Finding(Offer):
    """An offer and what checking it showed. ``error`` is None when the daemon could poll it."""

    error: str | None = None
    entries: int = 0
    news: bool = False  # a sitemap with Google News <news:news> entries
    index: bool = False  # a sitemap index: the daemon polls it and its first children

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def worth_reporting(self) -> bool:
        """A failure the user should hear of: a linked feed or a robots.txt sitemap that fails is news;
        guessed paths that 404 are noise."""
        return not self.ok and self.how in (How.LINKED, How.ROBOTS, How.PAGE)

    @property
    def rank(self) -> tuple[int, bool, int, int]:
        # A news sitemap on its own beats the index that lists it: one small request per poll.
        return (self.of.rank - (1 if self.news else 0), self.index, self.how.rank, -self.entries)

    def describe(self) -> str:
        one, many = self.of.counts
        bits: list[str] = [self.how]
        if self.error is None:
            bits.append(f"{self.entries} {one if self.entries == 1 else many}")
        if self.news:
            bits.append("Google News")
        if self.title:
            bits.append(repr(self.title))
        return ", ".join(bits)


class SourceKind(ABC):
    """One ``kind`` of ``[[sources]]``, registered in ``monitor.crawl.sources.REGISTRY``."""

    kind: ClassVar[str]
    # Discovery prefers the lowest: what one request carries (titles, summaries, dates) per poll.
    rank: ClassVar[int]
    counts: ClassVar[tuple[str, str]]  # what discovery counts in one, singular and plural
    label: ClassVar[str]  # what ``sources add`` says it looked for ("feed", "article links")
    # Its entries carry the article's text, so ``fetch_articles = false`` can skip the article pages.
    carries_text: ClassVar[bool] = False
    in_opml: ClassVar[bool] = False  # feed readers subscribe to it: ``sources export`` lists it

    @abstractmethod
    def parse(self, fetched: Fetched, source: Source) -> Listing:
        """The candidates in ``fetched``. Raises :class:`~monitor.errors.ParseError` naming the URL when
        the body is not this kind at all; a listing of this kind with no entries gives none."""

    def hints(self, fetched: Fetched, now: float) -> Hints:
        """What the listing asks of an adaptive schedule (a feed's ttl and skipHours); nothing by default."""
        return None, None

    async def offers(self, site: Site) -> list[Offer]:
        """URLs on ``site`` that may be a source of this kind, best first (discovery checks each)."""
        return []

    async def judge(self, site: Site, offer: Offer, fetched: Fetched) -> list[Finding]:
        """What ``offer``, fetched, is worth as a source; ParseError when it is not one at all."""
        listing = self.parse(fetched, self.probe(fetched.url))
        if not listing.candidates:
            error = f"a {self.kind} with no entries"
            return [Finding(self, fetched.url, offer.how, title=offer.title, error=error)]
        return [Finding(self, fetched.url, offer.how, entries=len(listing.candidates), title=offer.title)]

    def probe(self, url: str) -> Source:
        """The source discovery parses a candidate as (its include/exclude filters are not set yet)."""
        return Source(name="discover", kind=self.kind, url=url, interval=300.0)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind!r}>"
