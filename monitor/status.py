"""What the daemon says about itself while it runs: the one-line status (systemd STATUS=, the READY and
reload lines) every ``STATUS_INTERVAL``, and the ``summary`` log line every ``summary_interval``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from monitor.metrics import Metrics
from monitor.runtime import Runtime
from monitor.sdnotify import SystemdNotifier
from monitor.store.base import Store
from monitor.summary import Activity

log = logging.getLogger("newsmon.service")

STATUS_INTERVAL = 10.0  # seconds between STATUS= updates and outbox gauge refreshes


class Status:
    def __init__(
        self,
        *,
        activity: Activity,
        metrics: Metrics,
        sd: SystemdNotifier,
        runtime: Callable[[], Runtime | None],
        store: Callable[[], Store | None],
        sources: Callable[[], int],
    ) -> None:
        self.activity = activity
        self.metrics = metrics
        self.sd = sd
        self._runtime = runtime
        self._store = store
        self._sources = sources
        self.outbox_depth: int | None = None  # None: not known (the store did not answer)

    def line(self) -> str:
        outbox = "?" if self.outbox_depth is None else str(self.outbox_depth)
        return (
            f"{self._sources()} sources, {self.activity.articles_per_minute():.0f} articles/min, "
            f"outbox {outbox} pending"
        )

    async def refresh_outbox_depth(self) -> None:
        store = self._store()
        if store is None:
            return
        try:
            self.outbox_depth = await store.outbox_pending()
        except Exception:
            self.outbox_depth = None
            raise
        self.metrics.outbox_pending.set(self.outbox_depth)

    def log_summary(self) -> None:
        runtime = self._runtime()
        log.info(
            "summary",
            extra={
                **self.activity.take(),
                "outbox": "?" if self.outbox_depth is None else self.outbox_depth,
                "rules": len(runtime.rules.rules) if runtime else 0,
                "sources": self._sources(),
            },
        )

    def _summary_interval(self) -> float:
        runtime = self._runtime()
        return runtime.config.service.summary_interval if runtime else 0.0

    async def summary_loop(self) -> None:
        """The sign of life: one ``summary`` line at info every ``summary_interval``. The runtime is not
        held across the wait: a reload replaces it, and the old one (its rules' matcher) must go."""
        while interval := self._summary_interval():
            await asyncio.sleep(interval)
            self.log_summary()

    async def status_loop(self) -> None:
        while True:
            await asyncio.sleep(STATUS_INTERVAL)
            with contextlib.suppress(Exception):  # unknown depth shows as "?"
                await self.refresh_outbox_depth()
            self.sd.status(self.line())
