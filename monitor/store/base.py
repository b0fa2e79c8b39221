"""The Store protocol: everything newsmon remembers, behind one async interface.

Two implementations (the packages ``sqlite`` and ``redis``) pass one contract suite
(``tests/test_store_contract.py``, and ``tests/test_story_resolution.py`` for ``resolve_story``).
Every method that decides "first or not" is atomic across connections and processes, so several daemons
may share one store. Time comes from the injected clock, never from the store's own idea of "now" --
except for liveness: leases, instance membership, host slots and the outbox's visibility timeout are
real seconds (Redis ``PX`` / idle times, SQLite ``time.time()``), because they measure whether another
process is still alive, which a test's fake clock knows nothing about.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from monitor.archive import ArchivedArticle, ArchivePage, decode_payload
from monitor.fingerprint import Fingerprint
from monitor.model import Alert, Delivery


@dataclass(slots=True, frozen=True)
class Validators:
    etag: str | None
    last_modified: str | None


@dataclass(slots=True, frozen=True)
class SourceState:
    name: str
    last_attempt: float | None = None
    last_success: float | None = None
    last_error: str | None = None
    articles_seen: int = 0


@dataclass(slots=True, frozen=True)
class Quarantined:
    """An article set aside for good: processing it failed or ran out of time too many times."""

    url: str
    source: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class StoryRef:
    """The story an article belongs to: its key and the other URLs already recorded for it."""

    key: str
    urls: tuple[str, ...]
    new: bool


@dataclass(slots=True, frozen=True)
class ArchivePolicy:
    """What the article archive keeps: for ``retention`` seconds (None: the store's), at most
    ``max_bytes`` of packed records (None: no cap; the oldest go first), or nothing when not ``enabled``
    (None: the store's default, on for SQLite, off for Redis whose memory it would fill)."""

    enabled: bool | None = None
    retention: float | None = None
    max_bytes: int | None = None


@dataclass(slots=True, frozen=True)
class ArchiveStats:
    articles: int
    bytes: int  # packed records, what ``max_bytes`` caps
    oldest: float | None  # detected_at of the oldest record


def claimed_id(key: str, n: int) -> str:
    """The alert id of the ``n``-th claim (0: the first) of claim key ``key``."""
    return key if n == 0 else f"{key}-r{n}"


class Store(ABC):
    """Abstract store. ``retention`` (seconds) bounds how long seen URLs, stories and claims are kept."""

    retention: float
    archiving: bool = False  # whether ``mark_seen`` keeps the articles it is given

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect / create schema. Idempotent."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Idempotent."""

    @abstractmethod
    async def ping(self) -> bool:
        """True when the store answers."""

    # -- seen article URLs ------------------------------------------------------------------------
    @abstractmethod
    async def seen(self, urls: list[str]) -> dict[str, str]:
        """The members of ``urls`` marked seen (within retention), each with the revision it was marked
        with ("" for none). Any string is a valid key: the pipeline also marks feed GUIDs this way."""

    @abstractmethod
    async def mark_seen(self, marks: Mapping[str, str], archive: Sequence[ArchivedArticle] = ()) -> None:
        """Remember each URL (or other key) of ``marks`` for ``retention`` with its revision (an opaque
        marker of the version seen, "" for none, replacing any earlier one), in one write. Called only
        after their alerts are in the outbox. When ``archiving``, the ``archive`` records are kept in the
        same write (a record replaces an earlier one of its URL); otherwise they are dropped.

        Archived records expire by their ``detected_at`` after the archive's retention; past its size
        cap the oldest go first."""

    # -- article archive ----------------------------------------------------------------------------
    async def archived(self, url: str) -> ArchivedArticle | None:
        """The archived record of canonical URL ``url``, or None."""
        return None

    def archive_payloads(
        self, since: float, until: float | None = None, source: str | None = None
    ) -> AsyncIterator[list[bytes]]:
        """Every archived record with ``since <= detected_at < until`` (of ``source``), oldest first, in
        batches, as packed records (``monitor.archive.decode_payload`` makes them records): a backtest
        searches the payload text before it pays for a record."""
        return _nothing()

    async def archive_pages(
        self, since: float, until: float | None = None, source: str | None = None
    ) -> AsyncIterator[ArchivePage]:
        """``archive_payloads``' batches as pages for other processes to unpack (``ArchivePage``): a
        store that can hand out its records packed does so."""
        async for payloads in self.archive_payloads(since, until, source):
            last = decode_payload(payloads[-1]).detected_at
            yield ArchivePage(unpacked=tuple(payloads), last_at=last)

    async def archive_stats(self) -> ArchiveStats:
        return ArchiveStats(0, 0, None)

    # -- HTTP validators ----------------------------------------------------------------------------
    @abstractmethod
    async def get_validators(self, url: str) -> Validators | None: ...

    @abstractmethod
    async def set_validators(self, url: str, validators: Validators) -> None: ...

    # -- stories ------------------------------------------------------------------------------------
    @abstractmethod
    async def resolve_story(
        self, fingerprint: Fingerprint, url: str, window: float, legacy: Fingerprint | None = None
    ) -> StoryRef:
        """The story ``url`` belongs to, recording ``url`` with it. In order:

        1. a story last seen within ``window`` seconds that ``url`` was already recorded with (an edited
           article stays its story, however much its text changed);
        2. among stories last seen within ``window`` that share a band with ``fingerprint``, those that
           are ``monitor.fingerprint.same_story`` with it: the highest containment wins, then the oldest;
        3. with ``legacy``, the same text's fingerprint by the previous algorithm
           (``monitor.fingerprint.legacy_fingerprint``): step 2 among stories that algorithm made, and
           a story found so is one of ``fingerprint``'s algorithm from then on (its signature and bands
           are ``fingerprint``'s), so later copies find it by step 2;
        4. else a new story keyed ``fingerprint.key()`` (plus the clock second if that key names a story
           fallen out of the window).

        Every resolution counts as the story being seen now. Only fingerprints of some text (``size`` >
        0) belong here: text-less articles have no story to share. At most ``MAX_STORY_URLS`` URLs,
        the first, are listed per story."""

    @abstractmethod
    async def legacy_stories_seen(self) -> float:
        """A time no story fingerprinted by the previous algorithm was last seen after (0.0: there are
        none): until ``story_window`` after it, copies look for such stories too (``legacy``)."""

    @abstractmethod
    async def story_urls(self, key: str) -> list[str]:
        """The URLs recorded for story ``key``, first first; [] for an unknown story."""

    # -- claims + outbox ----------------------------------------------------------------------------
    @abstractmethod
    async def claim(
        self, alert: Alert, notifiers: list[str], *, realert: float | None = None
    ) -> Alert | None:
        """Atomically: unless ``alert.id`` (the claim key: rule and story) was claimed within retention,
        and less than ``realert`` seconds ago (None: any time), persist the alert and one pending
        delivery per notifier and return the alert as stored. Otherwise change nothing, return None.

        The first claim stores the alert under ``alert.id``; the n-th re-alert under ``<id>-r<n>``, so a
        receiver deduping by id (Idempotency-Key, Message-ID) does not swallow it."""

    @abstractmethod
    async def lease_due(self, limit: int, lease: float) -> list[tuple[Delivery, Alert]]:
        """Pending and digest deliveries whose ``next_attempt_at`` has come, oldest first. Each returned
        delivery is hidden from every caller (this store instance and others) for ``lease`` seconds;
        unless an outcome is recorded meanwhile it is due again after that (``next_attempt_at`` reads
        now + ``lease``). A delivery returned once stays hidden until its lease lapses, so two callers
        never hold one delivery at the same time."""

    @abstractmethod
    async def hold(self, alert_id: str, notifier: str, until: float) -> None:
        """Park a delivery for a digest: state ``digest``, due at ``until`` (when its window closes)."""

    @abstractmethod
    async def take_slot(self, notifier: str, window_start: float, limit: int) -> bool:
        """Atomically count one send for ``notifier`` in the window starting at ``window_start``; True
        while the count stays within ``limit``. Shared by every instance using the store."""

    @abstractmethod
    async def mark_delivered(self, alert_id: str, notifier: str) -> None: ...

    @abstractmethod
    async def mark_failed(self, alert_id: str, notifier: str, error: str, retry_at: float | None) -> None:
        """Record a failed attempt. ``retry_at`` None makes the delivery a dead letter; otherwise it is
        due again then, in its state (a digest delivery stays in its digest)."""

    @abstractmethod
    async def deliveries(self, state: str | None = None) -> list[Delivery]:
        """Every delivery (optionally only one state), newest first."""

    @abstractmethod
    async def get_alert(self, alert_id: str) -> Alert | None: ...

    @abstractmethod
    async def retry(self, alert_id: str, notifier: str | None = None) -> int:
        """Make dead, pending or digest deliveries of ``alert_id`` individually due now; returns how many
        changed."""

    @abstractmethod
    async def outbox_pending(self) -> int:
        """Number of deliveries not yet delivered or dead (pending or waiting in a digest)."""

    # -- leases and liveness (real time) -------------------------------------------------------------
    @abstractmethod
    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        """Take lease ``name`` for ``owner`` for ``ttl`` real seconds, or renew it if ``owner`` holds it.
        False (a lost race, not an error) while another owner holds it."""

    async def acquire_leases(self, owner: str, leases: Sequence[tuple[str, float]]) -> list[bool]:
        """``acquire_lease`` for each (name, ttl) in ``leases``, answers in order; stores that can take
        them in one call do (a source lease is renewed at every tick: hundreds a second at 100k sources)."""
        return [await self.acquire_lease(name, owner, ttl) for name, ttl in leases]

    @abstractmethod
    async def transfer_lease(self, name: str, owner: str, to: str, ttl: float) -> bool:
        """Hand lease ``name`` from ``owner`` to ``to`` for ``ttl`` seconds; False unless ``owner`` held
        it."""

    @abstractmethod
    async def release_lease(self, name: str, owner: str) -> None:
        """Drop lease ``name`` if ``owner`` holds it; another owner's lease is left alone."""

    async def release_leases(self, owner: str, names: Sequence[str]) -> None:
        """``release_lease`` for each of ``names``; stores that can drop many in one call do (an instance
        leaving releases every lease it may hold, 100,000 at 100k sources, within the service manager's
        stop timeout)."""
        for name in names:
            await self.release_lease(name, owner)

    @abstractmethod
    async def lease_holder(self, name: str) -> str | None:
        """Who holds lease ``name`` now, or None."""

    @abstractmethod
    async def heartbeat(self, instance: str, ttl: float) -> list[str]:
        """Record ``instance`` as live for ``ttl`` seconds; return every live instance, sorted.
        ``ttl`` 0 (or less) removes ``instance`` at once (a clean shutdown)."""

    @abstractmethod
    async def host_slot(self, host: str, delay: float) -> float:
        """Reserve the next request start to ``host``, ``delay`` seconds after the previous reservation
        by any instance; returns the seconds to wait before starting (0: start now)."""

    # -- sources --------------------------------------------------------------------------------
    @abstractmethod
    async def record_poll(self, name: str, *, error: str | None, articles: int) -> None:
        """Record one poll of a source: success (``error`` None) or failure, and new articles found."""

    @abstractmethod
    async def source_state(self, name: str) -> SourceState: ...

    # -- poison pills ---------------------------------------------------------------------------
    @abstractmethod
    async def quarantine(self, url: str, source: str, reason: str) -> None:
        """Record that ``url`` will not be processed again (the caller also marks it seen)."""

    @abstractmethod
    async def quarantined(self) -> list[Quarantined]:
        """Every quarantined article, newest first."""

    # -- a source's learned publication rhythm (``monitor.cadence.Rhythm``, opaque text here) -----------
    @abstractmethod
    async def get_rhythm(self, name: str) -> str | None: ...

    @abstractmethod
    async def set_rhythm(self, name: str, state: str) -> None: ...

    @abstractmethod
    async def rhythms(self, names: Sequence[str]) -> dict[str, str]:
        """The stored rhythms of those of ``names`` that have one (one round trip, for start-up)."""

    @abstractmethod
    async def source_states(self) -> list[SourceState]: ...


async def _nothing() -> AsyncIterator[list[bytes]]:
    none: tuple[list[bytes], ...] = ()
    for batch in none:  # an async generator that yields nothing: a store without an archive
        yield batch
