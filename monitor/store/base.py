"""The Store protocol: everything newsmon remembers, behind one async interface.

Two implementations (``sqlite.py``, ``redis.py``) pass one contract suite (``tests/test_store_contract.py``).
Every method that decides "first or not" is atomic across connections and processes, so several daemons
may share one store. Time comes from the injected clock, never from the store's own idea of "now".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

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
class StoryRef:
    """The story an article belongs to: its key and the other URLs already seen for it."""

    key: str
    urls: tuple[str, ...]
    new: bool


class Store(ABC):
    """Abstract store. ``retention`` (seconds) bounds how long seen URLs, stories and claims are kept."""

    retention: float

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect / create schema. Idempotent."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Idempotent."""

    @abstractmethod
    async def ping(self) -> bool:
        """True when the store answers."""

    # -- seen article URLs ------------------------------------------------------------------------
    @abstractmethod
    async def unseen(self, urls: list[str]) -> list[str]:
        """The subset of ``urls`` not marked seen (within retention), order kept."""

    @abstractmethod
    async def mark_seen(self, urls: list[str]) -> None:
        """Remember ``urls`` for ``retention``. Called only after their alerts are in the outbox."""

    # -- HTTP validators ----------------------------------------------------------------------------
    @abstractmethod
    async def get_validators(self, url: str) -> Validators | None: ...

    @abstractmethod
    async def set_validators(self, url: str, validators: Validators) -> None: ...

    # -- stories ------------------------------------------------------------------------------------
    @abstractmethod
    async def resolve_story(self, fingerprint: int, url: str, window: float) -> StoryRef:
        """Find the story whose 64-bit SimHash is near ``fingerprint`` (Hamming distance <=
        ``monitor.fingerprint.MAX_DISTANCE``, 6) and was seen within ``window`` seconds, else start a new
        one keyed by this fingerprint. Records ``url`` with it."""

    # -- claims + outbox ----------------------------------------------------------------------------
    @abstractmethod
    async def claim(self, alert: Alert, notifiers: list[str]) -> bool:
        """Atomically: if ``alert.id`` was never claimed (within retention), persist the alert and one
        pending delivery per notifier, and return True. Otherwise change nothing and return False."""

    @abstractmethod
    async def lease_due(self, limit: int, lease: float) -> list[tuple[Delivery, Alert]]:
        """Pending deliveries whose ``next_attempt_at`` has come, oldest first. Each returned delivery is
        pushed ``lease`` seconds into the future, so another instance does not take it meanwhile."""

    @abstractmethod
    async def mark_delivered(self, alert_id: str, notifier: str) -> None: ...

    @abstractmethod
    async def mark_failed(self, alert_id: str, notifier: str, error: str, retry_at: float | None) -> None:
        """Record a failed attempt. ``retry_at`` None makes the delivery a dead letter."""

    @abstractmethod
    async def deliveries(self, state: str | None = None) -> list[Delivery]:
        """Every delivery (optionally only one state), newest first."""

    @abstractmethod
    async def get_alert(self, alert_id: str) -> Alert | None: ...

    @abstractmethod
    async def retry(self, alert_id: str, notifier: str | None = None) -> int:
        """Make dead (or pending) deliveries of ``alert_id`` due now; returns how many changed."""

    @abstractmethod
    async def outbox_pending(self) -> int:
        """Number of deliveries still pending."""

    # -- sources --------------------------------------------------------------------------------
    @abstractmethod
    async def record_poll(self, name: str, *, error: str | None, articles: int) -> None:
        """Record one poll of a source: success (``error`` None) or failure, and new articles found."""

    @abstractmethod
    async def source_state(self, name: str) -> SourceState: ...

    @abstractmethod
    async def source_states(self) -> list[SourceState]: ...
