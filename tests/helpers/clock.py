"""The injected clock of tests (``monitor.model.Clock``).

Tests whose daemon or CLI also reads the system clock start it at ``time.time()``: ``newsmon alerts
retry``, for one, makes a dead letter due "now", which must not lie in this clock's future."""

from __future__ import annotations

import time


class FakeClock:
    """A ``monitor.model.Clock`` that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def set(self, now: float) -> None:
        self.now = now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Later:
    """The real time, ``ahead`` seconds on: a next start after every lease and retry delay ran out."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def time(self) -> float:
        return time.time() + self.ahead
