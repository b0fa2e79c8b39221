"""One poll of one source as the daemon runs it: the pipeline's poll, then what follows from it (metrics,
the summary's counts, source health and its alerts)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from monitor.metrics import Metrics
from monitor.model import Alert, Clock, Source
from monitor.pipeline import Pipeline, PollResult
from monitor.runtime import Runtime
from monitor.source_health import Incident, SourceHealth
from monitor.store.base import Store
from monitor.summary import Activity

log = logging.getLogger("newsmon.service")


class Poller:
    def __init__(
        self,
        pipeline: Pipeline,
        store: Store,
        *,
        runtime: Callable[[], Runtime],
        metrics: Metrics,
        activity: Activity,
        health: SourceHealth,
        clock: Clock,
        on_claim: Callable[[Alert], None],
        dry_run: bool,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.runtime = runtime
        self.metrics = metrics
        self.activity = activity
        self.health = health
        self.clock = clock
        self.on_claim = on_claim
        self.dry_run = dry_run
        self.inflight: set[asyncio.Task[object]] = set()  # polls running now, for the drain to wait on

    async def poll(self, source: Source) -> PollResult:
        task = asyncio.current_task()
        if task is not None:
            self.inflight.add(task)
        started = time.monotonic()
        try:
            result = await self.pipeline.poll(source)
        except Exception:
            self.metrics.sources.fetched(source.name, "error")
            self.activity.polled("error", 0)
            raise
        finally:
            self.metrics.fetch_seconds.observe(time.monotonic() - started)
            if task is not None:
                self.inflight.discard(task)
        await self._observe(source, result)
        return result

    async def _observe(self, source: Source, result: PollResult) -> None:
        """Metrics and source health for one finished poll. Never raises: it is bookkeeping."""
        failed, outcome = result.failed, result.outcome
        self.metrics.sources.fetched(source.name, outcome)
        self.activity.polled(outcome, result.new_articles)
        if log.isEnabledFor(logging.DEBUG):  # its fields are built only when the line is written
            log.debug(
                "poll",
                extra={
                    "source": source.name,
                    "outcome": outcome,
                    "new_articles": result.new_articles,
                    "alerts": len(result.alerts),
                    "error": result.errors[0] if result.errors else None,
                },
            )
        if result.new_articles:
            self.metrics.sources.found(source.name, result.new_articles)
        if not failed and not self.dry_run:
            self.metrics.sources.succeeded(source.name, self.clock.time())
        if self.dry_run:
            return
        config = self.runtime().config
        try:
            incidents = await self.health.observe(
                source,
                result,
                failed=failed,
                now=self.clock.time(),
                store=self.store,
                failure_threshold=config.service.health_failures,
                stale_after=config.stale_after.get(source.name),
            )
            for incident in incidents:
                await self._health_alert(incident)
        except Exception as exc:  # the store may be down; health alerts catch up on a later poll
            log.warning("health_check_failed", extra={"source": source.name, "error": str(exc)})

    async def _health_alert(self, incident: Incident) -> None:
        """One alert per incident through the durable outbox: the claim makes it exactly-once."""
        level = logging.INFO if incident.recovered else logging.WARNING
        log.log(
            level,
            "source_health",
            extra={"source": incident.source.name, "outcome": incident.what, "detail": incident.detail},
        )
        runtime = self.runtime()
        notifiers = [n for n in runtime.config.service.health_notify if n in runtime.notifiers]
        if not notifiers:
            return
        alert = incident.alert(self.clock.time())
        if await self.store.claim(alert, notifiers):
            log.info("alert_claimed", extra={"rule": alert.rule_id, "alert_id": alert.id})
            self.on_claim(alert)
