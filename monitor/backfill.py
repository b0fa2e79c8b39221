"""``backfill: 24h`` on a rule: when the daemon starts with the rule or a reload adds it, the rule is run
once over that much of the article archive, and what it would have alerted on is claimed like any alert.

Once per rule, across restarts and instances: a store lease named after the rule and its window is taken
while the backfill runs and handed to a "done" owner for the store's retention when it ends, so a
restart or another instance sharing the store finds it held and skips it. One stopped midway releases
it, one that dies lets it lapse, and the next start runs it again; the claim (rule and story, as for
live alerts) keeps what already went out from going out twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from monitor.backtest import BacktestMatch, backtest
from monitor.config import AlertsConfig
from monitor.leases import instance_id
from monitor.matching.rules import Rule
from monitor.model import Alert, Clock
from monitor.pipeline import addressed, new_alert
from monitor.store.base import Store

log = logging.getLogger("newsmon.backfill")

RUNNING_LEASE = 600.0  # seconds a backfill may run before another instance may take it over
DONE = "done"  # owner of the lease of a finished backfill


def lease_name(rule: Rule) -> str:
    return f"backfill:{rule.id}:{rule.backfill:g}"


class Backfiller:
    """Runs the backfills of the rules it is shown, each in a task of its own."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        alerts: Callable[[], AlertsConfig],
        notifiers: Callable[[], list[str]],
        on_claim: Callable[[Alert], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.alerts = alerts  # getters: a reload may change them while a backfill runs
        self.notifiers = notifiers
        self.on_claim = on_claim
        self.owner = instance_id()
        self._tasks: dict[str, asyncio.Task[int]] = {}

    def start(self, rules: Sequence[Rule]) -> None:
        """Start the backfill of each rule that asks for one and has none running here."""
        for rule in rules:
            name = lease_name(rule) if rule.backfill else None
            if name is not None and (name not in self._tasks or self._tasks[name].done()):
                self._tasks[name] = asyncio.create_task(self._guarded(rule))

    async def wait(self) -> list[int]:
        """Alerts claimed by each backfill started so far, once all have finished."""
        return list(await asyncio.gather(*self._tasks.values()))

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _guarded(self, rule: Rule) -> int:
        try:
            return await self.run(rule)
        except Exception as exc:  # the store may be down: the lease lapses and a later start retries
            log.error("backfill_failed", extra={"rule": rule.id, "error": str(exc)})
            return 0

    async def run(self, rule: Rule) -> int:
        """Backfill ``rule`` unless it was (or is being) backfilled; returns the alerts claimed."""
        assert rule.backfill is not None
        name = lease_name(rule)
        if not await self.store.acquire_lease(name, self.owner, RUNNING_LEASE):
            log.debug("backfill_skipped", extra={"rule": rule.id, "detail": "done, or running elsewhere"})
            return 0
        now = self.clock.time()
        claimed = 0
        try:
            result = await backtest(
                self.store, [rule], now - rule.backfill, now, alerts=self.alerts(), all_hits=True
            )
            for found in result.alerts:
                claimed += await self._claim(rule, found)
        except BaseException:
            # Stopped or failed midway: the next start (here or elsewhere) runs it again at once.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.release_lease(name, self.owner))
            raise
        await self.store.transfer_lease(name, self.owner, DONE, self.store.retention)
        log.info(
            "backfilled",
            extra={"rule": rule.id, "count": claimed, "detail": f"{result.articles} archived articles"},
        )
        return claimed

    async def _claim(self, rule: Rule, found: BacktestMatch) -> int:
        article = found.article
        hits = found.hits or ()
        alert = new_alert(rule.id, rule.title, article, found.story_key, hits, self.clock.time())
        notifiers = addressed(self.notifiers(), rule.notify)
        claimed = await self.store.claim(alert, notifiers, realert=rule.realert)
        if claimed is None:
            return 0
        log.info("alert_claimed", extra={"rule": rule.id, "url": article.url, "alert_id": claimed.id})
        self.on_claim(claimed)
        return 1
