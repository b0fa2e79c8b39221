"""Living through store outages: one report when the store stops answering, one when it is back.

The scheduler (through the source leases), the outbox and the instance heartbeat all meet a store that
does not answer; they share one ``StoreOutage`` so an outage is said once, not once per attempt.
"""

from __future__ import annotations

import logging
import time


class StoreOutage:
    """Logs ``store_unavailable`` once when the store stops answering and ``store_recovered`` once when
    it answers again, however many operations fail in between."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        # The logger these events were always reported under, which log filters and alerts may name.
        self._log = logger or logging.getLogger("newsmon.leases")
        self.since: float | None = None  # time.monotonic() of the first failure of the current outage

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            self._log.error("store_unavailable", extra={"error": str(exc)})

    def ok(self) -> None:
        if self.since is not None:
            took = time.monotonic() - self.since
            self.since = None
            self._log.warning("store_recovered", extra={"detail": f"store answered again after {took:.1f}s"})
