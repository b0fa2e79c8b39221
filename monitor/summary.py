"""What the daemon did lately: the counts behind the periodic ``summary`` log line and the "dead letters
are growing" health check.

A daemon that works quietly and one that is stuck look the same from outside unless it says, now and
then, what it did; the summary line is that sign of life, one line per interval at info level.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from monitor.model import DeliveryOutcome, PollOutcome

DEAD_WINDOW = 3600.0  # seconds: dead letters within this long count as "growing"
RATE_WINDOW = 60.0  # seconds of history behind "articles/min"


class Activity:
    """Counters since the last ``take()``, plus the times of recent dead letters and new articles."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._counts: collections.Counter[str] = collections.Counter()
        self._dead: collections.deque[float] = collections.deque()
        self._recent: collections.deque[tuple[float, int]] = collections.deque()

    def polled(self, outcome: PollOutcome, new_articles: int) -> None:
        self._counts[f"poll_{outcome}"] += 1
        self._counts["new_articles"] += new_articles
        if new_articles:
            self._recent.append((self._clock(), new_articles))

    def articles_per_minute(self) -> float:
        """New articles found over the last ``RATE_WINDOW`` seconds, per minute."""
        cutoff = self._clock() - RATE_WINDOW
        while self._recent and self._recent[0][0] < cutoff:
            self._recent.popleft()
        return sum(n for _, n in self._recent) * 60.0 / RATE_WINDOW

    def claimed(self, alerts: int = 1) -> None:
        self._counts["claimed"] += alerts

    def delivery(self, outcome: DeliveryOutcome) -> None:
        self._counts[f"delivery_{outcome}"] += 1
        if outcome == "dead":
            self._dead.append(self._clock())

    def dead_recently(self, window: float = DEAD_WINDOW) -> int:
        """Deliveries that gave up within the last ``window`` seconds."""
        cutoff = self._clock() - window
        while self._dead and self._dead[0] < cutoff:
            self._dead.popleft()
        return len(self._dead)

    def take(self) -> dict[str, int]:
        """The summary's fields since the last call, and start counting afresh."""
        c, self._counts = self._counts, collections.Counter()
        return {
            "polls_ok": c["poll_ok"],
            "polls_not_modified": c["poll_not_modified"],
            "polls_failed": c["poll_error"],
            "new_articles": c["new_articles"],
            "alerts_claimed": c["claimed"],
            "delivered": c["delivery_delivered"],
            "failed": c["delivery_retry"],
            "dead": c["delivery_dead"],
        }


__all__ = ["Activity"]
