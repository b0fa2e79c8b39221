"""Persist-then-deliver: take due deliveries from the store, send them, record every outcome.

The store already holds each alert and one pending delivery per notifier (``Store.claim``) before this
loop sees it, so a crash at any point loses nothing: a leased delivery whose outcome was never recorded
comes back when its lease runs out. Receivers dedupe the resulting rare duplicate by alert id
(Idempotency-Key, Message-ID). Outcomes are recorded per notifier, so one receiver's success never hides
another's failure.

A notifier with ``digest = "15m"`` or ``max_per_hour`` turns some first attempts into a wait: the delivery
is parked in state ``digest`` (``Store.hold``) until its window closes, then every parked delivery of that
notifier goes out in one message (``Notifier.send_digest``); acknowledging it delivers them all, failing
it retries them together. Parking is a store write, so digests survive restarts like any delivery.

Several instances may run this loop on one store: ``Store.lease_due`` hands each due delivery to one of
them (on Redis through a Stream consumer group, acknowledged only when the outcome is recorded). When the
store is down, the loop reports the outage once (``outage``) and recording an outcome already obtained
from a receiver is retried until the store is back or the lease runs out, so a receiver's acknowledgement
is not lost to a short outage and the alert is not sent again. Only a pass in which every store operation
succeeded reports the store as back: a pass that leased before the store died and then could not record
its outcomes is part of the outage, not the end of it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import Any

from monitor.errors import DeliveryError, StoreError
from monitor.model import Alert, Clock, Delivery, DeliveryOutcome
from monitor.notify.base import Notifier
from monitor.store.base import Store
from monitor.store.outage import StoreOutage

_log = logging.getLogger("monitor.notify.outbox")


@dataclass
class _Pass:
    """What one ``deliver_due`` pass saw of the store, shared by its concurrent attempts."""

    leased: int = 0
    store_error: StoreError | None = None  # the first store operation of the pass that did not land

    def failed(self, exc: StoreError) -> None:
        if self.store_error is None:
            self.store_error = exc


class Outbox:
    """Delivers what the store says is due, with exponential backoff, full jitter and dead letters.

    ``notifiers`` and ``give_up_after`` are getters of the running configuration, read at each use, so a
    reload takes effect at the next delivery; deliveries for a name that is no longer configured stay
    pending until the name comes back or an operator deals with them.
    ``on_outcome(notifier, outcome)`` is a hook for metrics (``newsmon_alerts_total``).
    """

    def __init__(
        self,
        store: Store,
        notifiers: Callable[[], Mapping[str, Notifier]],
        clock: Clock,
        *,
        backoff_base: float = 5.0,
        backoff_max: float = 3600.0,
        give_up_after: Callable[[], float] = lambda: 86400.0,
        lease: float = 60.0,
        batch: int = 50,
        concurrency: int = 8,
        poll_interval: float = 1.0,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
        on_outcome: Callable[[str, DeliveryOutcome], None] | None = None,
        outage: StoreOutage | None = None,
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
        self.outage = outage
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
        return max(min(retry_after or 0.0, self.give_up_after()), jitter)

    async def deliver_due(self) -> int:
        """One pass: lease up to ``batch`` due deliveries and attempt them. Returns how many were leased.

        Pending deliveries go one message each (unless their notifier's policy parks them in a digest);
        digest deliveries whose window closed go together, one message per notifier and chunk. A store
        failure after the lease (an outcome that could not be recorded) is reported, not raised."""
        done = await self._pass()
        if done.store_error is not None:
            self._store_down(done.store_error)
        return done.leased

    async def _pass(self) -> _Pass:
        """``deliver_due``'s work; the result says whether every store operation after the lease landed.
        Raises what ``lease_due`` raises."""
        self._next_due = math.inf
        leased = await self.store.lease_due(self.batch, self.lease)
        done = _Pass(leased=len(leased))
        if not leased:
            return done
        limit = asyncio.Semaphore(self.concurrency)

        async def bounded(work: Coroutine[Any, Any, None]) -> None:
            async with limit:
                await work

        digests: dict[str, list[tuple[Delivery, Alert]]] = {}
        async with asyncio.TaskGroup() as group:
            for delivery, alert in leased:
                if delivery.state == "digest":
                    digests.setdefault(delivery.notifier, []).append((delivery, alert))
                else:
                    group.create_task(bounded(self._attempt(delivery, alert, done)))
            for name, members in digests.items():
                notifier = self.notifiers().get(name)
                sizes = (
                    notifier.digest_sizes([a for _, a in members]) if notifier is not None else [len(members)]
                )
                start = 0
                for size in sizes:
                    group.create_task(
                        bounded(self._attempt_digest(name, members[start : start + size], done))
                    )
                    start += size
        return done

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set. Sleeps between passes until woken, the earliest retry we
        scheduled, or ``poll_interval`` (deliveries claimed by other instances), whichever comes first."""
        while not stop.is_set():
            self._wake.clear()
            try:
                done = await self._pass()
            except StoreError as exc:
                # The store being down must not end the loop; the next poll tries again.
                self._store_down(exc)
                leased = 0
            except Exception:
                self._log.exception("outbox pass failed", extra={"event": "outbox_error"})
                leased = 0
            else:
                leased = done.leased
                if done.store_error is not None:
                    # Leased before the store went away, then could not record everything: still down.
                    self._store_down(done.store_error)
                elif self.outage is not None:
                    self.outage.ok()
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

    def _store_down(self, exc: StoreError) -> None:
        """Report a store failure: once per outage through ``outage``, else once per pass."""
        if self.outage is not None:
            self.outage.failed(exc)
        else:
            self._log.warning("outbox pass failed", extra={"event": "outbox_error", "error": str(exc)})

    async def _idle(self, stop: asyncio.Event) -> None:
        timeout = min(self.poll_interval, max(0.0, self._next_due - self.clock.time()))
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _attempt(self, delivery: Delivery, alert: Alert, done: _Pass) -> None:
        """Never raises (but for cancellation): one failed delivery must not cancel its batch mates."""
        notifier = self.notifiers().get(delivery.notifier)
        if notifier is None:
            # Probably removed from the config, maybe only until the next reload: keep it pending.
            # The lease just taken keeps it out of the way meanwhile.
            self._report(delivery, "skipped", "notifier not configured", once=True)
            return
        if delivery.attempts == 0:
            try:
                until = await self._digest_until(notifier)
            except StoreError as exc:
                # The rate-limit slot is unknown: send nothing; the lease brings the delivery back.
                done.failed(exc)
                if self.outage is not None:
                    self.outage.failed(exc)
                return
            if until is not None:
                if await self._record(
                    lambda: self.store.hold(delivery.alert_id, delivery.notifier, until), delivery, done
                ):
                    self._next_due = min(self._next_due, until)
                    self._report(delivery, "held", f"for the digest due in {until - self.clock.time():.0f}s")
                return
        await self._send_one(notifier, delivery, alert, done)

    async def _send_one(self, notifier: Notifier, delivery: Delivery, alert: Alert, done: _Pass) -> None:
        try:
            answer = await notifier.send(await self._current(alert, done))
        except DeliveryError as exc:
            await self._failed([delivery], exc, done)
        except Exception as exc:
            # A notifier bug: log it with its traceback, then treat it like any retryable failure.
            self._log.exception("notifier %s raised %s", delivery.notifier, type(exc).__name__)
            await self._failed([delivery], DeliveryError(f"internal error: {type(exc).__name__}"), done)
        else:
            if await self._record(
                lambda: self.store.mark_delivered(delivery.alert_id, delivery.notifier), delivery, done
            ):
                self._report(delivery, "delivered", answer)

    async def _attempt_digest(self, name: str, members: list[tuple[Delivery, Alert]], done: _Pass) -> None:
        """One message carrying every member; its outcome is every member's outcome."""
        notifier = self.notifiers().get(name)
        if notifier is None:
            self._report(members[0][0], "skipped", "notifier not configured", once=True)
            return
        deliveries = [d for d, _ in members]
        try:
            answer = await notifier.send_digest([await self._current(a, done) for _, a in members])
        except DeliveryError as exc:
            if exc.permanent and len(members) > 1:
                # Refused as a whole, and the digest's shape is ours (its size above all), not the
                # alerts' fault: each goes out on its own, and only one the receiver refuses alone dies.
                self._log.warning(
                    "digest refused; sending its alerts one by one",
                    extra={"event": "digest_split", "notifier": name, "error": exc.reason},
                )
                for delivery, alert in members:
                    await self._send_one(notifier, delivery, alert, done)
                return
            await self._failed(deliveries, exc, done)
        except Exception as exc:
            self._log.exception("notifier %s raised %s", name, type(exc).__name__)
            await self._failed(deliveries, DeliveryError(f"internal error: {type(exc).__name__}"), done)
        else:
            for delivery in deliveries:
                if await self._record(
                    functools.partial(self.store.mark_delivered, delivery.alert_id, name), delivery, done
                ):
                    self._report(delivery, "delivered", f"in a digest of {len(deliveries)}: {answer}")

    async def _digest_until(self, notifier: Notifier) -> float | None:
        """When a first attempt must wait for a digest instead of going out alone, the time it is due.

        Windows are aligned to the epoch (a "15m" digest closes at :00, :15, :30, :45), so every instance
        sharing the store parks its alerts in the same digest without coordinating."""
        now = self.clock.time()
        window = notifier.options.digest
        if window:
            return (now // window + 1) * window
        limit = notifier.options.max_per_hour
        if limit is not None:
            hour = now // 3600 * 3600
            if not await self.store.take_slot(notifier.name, hour, limit):
                return hour + 3600
        return None

    async def _current(self, alert: Alert, done: _Pass) -> Alert:
        """``alert`` with ``also_seen_at`` as the store knows it now: copies found after the claim count.
        Without the store, ``alert`` as claimed: the send goes ahead."""
        try:
            urls = await self.store.story_urls(alert.story_key)
        except StoreError as exc:
            # The store went away after the lease: part of the outage, reported once for all of it
            # (not once per alert), and this pass does not count as the store answering.
            done.failed(exc)
            if self.outage is not None:
                self.outage.failed(exc)
            return alert
        except Exception:
            self._log.exception("could not read the story's URLs", extra={"event": "outbox_error"})
            return alert
        others = tuple(u for u in urls if u != alert.url)
        return replace(alert, also_seen_at=others) if others else alert

    async def _failed(self, deliveries: list[Delivery], error: DeliveryError, done: _Pass) -> None:
        """Record one failed send for ``deliveries`` (one, or a digest's members: they stay together,
        due again at the same moment)."""
        now = self.clock.time()
        first = deliveries[0]
        retry_at: float | None = None
        outcome: DeliveryOutcome
        if error.permanent:
            outcome, detail = "dead", f"permanent: {error.reason}"
        elif now - min(d.created_at for d in deliveries) > self.give_up_after():
            outcome, detail = "dead", f"gave up after {first.attempts + 1} attempts: {error.reason}"
        else:
            retry_at = now + self.retry_delay(max(d.attempts for d in deliveries), error.retry_after)
            self._next_due = min(self._next_due, retry_at)
            outcome, detail = "retry", f"in {retry_at - now:.1f}s: {error.reason}"
        for delivery in deliveries:

            def stored(d: Delivery = delivery) -> Coroutine[Any, Any, None]:
                return self.store.mark_failed(d.alert_id, d.notifier, error.reason, retry_at)

            if await self._record(stored, delivery, done):
                self._report(delivery, outcome, detail)

    async def _record(
        self, write: Callable[[], Coroutine[Any, Any, None]], delivery: Delivery, done: _Pass
    ) -> bool:
        """Await a store write, shielded so a shutdown cancelling the batch cannot lose an outcome.
        False when it did not land (then ``done`` knows the store failed in this pass)."""
        try:
            await asyncio.shield(self._persist(write))
        except StoreError as exc:
            # The store stayed down for the whole lease: the lease will expire and the delivery will be
            # attempted again (receivers dedupe by id). Which delivery is worth a line; the outage itself
            # is reported once, by the tracker.
            done.failed(exc)
            self._log.warning(
                "could not record delivery outcome",
                extra={
                    "event": "outbox_error",
                    "alert_id": delivery.alert_id,
                    "notifier": delivery.notifier,
                    "error": str(exc),
                },
            )
            return False
        except Exception:
            # The lease will expire and the delivery will be attempted again; receivers dedupe by id.
            self._log.exception(
                "could not record delivery outcome",
                extra={"event": "outbox_error", "alert_id": delivery.alert_id, "notifier": delivery.notifier},
            )
            return False
        return True

    async def _persist(self, write: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``write()``; while the store is unreachable, run it again (outcome writes are idempotent)
        until it lands or the delivery's lease is over: after that another instance may have taken the
        delivery over, and retrying here would only race it."""
        give_up = time.monotonic() + self.lease
        pause = 0.05
        while True:
            try:
                await write()
                return
            except StoreError as exc:
                if time.monotonic() + pause >= give_up:
                    raise
                if self.outage is not None:
                    self.outage.failed(exc)
            await asyncio.sleep(pause)  # backoff between attempts on a down store, not synchronisation
            pause = min(1.0, pause * 2)

    def _report(
        self, delivery: Delivery, outcome: DeliveryOutcome, detail: str, *, once: bool = False
    ) -> None:
        if once:
            if delivery.notifier in self._missing_reported:
                return
            self._missing_reported.add(delivery.notifier)
        level = logging.INFO if outcome in ("delivered", "retry", "held") else logging.WARNING
        self._log.log(
            level,
            "delivery",
            extra={
                "alert_id": delivery.alert_id,
                "notifier": delivery.notifier,
                "outcome": outcome,
                "attempt": delivery.attempts + 1,
                "detail": detail,
            },
        )
        if self._on_outcome is not None:
            self._on_outcome(delivery.notifier, outcome)
