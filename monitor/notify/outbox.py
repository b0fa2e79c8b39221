"""Persist-then-deliver: take due deliveries from the store, send them, record every outcome.

The store already holds each alert and one pending delivery per notifier (``Store.claim``) before this
loop sees it, so a crash at any point loses nothing: a leased delivery whose outcome was never recorded
comes back when its lease runs out. Receivers dedupe the resulting rare duplicate by alert id
(Idempotency-Key, Message-ID). Outcomes are recorded per notifier, so one receiver's success never hides
another's failure.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from monitor.errors import DeliveryError
from monitor.model import Alert, Clock, Delivery
from monitor.notify.base import Notifier
from monitor.store.base import Store

Outcome = str  # "delivered" | "retry" | "dead" | "skipped"
_log = logging.getLogger("monitor.notify.outbox")


class Outbox:
    """Delivers what the store says is due, with exponential backoff, full jitter and dead letters.

    ``notifiers`` may be replaced (attribute assignment) on reload; deliveries for a name that is no
    longer configured stay pending until the name comes back or an operator deals with them.
    ``on_outcome(notifier, outcome)`` is a hook for metrics (``newsmon_alerts_total``).
    """

    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        clock: Clock,
        *,
        backoff_base: float = 5.0,
        backoff_max: float = 3600.0,
        give_up_after: float = 86400.0,
        lease: float = 60.0,
        batch: int = 50,
        concurrency: int = 8,
        poll_interval: float = 1.0,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
        on_outcome: Callable[[str, Outcome], None] | None = None,
    ) -> None:
        self.store = store
        self.notifiers = notifiers
        self.clock = clock
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.give_up_after = give_up_after
        self.lease = lease
        self.batch = batch
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self._rng = rng or random.Random()
        self._log = logger or _log
        self._on_outcome = on_outcome
        self._wake = asyncio.Event()
        self._next_due = math.inf
        self._missing_reported: set[str] = set()

    def wake(self) -> None:
        """Tell the loop a new alert was claimed, so it delivers now instead of at the next poll."""
        self._wake.set()

    def retry_delay(self, attempts: int, retry_after: float | None) -> float:
        """Seconds until the next attempt after ``attempts`` earlier failures.

        Full jitter spreads the retries of many alerts to a receiver that came back. The receiver's own
        Retry-After is a floor, capped at ``give_up_after`` so a silly value cannot park a delivery."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(attempts, 60))
        jitter = self._rng.uniform(0.0, ceiling)
        return max(min(retry_after or 0.0, self.give_up_after), jitter)

    async def deliver_due(self) -> int:
        """One pass: lease up to ``batch`` due deliveries and attempt them. Returns how many were leased."""
        self._next_due = math.inf
        leased = await self.store.lease_due(self.batch, self.lease)
        if not leased:
            return 0
        limit = asyncio.Semaphore(self.concurrency)

        async def bounded(delivery: Delivery, alert: Alert) -> None:
            async with limit:
                await self._attempt(delivery, alert)

        async with asyncio.TaskGroup() as group:
            for delivery, alert in leased:
                group.create_task(bounded(delivery, alert))
        return len(leased)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set. Sleeps between passes until woken, the earliest retry we
        scheduled, or ``poll_interval`` (deliveries claimed by other instances), whichever comes first."""
        while not stop.is_set():
            self._wake.clear()
            try:
                leased = await self.deliver_due()
            except Exception:
                # The store being down must not end the loop; the next poll tries again.
                self._log.exception("outbox pass failed", extra={"event": "outbox_error"})
                leased = 0
            if leased >= self.batch:
                continue  # a full batch: more are probably due right now
            await self._idle(stop)

    async def drain(self, deadline: float) -> int:
        """Deliver what is due until nothing is, or ``deadline`` (clock time, like ``clock.time()``)
        passes; sends still in flight then are cancelled and come back when their lease expires.
        Returns how many deliveries were attempted."""
        total = 0
        while (remaining := deadline - self.clock.time()) > 0:
            try:
                async with asyncio.timeout(remaining):
                    leased = await self.deliver_due()
            except TimeoutError:
                self._log.warning("outbox drain hit its deadline", extra={"event": "outbox_drain_deadline"})
                break
            if not leased:
                break
            total += leased
        return total

    async def _idle(self, stop: asyncio.Event) -> None:
        timeout = min(self.poll_interval, max(0.0, self._next_due - self.clock.time()))
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _attempt(self, delivery: Delivery, alert: Alert) -> None:
        """Never raises (but for cancellation): one failed delivery must not cancel its batch mates."""
        notifier = self.notifiers.get(delivery.notifier)
        if notifier is None:
            # Probably removed from the config, maybe only until the next reload: keep it pending.
            # The lease just taken keeps it out of the way meanwhile.
            self._report(delivery, "skipped", "notifier not configured", once=True)
            return
        try:
            answer = await notifier.send(alert)
        except DeliveryError as exc:
            await self._failed(delivery, exc)
        except Exception as exc:
            # A notifier bug: log it with its traceback, then treat it like any retryable failure.
            self._log.exception("notifier %s raised %s", delivery.notifier, type(exc).__name__)
            await self._failed(delivery, DeliveryError(f"internal error: {type(exc).__name__}"))
        else:
            if await self._record(self.store.mark_delivered(delivery.alert_id, delivery.notifier), delivery):
                self._report(delivery, "delivered", answer)

    async def _failed(self, delivery: Delivery, error: DeliveryError) -> None:
        now = self.clock.time()
        retry_at: float | None = None
        if error.permanent:
            outcome, detail = "dead", f"permanent: {error.reason}"
        elif now - delivery.created_at > self.give_up_after:
            outcome, detail = "dead", f"gave up after {delivery.attempts + 1} attempts: {error.reason}"
        else:
            retry_at = now + self.retry_delay(delivery.attempts, error.retry_after)
            self._next_due = min(self._next_due, retry_at)
            outcome, detail = "retry", f"in {retry_at - now:.1f}s: {error.reason}"
        stored = self.store.mark_failed(delivery.alert_id, delivery.notifier, error.reason, retry_at)
        if await self._record(stored, delivery):
            self._report(delivery, outcome, detail)

    async def _record(self, write: Coroutine[Any, Any, None], delivery: Delivery) -> bool:
        """Await a store write, shielded so a shutdown cancelling the batch cannot lose an outcome."""
        try:
            await asyncio.shield(write)
        except Exception:
            # The lease will expire and the delivery will be attempted again; receivers dedupe by id.
            self._log.exception(
                "could not record delivery outcome",
                extra={"event": "outbox_error", "alert_id": delivery.alert_id, "notifier": delivery.notifier},
            )
            return False
        return True

    def _report(self, delivery: Delivery, outcome: Outcome, detail: str, *, once: bool = False) -> None:
        if once:
            if delivery.notifier in self._missing_reported:
                return
            self._missing_reported.add(delivery.notifier)
        level = logging.INFO if outcome in ("delivered", "retry") else logging.WARNING
        self._log.log(
            level,
            "delivery alert_id=%s notifier=%s outcome=%s attempt=%d %s",
            delivery.alert_id,
            delivery.notifier,
            outcome,
            delivery.attempts + 1,
            detail,
            extra={
                "event": "delivery",
                "alert_id": delivery.alert_id,
                "notifier": delivery.notifier,
                "outcome": outcome,
                "detail": detail,
            },
        )
        if self._on_outcome is not None:
            self._on_outcome(delivery.notifier, outcome)
