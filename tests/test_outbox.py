"""Outbox: retries, backoff, Retry-After, dead letters, wake-ups; real webhook receivers, fake clock."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from monitor.errors import DeliveryError, StoreError
from monitor.fingerprint import fingerprint
from monitor.logs import TextFormatter
from monitor.model import Alert, Clock, Delivery, Hit
from monitor.notify.base import Notifier
from monitor.notify.outbox import Outbox
from monitor.notify.webhook import WebhookNotifier, WebhookOptions
from monitor.store.outage import StoreOutage
from monitor.store.sqlite import SqliteStore
from tests.helpers.clock import FakeClock
from tests.helpers.receiver import Receiver

WAIT = 3.0  # seconds: an upper bound for events that should happen at once, never a pause


@pytest.fixture
async def store(clock: Clock) -> AsyncIterator[SqliteStore]:
    """The outbox's store: the real embedded one, in memory."""
    opened = SqliteStore(":memory:", retention=30 * 86400.0, clock=clock)
    yield opened
    await opened.close()


def make_alert(n: int = 1) -> Alert:
    when = datetime(2024, 11, 19, 8, 0, tzinfo=UTC)
    return Alert(
        id=f"alert-{n}",
        rule_id="nk",
        rule_title="North Korean troops",
        story_key=f"story-{n}",
        url=f"https://news.example/{n}",
        title=f"Story {n}",
        source="ap",
        published=when,
        detected_at=when,
        hits=(Hit("troops", None, "title", 0, 6, "troops"),),
    )


@pytest.fixture
async def setup(
    clock: Clock, receiver: Receiver, store: SqliteStore
) -> AsyncIterator[tuple[SqliteStore, Outbox]]:
    hook = WebhookNotifier("ops", WebhookOptions(url=receiver.url(), timeout=2.0), clock=clock)
    outbox = Outbox(store, lambda: {"ops": hook}, clock, rng=random.Random(7), poll_interval=0.05)
    yield store, outbox
    await hook.close()


async def test_fails_twice_then_delivered_exactly_once(
    clock: FakeClock, receiver: Receiver, setup: tuple[SqliteStore, Outbox]
) -> None:
    store, outbox = setup
    receiver.replies += [(500, {}), (500, {})]
    await store.claim(make_alert(), ["ops"])

    assert await outbox.deliver_due() == 1
    [d] = await store.deliveries()
    assert (d.state, d.attempts, d.last_error is not None) == ("pending", 1, True)
    assert clock.time() <= d.next_attempt_at <= clock.time() + 5.0  # first backoff: uniform(0, base)

    clock.advance(3600)
    assert await outbox.deliver_due() == 1
    clock.advance(3600)
    assert await outbox.deliver_due() == 1
    clock.advance(3600)
    assert await outbox.deliver_due() == 0

    [d] = await store.deliveries()
    assert (d.state, d.attempts) == ("delivered", 3)
    assert receiver.keys() == ["alert-1"] * 3
    assert receiver.acked_keys() == ["alert-1"]


async def test_not_due_means_not_sent(
    clock: FakeClock, receiver: Receiver, setup: tuple[SqliteStore, Outbox]
) -> None:
    store, outbox = setup
    receiver.replies.append((500, {}))
    await store.claim(make_alert(), ["ops"])
    await outbox.deliver_due()
    [d] = await store.deliveries()
    clock.set(d.next_attempt_at - 0.001)
    assert await outbox.deliver_due() == 0
    assert len(receiver.keys()) == 1


async def test_retry_after_is_honoured(
    clock: FakeClock, receiver: Receiver, setup: tuple[SqliteStore, Outbox]
) -> None:
    store, outbox = setup
    receiver.replies.append((503, {"Retry-After": "120"}))
    await store.claim(make_alert(), ["ops"])
    start = clock.time()
    await outbox.deliver_due()
    clock.set(start + 119.9)
    assert await outbox.deliver_due() == 0
    assert len(receiver.keys()) == 1
    clock.set(start + 120)
    assert await outbox.deliver_due() == 1
    assert receiver.acked_keys() == ["alert-1"]


async def test_permanent_failure_is_dead_at_once(
    receiver: Receiver, setup: tuple[SqliteStore, Outbox]
) -> None:
    store, outbox = setup
    receiver.replies.append((400, {}))
    await store.claim(make_alert(), ["ops"])
    await outbox.deliver_due()
    [d] = await store.deliveries()
    assert (d.state, d.attempts) == ("dead", 1)
    assert d.last_error is not None and "HTTP 400" in d.last_error


async def test_dead_letter_after_give_up(
    clock: FakeClock, receiver: Receiver, setup: tuple[SqliteStore, Outbox]
) -> None:
    store, outbox = setup
    receiver.replies += [(500, {})] * 100
    await store.claim(make_alert(), ["ops"])
    start = clock.time()
    while clock.time() - start <= 86400:
        await outbox.deliver_due()
        [d] = await store.deliveries()
        assert d.state == "pending"
        clock.set(max(d.next_attempt_at, start + 86400.5))
    assert await outbox.deliver_due() == 1
    [d] = await store.deliveries()
    assert d.state == "dead"
    assert receiver.acked_keys() == []


def test_backoff_grows_and_is_capped(clock: Clock) -> None:
    outbox = Outbox(
        SqliteStore(":memory:", retention=86400.0, clock=clock),
        lambda: {},
        clock,
        backoff_base=5,
        backoff_max=3600,
        rng=random.Random(1),
    )
    for attempts in range(30):
        delays = [outbox.retry_delay(attempts, None) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= min(3600, 5 * 2**attempts)
    assert max(outbox.retry_delay(20, None) for _ in range(200)) > 1800  # reaches the cap region
    assert outbox.retry_delay(0, 300) == 300  # Retry-After beats a small jitter
    assert outbox.retry_delay(10**6, None) <= 3600  # no overflow on absurd attempt counts


async def test_unconfigured_notifier_stays_pending(
    clock: FakeClock, receiver: Receiver, setup: tuple[SqliteStore, Outbox], caplog: pytest.LogCaptureFixture
) -> None:
    store, outbox = setup
    await store.claim(make_alert(), ["ops", "gone"])
    with caplog.at_level(logging.INFO, logger="monitor.notify.outbox"):
        assert await outbox.deliver_due() == 2
    by_name = {d.notifier: d for d in await store.deliveries()}
    assert by_name["ops"].state == "delivered"
    assert (by_name["gone"].state, by_name["gone"].attempts) == ("pending", 0)
    assert any(
        getattr(r, "notifier", None) == "gone" and getattr(r, "outcome", None) == "skipped"
        for r in caplog.records
    )


async def test_one_log_line_per_outcome(
    receiver: Receiver, setup: tuple[SqliteStore, Outbox], caplog: pytest.LogCaptureFixture
) -> None:
    store, outbox = setup
    receiver.replies.append((500, {}))
    await store.claim(make_alert(), ["ops"])
    with caplog.at_level(logging.INFO, logger="monitor.notify.outbox"):
        await outbox.deliver_due()
    [record] = [r for r in caplog.records if r.getMessage() == "delivery"]
    assert (record.alert_id, record.notifier, record.outcome) == ("alert-1", "ops", "retry")  # type: ignore[attr-defined]
    assert record.attempt == 1  # type: ignore[attr-defined]
    # Each field once, by name, in the text format.
    line = TextFormatter().format(record)
    assert line.count("alert-1") == 1 and "notifier=ops outcome=retry" in line and "attempt=1" in line


async def test_sends_concurrently_but_bounded(clock: Clock, receiver: Receiver, store: SqliteStore) -> None:
    hook = WebhookNotifier("ops", WebhookOptions(url=receiver.url()), clock=clock)
    outbox = Outbox(store, lambda: {"ops": hook}, clock, concurrency=3)
    for n in range(10):
        await store.claim(make_alert(n), ["ops"])
    receiver.hold = True
    task = asyncio.create_task(outbox.deliver_due())
    async with asyncio.timeout(WAIT):
        while receiver.in_flight < 3:
            receiver.arrived.clear()
            await receiver.arrived.wait()
    receiver.release.set()
    async with asyncio.timeout(WAIT):
        assert await task == 10
    await hook.close()
    assert receiver.max_in_flight == 3
    assert sorted(receiver.acked_keys()) == sorted(f"alert-{n}" for n in range(10))


async def test_notifier_bug_is_retried_not_fatal(clock: Clock, store: SqliteStore) -> None:
    class Broken(Notifier):
        kind = "broken"
        Options = WebhookOptions

        async def send(self, alert: Alert) -> str:
            raise KeyError("bug")

        async def send_digest(self, alerts: list[Alert]) -> str:
            raise KeyError("bug")

    outbox = Outbox(store, lambda: {"x": Broken("x", WebhookOptions(url="http://unused"))}, clock)
    await store.claim(make_alert(), ["x"])
    assert await outbox.deliver_due() == 1
    [d] = await store.deliveries()
    assert (d.state, d.last_error) == ("pending", "internal error: KeyError")


async def test_run_delivers_on_wake_and_stops(
    clock: FakeClock, receiver: Receiver, setup: tuple[SqliteStore, Outbox]
) -> None:
    store, outbox = setup
    delivered = asyncio.Event()
    outbox = Outbox(
        store,
        outbox.notifiers,
        clock,
        poll_interval=60.0,  # only the wake-up can explain a prompt delivery
        on_outcome=lambda name, outcome: delivered.set() if outcome == "delivered" else None,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(stop))
    # One turn of the loop: run() finds nothing due and parks in its idle wait. Ordering, not timing.
    await asyncio.sleep(0)
    assert not delivered.is_set()
    await store.claim(make_alert(), ["ops"])
    outbox.wake()
    async with asyncio.timeout(WAIT):
        await delivered.wait()
    stop.set()
    async with asyncio.timeout(WAIT):
        await task
    assert receiver.acked_keys() == ["alert-1"]


async def test_run_survives_store_errors(
    clock: FakeClock, receiver: Receiver, setup: tuple[SqliteStore, Outbox]
) -> None:
    store, outbox = setup
    failures = 0
    real = store.lease_due

    async def flaky(limit: int, lease: float) -> list[tuple[Delivery, Alert]]:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise ConnectionError("store down")
        return await real(limit, lease)

    store.lease_due = flaky  # type: ignore[method-assign]
    await store.claim(make_alert(), ["ops"])
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(stop))
    async with asyncio.timeout(WAIT):
        await receiver.arrived.wait()
    stop.set()
    async with asyncio.timeout(WAIT):
        await task
    assert failures == 2


class DyingStore(SqliteStore):
    """The embedded store (in memory) that can go away: every outbox operation raises StoreError while
    ``down``."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(":memory:", retention=30 * 86400.0, clock=clock)
        self.down = False
        self.story_down = False  # only story_urls fails
        self.passes = 0  # lease_due calls: one per outbox pass
        self.polled = asyncio.Event()  # set at every lease_due call

    def _check(self) -> None:
        if self.down:
            raise StoreError("redis: Connection refused")

    async def lease_due(self, limit: int, lease: float) -> list[tuple[Delivery, Alert]]:
        self.passes += 1
        self.polled.set()
        self._check()
        return await super().lease_due(limit, lease)

    async def story_urls(self, key: str) -> list[str]:
        if self.story_down:
            raise StoreError("redis: Connection refused")
        self._check()
        return await super().story_urls(key)

    async def mark_delivered(self, alert_id: str, notifier: str) -> None:
        self._check()
        await super().mark_delivered(alert_id, notifier)

    async def mark_failed(self, alert_id: str, notifier: str, error: str, retry_at: float | None) -> None:
        self._check()
        await super().mark_failed(alert_id, notifier, error, retry_at)


@pytest.fixture
async def dying(clock: Clock) -> AsyncIterator[DyingStore]:
    store = DyingStore(clock)
    yield store
    await store.close()


def outage_events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.getMessage() in ("store_unavailable", "store_recovered")
    ]


async def test_store_dying_under_a_send_is_one_outage_not_a_false_recovery(
    clock: FakeClock, receiver: Receiver, caplog: pytest.LogCaptureFixture, dying: DyingStore
) -> None:
    """A pass that leased, then could not record its outcome (the store died while the POST was out),
    is part of the outage: no store_recovered until a pass really reaches the store again."""
    store = dying
    hook = WebhookNotifier("ops", WebhookOptions(url=receiver.url(), timeout=2.0), clock=clock)
    delivered = asyncio.Event()
    outbox = Outbox(
        store,
        lambda: {"ops": hook},
        clock,
        lease=0.2,  # recording the outcome is retried for the lease (real seconds), then given up
        poll_interval=0.01,
        outage=StoreOutage(logging.getLogger("tests.outbox.outage")),
        on_outcome=lambda name, outcome: delivered.set() if outcome == "delivered" else None,
    )
    await store.claim(make_alert(), ["ops"])
    receiver.hold = True
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO):
        task = asyncio.create_task(outbox.run(stop))
        try:
            async with asyncio.timeout(WAIT):
                await receiver.arrived.wait()  # the POST is at the receiver
            store.down = True
            receiver.release.set()  # ... and answered, but its outcome cannot be written
            async with asyncio.timeout(WAIT):
                while not any(r.getMessage() == "could not record delivery outcome" for r in caplog.records):
                    store.polled.clear()
                    await store.polled.wait()
                # Two more passes, both failing at the lease: the loop is past the given-up pass.
                after = store.passes
                while store.passes < after + 2:
                    store.polled.clear()
                    await store.polled.wait()
            assert outage_events(caplog) == ["store_unavailable"]
            assert outbox.outage is not None and outbox.outage.down

            store.down = False
            clock.advance(1.0)  # the lease ran out: the delivery is due again
            async with asyncio.timeout(WAIT):
                await delivered.wait()
        finally:
            stop.set()
            async with asyncio.timeout(WAIT):
                await task
            await hook.close()
    assert outage_events(caplog) == ["store_unavailable", "store_recovered"]
    assert receiver.keys() == ["alert-1", "alert-1"]  # sent again, under the same key
    [d] = await store.deliveries()
    assert d.state == "delivered"


async def test_story_urls_failing_is_one_outage_line_not_one_per_alert(
    clock: FakeClock, receiver: Receiver, caplog: pytest.LogCaptureFixture, dying: DyingStore
) -> None:
    store = dying
    hook = WebhookNotifier("ops", WebhookOptions(url=receiver.url(), timeout=2.0), clock=clock)
    outage = StoreOutage(logging.getLogger("tests.outbox.outage"))
    outbox = Outbox(store, lambda: {"ops": hook}, clock, outage=outage)
    for n in range(5):
        await store.claim(make_alert(n), ["ops"])
    store.story_down = True
    with caplog.at_level(logging.INFO):
        assert await outbox.deliver_due() == 5
    await hook.close()
    assert sorted(receiver.acked_keys()) == [f"alert-{n}" for n in range(5)]  # sent as claimed
    assert outage_events(caplog) == ["store_unavailable"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert outage.down  # a pass with a failed store read does not end the outage


async def test_drain_delivers_everything_due(
    clock: FakeClock, receiver: Receiver, setup: tuple[SqliteStore, Outbox]
) -> None:
    store, outbox = setup
    outbox.batch = 4
    for n in range(10):
        await store.claim(make_alert(n), ["ops"])
    assert await outbox.drain(deadline=clock.time() + 10) == 10
    assert await store.outbox_pending() == 0


async def test_drain_stops_at_deadline(
    clock: FakeClock, receiver: Receiver, setup: tuple[SqliteStore, Outbox]
) -> None:
    store, outbox = setup
    await store.claim(make_alert(), ["ops"])
    assert await outbox.drain(deadline=clock.time()) == 0
    assert len(receiver.keys()) == 0


async def test_drain_cancels_sends_past_deadline(
    clock: Clock, receiver: Receiver, store: SqliteStore
) -> None:
    hook = WebhookNotifier("ops", WebhookOptions(url=receiver.url()), clock=clock)
    outbox = Outbox(store, lambda: {"ops": hook}, clock)
    receiver.hold = True  # the receiver never answers
    await store.claim(make_alert(), ["ops"])
    async with asyncio.timeout(WAIT):
        await outbox.drain(deadline=clock.time() + 0.2)
    await hook.close()
    [d] = await store.deliveries()
    # Outcome unknown: left pending under its lease, so it is retried later rather than lost.
    assert (d.state, d.attempts) == ("pending", 0)


def test_delivery_error_defaults() -> None:
    assert not DeliveryError("x").permanent and DeliveryError("x").retry_after is None


# -- digests, rate limits, also_seen_at at send time -------------------------------------------------------
def policy_outbox(store: SqliteStore, clock: Clock, receiver: Receiver, **policy: object) -> Outbox:
    hook = WebhookNotifier("ops", WebhookOptions(url=receiver.url(), timeout=2.0, **policy), clock=clock)  # type: ignore[arg-type]
    return Outbox(store, lambda: {"ops": hook}, clock, rng=random.Random(7))


async def test_digest_window_batches_alerts_into_one_send(
    clock: FakeClock, receiver: Receiver, store: SqliteStore
) -> None:
    clock.set(900 * 1_000_000 + 100)  # 100 s into a 15-minute window
    outbox = policy_outbox(store, clock, receiver, digest=900.0)
    for n in range(3):
        await store.claim(make_alert(n), ["ops"])
    assert await outbox.deliver_due() == 3
    assert receiver.keys() == []  # parked, not sent
    assert {(d.state, d.next_attempt_at) for d in await store.deliveries()} == {("digest", 900 * 1_000_001)}
    clock.advance(799)
    assert await outbox.deliver_due() == 0
    clock.advance(1)  # the window closes
    receiver.replies.append((503, {}))
    assert await outbox.deliver_due() == 3
    assert len(receiver.keys()) == 1 and receiver.acked_keys() == []
    assert {d.state for d in await store.deliveries()} == {"digest"}  # retried together, as a digest
    clock.advance(3600)
    assert await outbox.deliver_due() == 3
    assert (
        receiver.keys()[0] == receiver.keys()[1] == receiver.acked_keys()[0]
    )  # the same digest, once acknowledged
    assert {d.state for d in await store.deliveries()} == {"delivered"}
    await outbox.notifiers()["ops"].close()


async def test_max_per_hour_folds_the_excess_into_a_digest(
    clock: FakeClock, receiver: Receiver, store: SqliteStore
) -> None:
    clock.set(3600 * 500_000)
    outbox = policy_outbox(store, clock, receiver, max_per_hour=2)
    for n in range(5):
        await store.claim(make_alert(n), ["ops"])
    assert await outbox.deliver_due() == 5
    assert sorted(receiver.acked_keys()) == ["alert-0", "alert-1"]
    held = await store.deliveries("digest")
    assert len(held) == 3 and {d.next_attempt_at for d in held} == {clock.time() + 3600}
    clock.advance(3600)
    assert await outbox.deliver_due() == 3
    assert len(receiver.acked_keys()) == 3  # nothing dropped, no flood: one more message carries the three
    assert all(d.state == "delivered" for d in await store.deliveries())
    await outbox.notifiers()["ops"].close()


async def test_also_seen_at_is_what_the_store_knows_at_send_time(
    clock: FakeClock, store: SqliteStore
) -> None:
    sent: list[Alert] = []

    class Recording(Notifier):
        kind = "recording"
        Options = WebhookOptions

        async def send(self, alert: Alert) -> str:
            sent.append(alert)
            return "ok"

        async def send_digest(self, alerts: list[Alert]) -> str:
            sent.extend(alerts)
            return "ok"

    outbox = Outbox(store, lambda: {"r": Recording("r", WebhookOptions(url="http://unused"))}, clock)
    alert = make_alert()
    for url in (alert.url, "https://copy.example/1", "https://copy.example/2"):
        story = await store.resolve_story(fingerprint("North Korean troops seen near Kursk"), url, 3600.0)
    alert = replace(alert, story_key=story.key)
    await store.claim(alert, ["r"])
    await outbox.deliver_due()
    assert sent[0].also_seen_at == ("https://copy.example/1", "https://copy.example/2")
