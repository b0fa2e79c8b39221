"""What the web console (``monitor.ui``) asks a store: one page of alerts, and alert counts per rule.

Both stores implement ``ConsoleQueries``; the console never lists everything, so a page costs the same
with a hundred alerts as with a hundred thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from monitor.model import Alert, Delivery
from monitor.store.base import SourceState


@dataclass(slots=True, frozen=True)
class AlertQuery:
    """Newest first; every set field narrows the listing. ``before`` is the cursor of the last alert of
    the previous page (its ``StoredAlert.cursor``)."""

    rule: str | None = None
    source: str | None = None
    state: str | None = None  # an alert with at least one delivery in this state
    since: float | None = None  # created at or after (store clock seconds)
    before: tuple[float, str] | None = None
    limit: int = 50


@dataclass(slots=True, frozen=True)
class StoredAlert:
    alert: Alert
    created_at: float
    deliveries: tuple[Delivery, ...]

    @property
    def cursor(self) -> tuple[float, str]:
        return (self.created_at, self.alert.id)


@dataclass(slots=True, frozen=True)
class RuleStats:
    day: int = 0  # alerts in the last 24 hours
    week: int = 0  # alerts in the last 7 days
    last: float | None = None  # created_at of the newest alert within retention


# (last success, whether the last poll failed): a plain tuple, as the Sources page reads 10,000 of them.
SourceHealth = tuple[float | None, bool]


DAY = 86400.0
WEEK = 7 * DAY


@runtime_checkable
class ConsoleQueries(Protocol):
    async def alert_page(self, query: AlertQuery) -> list[StoredAlert]:
        """At most ``query.limit`` alerts matching ``query``, newest first, each with its deliveries."""
        ...

    async def rule_stats(self, rules: Sequence[str]) -> dict[str, RuleStats]:
        """Alert counts of each of ``rules`` over the last day and week, by the store's clock."""
        ...

    async def source_health(self) -> dict[str, SourceHealth]:
        """Every recorded source's last success and whether its last poll failed: what ranks the
        Sources page, in one cheap read."""
        ...

    async def source_states_of(self, names: Sequence[str]) -> list[SourceState]:
        """The states of ``names`` (in that order; an unrecorded source has an empty state)."""
        ...
