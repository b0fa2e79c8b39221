"""Source health: when a source starts failing, recovers, goes quiet or has new articles again.

Incidents are kept in memory per source; their keys come from store state (last success, articles seen),
so a restart in the middle of an incident re-derives the same alert id and the store's claim keeps it to
one alert.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime

from monitor.logs import mask_url
from monitor.model import Alert, Source
from monitor.pipeline import PollResult, alert_id
from monitor.store.base import Store

HEALTH_RULE_PREFIX = "newsmon-health:"


@dataclasses.dataclass(slots=True)
class _State:
    last_new: float  # clock time of the last poll that found a new article (or of startup)
    failures: int = 0
    failing: str | None = None  # incident key while a "failing" alert is open
    stale: str | None = None  # incident key while a "stale" alert is open


@dataclasses.dataclass(frozen=True, slots=True)
class Incident:
    """One change of a source's health, worth a log line and, with ``health_notify``, an alert."""

    source: Source
    key: str  # unique per incident of this source, recoveries included
    what: str  # "is failing", "recovered", "went quiet", "has new articles again"
    detail: str

    @property
    def recovered(self) -> bool:
        return "recovered" in self.key

    def alert(self, now: float) -> Alert:
        rule_id = HEALTH_RULE_PREFIX + self.source.name
        story_key = f"{self.source.name}:{self.key}"
        return Alert(
            id=alert_id(rule_id, story_key),
            rule_id=rule_id,
            rule_title=f"newsmon: source {self.source.name} {self.what}",
            story_key=story_key,
            url=mask_url(self.source.url),
            title=self.detail,
            source=self.source.name,
            published=None,
            detected_at=datetime.fromtimestamp(now, UTC),
            hits=(),
        )


class SourceHealth:
    """The incident state of every configured source."""

    def __init__(self) -> None:
        self._states: dict[str, _State] = {}

    def track(self, names: Iterable[str], now: float) -> None:
        """Follow exactly ``names``: new ones start healthy at ``now``, others are forgotten."""
        wanted = set(names)
        for name in set(self._states) - wanted:
            del self._states[name]
        for name in wanted - set(self._states):
            self._states[name] = _State(last_new=now)

    def failures(self, names: Iterable[str]) -> list[int]:
        """Polls in a row that failed, per source of ``names`` that is tracked."""
        return [self._states[name].failures for name in names if name in self._states]

    async def observe(
        self,
        source: Source,
        result: PollResult,
        *,
        failed: bool,
        now: float,
        store: Store,
        failure_threshold: int,
        stale_after: float | None,
    ) -> list[Incident]:
        """The incidents one finished poll opens or closes."""
        state = self._states.setdefault(source.name, _State(last_new=now))
        incidents: list[Incident] = []
        if failed:
            state.failures += 1
            if failure_threshold and state.failures >= failure_threshold and state.failing is None:
                known = await store.source_state(source.name)
                state.failing = f"failing:{known.last_success}"
                detail = f"{state.failures} polls in a row failed; last error: {result.errors[0]}"
                incidents.append(Incident(source, state.failing, "is failing", detail))
        else:
            state.failures = 0
            if state.failing is not None:
                key, state.failing = state.failing, None
                incidents.append(Incident(source, f"{key}:recovered", "recovered", "polls succeed again"))
        if result.new_articles:
            state.last_new = now
            if state.stale is not None:
                key, state.stale = state.stale, None
                incidents.append(Incident(source, f"{key}:recovered", "has new articles again", "recovered"))
        elif stale_after and now - state.last_new > stale_after and state.stale is None:
            known = await store.source_state(source.name)
            state.stale = f"stale:{known.articles_seen}"
            detail = f"no new article for {human(now - state.last_new)} (stale_after {human(stale_after)})"
            incidents.append(Incident(source, state.stale, "went quiet", detail))
        return incidents


def human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}".replace(".0", "")
    return f"{seconds:.0f}s"
