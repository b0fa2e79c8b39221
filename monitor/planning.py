"""The adaptive schedule's state in a running daemon: every adaptive source's ``Rhythm`` (kept in the
store, so a restart or another instance goes on from what was learned) and the ``Planner`` over them.

With several instances each plans for all sources (the budget and ``c`` are global) but updates only the
rhythms of the sources it polls. It re-reads a source's rhythm from the store whenever it polls a source
it did not poll last time (it took the lease over), so learning follows the source from instance to
instance; the others' rhythms it holds only for the budget, from start-up on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from monitor.cadence import Bounds, Planner, Rhythm, default_bounds
from monitor.model import Source
from monitor.store.base import Store

if TYPE_CHECKING:
    from monitor.pipeline import PollResult

log = logging.getLogger("newsmon.scheduler")

REFRESH = 300.0  # seconds between planner refreshes


def bounds_of(source: Source) -> Bounds:
    return default_bounds(source.interval, source.min_interval, source.max_interval)


class AdaptivePlan:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.rhythms: dict[str, Rhythm] = {}
        self.planner = Planner({})
        self.last_poll: dict[str, float] = {}
        self._current: set[str] = set()  # rhythms known to match the store (this instance polls them)

    def sync(self, sources: Iterable[Source], now: float) -> None:
        """Plan for exactly these sources (the adaptive ones among them). A new source starts from the
        prior until ``load`` (or its first poll here) reads what the store learned."""
        wanted = {s.name: s for s in sources if s.schedule == "adaptive"}
        for name in set(self.rhythms) - set(wanted):
            del self.rhythms[name]
            self._current.discard(name)
            self.last_poll.pop(name, None)
        for name in wanted:
            self.rhythms.setdefault(name, Rhythm.new(now))
        self.planner = Planner({n: bounds_of(s) for n, s in wanted.items()})
        self.refresh(now)

    async def load(self, now: float) -> None:
        """Every planned source's stored rhythm (one round trip): the budget is shared with them."""
        missing = [n for n in self.rhythms if n not in self._current]
        stored = await self.store.rhythms(missing) if missing else {}
        for name, text in stored.items():
            self.rhythms[name] = self._parse(name, text, now)
        self.refresh(now)

    def _parse(self, name: str, text: str | None, now: float) -> Rhythm:
        if text is None:
            return Rhythm.new(now)
        try:
            return Rhythm.loads(text)
        except (ValueError, KeyError, TypeError) as exc:  # e.g. written by a newer version
            log.warning("rhythm_unreadable", extra={"source": name, "error": str(exc)})
            return Rhythm.new(now)

    def refresh(self, now: float) -> dict[str, float]:
        """Recompute the budget's ``c``; returns, for the sources this instance polls, the new earlier
        next-poll times where the new plan is sooner than the one they were given."""
        self.planner.refresh(self.rhythms, now, self._current)
        sooner: dict[str, float] = {}
        for name in self._current:
            last = self.last_poll.get(name)
            if last is not None:
                rhythm = self.rhythms[name]
                sooner[name] = max(now, rhythm.allowed(last + self.planner.gap(name, rhythm, now)))
        return sooner

    def release(self, name: str) -> None:
        """Another instance polls ``name`` now: its rhythm here goes stale."""
        self._current.discard(name)

    async def observe(self, source: Source, result: PollResult, now: float) -> float:
        """Learn from one poll, persist, and return the Unix time of the source's next poll."""
        name = source.name
        if name not in self._current:
            self.rhythms[name] = self._parse(name, await self.store.get_rhythm(name), now)
            self._current.add(name)
        rhythm = self.rhythms[name]
        before = (rhythm.not_before, rhythm.skip_hours)
        rhythm.observe(now, result.new_articles)
        if result.not_before is not None:
            rhythm.not_before = result.not_before
        if result.skip_hours is not None:
            rhythm.skip_hours = result.skip_hours
        self.last_poll[name] = now
        self.planner.polled(name)
        # A quiet poll changes nothing a reader could not recompute (the decay is a function of time):
        # only news and new site requests cost a store write.
        if result.new_articles or (rhythm.not_before, rhythm.skip_hours) != before:
            await self.store.set_rhythm(name, rhythm.dumps())
        return rhythm.allowed(now + self.planner.gap(name, rhythm, now))
