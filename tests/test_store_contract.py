"""One contract suite for the Store protocol, run against SQLite and a real redis-server."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from redis.exceptions import RedisError

from monitor.archive import TRAIN_SAMPLES, ArchivedArticle, Codec, decode_payload
from monitor.errors import StoreError
from monitor.fingerprint import fingerprint
from monitor.model import Alert, Delivery
from monitor.store import open_store
from monitor.store.base import ArchivePolicy, SourceState, Store, Validators
from monitor.store.redis import RedisStore
from monitor.store.sqlite import SqliteStore
from tests.helpers.alerts import make_alert
from tests.helpers.stores import RETENTION

if TYPE_CHECKING:
    from conftest import StoreFactory

    from tests.helpers.clock import FakeClock


WINDOW = 72 * 3600.0
TEXT = "Missiles hit an ammunition depot near Kursk overnight, regional officials said on Tuesday."


async def test_ping_and_open_is_idempotent(store: Store) -> None:
    await store.open()
    assert await store.ping() is True


# -- seen URLs -----------------------------------------------------------------------------------------
async def test_seen_reports_marked_urls_with_their_revision(store: Store) -> None:
    urls = [f"https://example.org/{i}" for i in range(5)]
    assert await store.seen([]) == {}
    assert await store.seen(urls) == {}
    await store.mark_seen({urls[3]: "", urls[1]: ""})
    assert await store.seen(urls) == {urls[1]: "", urls[3]: ""}
    await store.mark_seen({urls[1]: "2 a b", "guid:feed\0tag:x,2024:1": "2 a b"})
    assert await store.seen([*urls, "guid:feed\0tag:x,2024:1"]) == {
        urls[1]: "2 a b",
        urls[3]: "",
        "guid:feed\0tag:x,2024:1": "2 a b",
    }


async def test_seen_urls_expire_after_retention_by_the_clock(store: Store, clock: FakeClock) -> None:
    url = "https://example.org/old"
    await store.mark_seen({url: "r1"})
    clock.advance(RETENTION - 1)
    assert await store.seen([url]) == {url: "r1"}
    clock.advance(2)
    assert await store.seen([url]) == {}
    await store.mark_seen({url: ""})
    assert await store.seen([url]) == {url: ""}


async def test_seen_is_shared_between_instances(make_store: StoreFactory) -> None:
    first, second = await make_store(), await make_store()
    await first.mark_seen({"https://example.org/a": "x"})
    assert await second.seen(["https://example.org/a", "https://example.org/b"]) == {
        "https://example.org/a": "x"
    }


# -- validators ----------------------------------------------------------------------------------------
async def test_validators_round_trip(store: Store, clock: FakeClock) -> None:
    url = "https://example.org/feed.xml"
    assert await store.get_validators(url) is None
    await store.set_validators(url, Validators(etag='W/"abc"', last_modified="Tue, 19 Nov 2024 08:00:00 GMT"))
    assert await store.get_validators(url) == Validators('W/"abc"', "Tue, 19 Nov 2024 08:00:00 GMT")
    await store.set_validators(url, Validators(etag=None, last_modified="Wed, 20 Nov 2024 08:00:00 GMT"))
    assert await store.get_validators(url) == Validators(None, "Wed, 20 Nov 2024 08:00:00 GMT")
    clock.advance(RETENTION + 1)
    assert await store.get_validators(url) is None


# -- claims and the outbox ---------------------------------------------------------------------------------
async def test_claim_is_once_only_and_persists_alert_and_deliveries(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    first, second = await make_store(), await make_store()
    alert = make_alert()
    assert await first.claim(alert, ["ops", "desk", "ops"]) == alert
    assert await first.claim(alert, ["ops"]) is None
    assert await second.claim(make_alert(title="changed"), ["terminal"]) is None

    assert await second.get_alert("a1") == alert
    assert await second.get_alert("missing") is None
    pending = await second.deliveries("pending")
    assert sorted(d.notifier for d in pending) == ["desk", "ops"]
    assert {(d.alert_id, d.attempts, d.next_attempt_at, d.created_at) for d in pending} == {
        ("a1", 0, clock.time(), clock.time())
    }
    assert await second.outbox_pending() == 2


async def test_claim_race_across_instances_has_one_winner(make_store: StoreFactory) -> None:
    first, second = await make_store(), await make_store()
    alert = make_alert("contested")
    results = await asyncio.gather(
        *(s.claim(alert, ["ops", "desk"]) for _ in range(10) for s in (first, second))
    )
    assert sorted(r is not None for r in results) == [False] * 19 + [True]
    assert len(await first.deliveries()) == 2
    assert await second.outbox_pending() == 2


async def test_claim_is_forgotten_after_retention(store: Store, clock: FakeClock) -> None:
    assert await store.claim(make_alert(), ["ops"]) is not None
    await store.mark_delivered("a1", "ops")
    clock.advance(RETENTION - 1)
    assert await store.claim(make_alert(), ["ops"]) is None
    clock.advance(2)
    assert await store.claim(make_alert(), ["desk"]) == make_alert()
    assert [(d.notifier, d.state) for d in await store.deliveries()] == [("desk", "pending")]


async def test_claim_is_taken_again_after_realert_under_a_new_id(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    first, second = await make_store(), await make_store()
    assert await first.claim(make_alert(), ["ops"], realert=3600) == make_alert()
    clock.advance(3599)
    assert await second.claim(make_alert(), ["ops"], realert=3600) is None
    clock.advance(1)
    again = await second.claim(make_alert(title="edited"), ["ops"], realert=3600)
    assert again == replace(make_alert(title="edited"), id="a1-r1")
    assert await first.get_alert("a1-r1") == again
    assert await first.get_alert("a1") == make_alert()  # the first alert and its delivery stay
    assert sorted(d.alert_id for d in await first.deliveries("pending")) == ["a1", "a1-r1"]
    # the window runs from the latest claim, and None means never again
    clock.advance(3599)
    assert await first.claim(make_alert(), ["ops"], realert=3600) is None
    clock.advance(1)
    assert await first.claim(make_alert(), ["ops"]) is None
    third = await first.claim(make_alert(), ["ops"], realert=3600)
    assert third is not None and third.id == "a1-r2"
    clock.advance(3600)
    results = await asyncio.gather(
        *(s.claim(make_alert(), ["ops"], realert=3600) for _ in range(5) for s in (first, second))
    )
    assert [r.id for r in results if r is not None] == ["a1-r3"]  # one winner per due re-alert


async def test_lease_due_returns_due_oldest_first_and_hides_leased(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    first, second = await make_store(), await make_store()
    await first.claim(make_alert("a1"), ["ops"])
    clock.advance(1)
    await first.claim(make_alert("a2"), ["ops", "desk"])
    clock.advance(1)
    await first.claim(make_alert("a3"), ["ops"])
    await first.mark_failed("a3", "ops", "HTTP 503", retry_at=clock.time() + 60)

    leased = await first.lease_due(limit=2, lease=30)
    assert [(d.alert_id, d.notifier) for d, _ in leased] == [("a1", "ops"), ("a2", "desk")]
    assert [a for _, a in leased] == [make_alert("a1"), make_alert("a2")]
    assert all(d.next_attempt_at == clock.time() + 30 and d.state == "pending" for d, _ in leased)

    rest = await second.lease_due(limit=10, lease=30)
    assert [(d.alert_id, d.notifier) for d, _ in rest] == [("a2", "ops")]  # a3 is not due yet
    assert await second.lease_due(limit=10, lease=30) == []
    assert await first.outbox_pending() == 4  # leased deliveries are still pending

    assert await second.lease_due(limit=10, lease=30) == []
    assert await first.lease_due(limit=10, lease=30) == []  # hidden from the one holding it too


async def test_a_lapsed_lease_makes_the_delivery_due_again(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    """An unacknowledged delivery comes back after its lease: by the clock on SQLite, by the stream
    entry's idle time (real seconds, the visibility timeout) on Redis -- so this test moves both."""
    first, second = await make_store(), await make_store()
    await first.claim(make_alert("a1"), ["ops"])
    clock.advance(1)
    await first.claim(make_alert("a2"), ["ops", "desk"])
    await first.claim(make_alert("a3"), ["ops"])
    await first.mark_failed("a3", "ops", "HTTP 503", retry_at=clock.time() + 60)
    assert len(await first.lease_due(limit=10, lease=LEASE)) == 3  # the crashed consumer
    assert await second.lease_due(limit=10, lease=LEASE) == []

    clock.advance(LEASE + 0.01)
    again = await lease_until(second, 3)
    assert sorted((d.alert_id, d.notifier) for d, _ in again) == [
        ("a1", "ops"),
        ("a2", "desk"),
        ("a2", "ops"),
    ]
    assert await first.outbox_pending() == 4
    clock.advance(60)  # a3's retry is due, and the second leases lapsed too
    late = await lease_until(first, 4)
    assert sorted((d.alert_id, d.attempts) for d, _ in late) == [("a1", 0), ("a2", 0), ("a2", 0), ("a3", 1)]
    for delivery, _ in late:
        await second.mark_delivered(delivery.alert_id, delivery.notifier)
    clock.advance(LEASE + 0.01)
    assert await first.outbox_pending() == 0
    assert await first.lease_due(limit=10, lease=LEASE) == []  # acknowledged: never again


LEASE = 0.3  # seconds: lapses on Redis in real time, so kept short


async def lease_until(store: Store, count: int) -> list[tuple[Delivery, Alert]]:
    """Lease until ``count`` distinct deliveries came back (on Redis they lapse in real time, maybe not
    all in the same call)."""
    got: dict[tuple[str, str], tuple[Delivery, Alert]] = {}
    async with asyncio.timeout(5):
        while len(got) < count:
            for delivery, alert in await store.lease_due(limit=10, lease=LEASE):
                got.setdefault((delivery.alert_id, delivery.notifier), (delivery, alert))
            if len(got) < count:
                await asyncio.sleep(0.02)  # a poll interval: the deadline above decides failure
    return list(got.values())


async def test_mark_delivered_and_mark_failed(store: Store, clock: FakeClock) -> None:
    await store.claim(make_alert(), ["ops", "desk", "terminal"])
    await store.mark_failed("a1", "ops", "connection refused", retry_at=clock.time() + 10)
    await store.mark_delivered("a1", "ops")
    await store.mark_failed("a1", "desk", "HTTP 410", retry_at=None)
    await store.mark_delivered("missing", "ops")  # unknown deliveries are ignored

    by_notifier = {d.notifier: d for d in await store.deliveries()}
    assert (by_notifier["ops"].state, by_notifier["ops"].attempts) == ("delivered", 2)
    desk = by_notifier["desk"]
    assert (desk.state, desk.attempts, desk.last_error) == ("dead", 1, "HTTP 410")
    assert by_notifier["terminal"].state == "pending"
    assert [d.notifier for d in await store.deliveries("dead")] == ["desk"]
    assert [d.notifier for d in await store.deliveries("delivered")] == ["ops"]
    assert await store.outbox_pending() == 1
    clock.advance(3600)
    assert [d.notifier for d, _ in await store.lease_due(10, 30)] == ["terminal"]


async def test_mark_failed_with_retry_reschedules(store: Store, clock: FakeClock) -> None:
    await store.claim(make_alert(), ["ops"])
    await store.mark_failed("a1", "ops", "", retry_at=clock.time() + 120)
    (delivery,) = await store.deliveries("pending")
    assert (delivery.attempts, delivery.next_attempt_at, delivery.last_error) == (1, clock.time() + 120, "")
    clock.advance(119)
    assert await store.lease_due(10, 30) == []
    clock.advance(1)
    assert len(await store.lease_due(10, 30)) == 1


async def test_hold_parks_a_delivery_for_its_digest(make_store: StoreFactory, clock: FakeClock) -> None:
    first, second = await make_store(), await make_store()
    await first.claim(make_alert("a1"), ["ops", "desk"])
    await first.claim(make_alert("a2"), ["ops"])
    t0 = clock.time()
    await first.hold("a1", "ops", until=t0 + 900)
    await second.hold("a2", "ops", until=t0 + 900)
    await second.mark_delivered("a1", "desk")
    await second.hold("a1", "desk", until=t0 + 900)  # delivered stays delivered
    assert sorted((d.alert_id, d.state) for d in await first.deliveries("digest")) == [
        ("a1", "digest"),
        ("a2", "digest"),
    ]
    assert await first.outbox_pending() == 2
    assert await first.lease_due(10, 30) == []
    clock.advance(900)
    leased = await second.lease_due(10, 30)
    assert [(d.alert_id, d.state) for d, _ in leased] == [("a1", "digest"), ("a2", "digest")]
    # a failed digest send stays a digest, due again together
    for alert_id in ("a1", "a2"):
        await first.mark_failed(alert_id, "ops", "HTTP 503", retry_at=clock.time() + 60)
    assert {d.state for d in await first.deliveries()} == {"digest", "delivered"}
    clock.advance(60)
    assert [d.state for d, _ in await first.lease_due(10, 30)] == ["digest", "digest"]
    await first.mark_delivered("a1", "ops")
    await first.mark_failed("a2", "ops", "gave up", retry_at=None)
    assert await first.outbox_pending() == 0
    assert await first.retry("a2") == 1  # a dead digest member comes back on its own
    assert [d.state for d in await second.deliveries("pending")] == ["pending"]


async def test_take_slot_counts_sends_per_notifier_and_window(make_store: StoreFactory) -> None:
    first, second = await make_store(), await make_store()
    hour = 1_700_000_000.0 // 3600 * 3600
    results = await asyncio.gather(*(s.take_slot("ops", hour, 3) for _ in range(4) for s in (first, second)))
    assert sorted(results) == [False] * 5 + [True] * 3
    assert await first.take_slot("desk", hour, 3) is True
    assert await second.take_slot("ops", hour + 3600, 3) is True


async def test_retry_brings_dead_letters_back(store: Store, clock: FakeClock) -> None:
    await store.claim(make_alert(), ["ops", "desk", "terminal"])
    for notifier in ("ops", "desk"):
        await store.mark_failed("a1", notifier, "gave up", retry_at=None)
    await store.mark_delivered("a1", "terminal")
    assert await store.outbox_pending() == 0

    clock.advance(100)
    assert await store.retry("a1", "ops") == 1
    assert await store.outbox_pending() == 1
    assert await store.retry("a1") == 2  # desk (dead) and ops (pending); terminal was delivered
    assert await store.retry("missing") == 0
    leased = await store.lease_due(10, 30)
    assert sorted(d.notifier for d, _ in leased) == ["desk", "ops"]
    assert all(d.state == "pending" and d.last_error == "gave up" for d, _ in leased)


async def test_deliveries_newest_first(store: Store, clock: FakeClock) -> None:
    for alert_id in ("a1", "a2", "a3"):
        await store.claim(make_alert(alert_id), ["ops"])
        clock.advance(5)
    assert [d.alert_id for d in await store.deliveries()] == ["a3", "a2", "a1"]
    assert await store.deliveries("dead") == []


# -- sources ---------------------------------------------------------------------------------------------
async def test_record_poll_and_source_states(store: Store, clock: FakeClock) -> None:
    assert await store.source_state("bbc") == SourceState(name="bbc")
    assert await store.source_states() == []
    t0 = clock.time()
    await store.record_poll("bbc", error=None, articles=3)
    clock.advance(60)
    await store.record_poll("bbc", error="HTTP 503", articles=0)
    await store.record_poll("ap", error=None, articles=1)
    assert await store.source_state("bbc") == SourceState("bbc", t0 + 60, t0, "HTTP 503", 3)
    clock.advance(60)
    await store.record_poll("bbc", error=None, articles=2)
    assert await store.source_states() == [
        SourceState("ap", t0 + 60, t0 + 60, None, 1),
        SourceState("bbc", t0 + 120, t0 + 120, None, 5),
    ]


# -- error translation and URL dispatch ------------------------------------------------------------------
async def test_redis_errors_become_store_errors(clock: FakeClock) -> None:
    store = RedisStore("redis://127.0.0.1:1/0", retention=RETENTION, clock=clock, timeout=1)
    try:
        assert await store.ping() is False
        with pytest.raises(StoreError) as caught:
            await store.open()
        assert isinstance(caught.value.__cause__, RedisError)
        for call in (
            store.seen(["https://example.org/"]),
            store.claim(make_alert(), ["ops"]),
            store.lease_due(1, 30),
            store.resolve_story(fingerprint(TEXT), "https://example.org/", WINDOW),
            store.record_poll("x", error=None, articles=0),
        ):
            with pytest.raises(StoreError):
                await call
    finally:
        await store.close()


async def test_redis_script_errors_become_store_errors(redis_url: str, clock: FakeClock) -> None:
    store = RedisStore(redis_url, retention=RETENTION, clock=clock)
    await store.open()
    try:
        await store._r.set("newsmon:{newsmon:outbox}:due", "wrong type")
        await store._r.set("{newsmon:outbox}:due", "wrong type")
        with pytest.raises(StoreError) as caught:
            await store.lease_due(1, 30)
        assert isinstance(caught.value.__cause__, RedisError)
    finally:
        await store.close()


async def test_sqlite_errors_become_store_errors(tmp_path: Path, clock: FakeClock) -> None:
    store = SqliteStore(str(tmp_path), retention=RETENTION, clock=clock)  # a directory, not a file
    try:
        assert await store.ping() is False
        with pytest.raises(StoreError) as caught:
            await store.open()
        assert caught.value.__cause__ is not None
    finally:
        await store.close()


async def test_sqlite_purges_expired_rows_on_open(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "purge.db"
    store = SqliteStore(str(path), retention=RETENTION, clock=clock)
    await store.mark_seen({"https://example.org/old": ""})
    await store.resolve_story(fingerprint(TEXT), "https://example.org/old", WINDOW)
    await store.claim(make_alert(), ["ops"])
    await store.take_slot("ops", clock.time(), 10)
    await store.close()

    clock.advance(RETENTION + 1)
    reopened = SqliteStore(str(path), retention=RETENTION, clock=clock)
    await reopened.open()
    await reopened.close()
    with closing(sqlite3.connect(path)) as conn:
        tables = (
            "seen",
            "story",
            "story_band",
            "story_url",
            "story_of",
            "claims",
            "slots",
            "alerts",
            "deliveries",
        )
        assert {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables} == dict.fromkeys(
            tables, 0
        )


async def test_sqlite_migrates_a_database_from_before_revisions(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE seen (h BLOB PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID")
        conn.execute("CREATE TABLE stories (key TEXT PRIMARY KEY, fp INTEGER NOT NULL)")
        conn.commit()
    store = SqliteStore(str(path), retention=RETENTION, clock=clock)
    try:
        await store.mark_seen({"https://example.org/a": "r"})
        assert await store.seen(["https://example.org/a"]) == {"https://example.org/a": "r"}
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'stories'").fetchone() is None


async def test_sqlite_creates_parent_directory(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "var" / "lib" / "newsmon.db"
    store = open_store(f"sqlite://{path}", retention=RETENTION, clock=clock)
    assert isinstance(store, SqliteStore)
    await store.open()
    await store.close()
    assert path.is_file()


def test_open_store_by_scheme(clock: FakeClock) -> None:
    assert isinstance(open_store("sqlite:///var/lib/newsmon/x.db", retention=1, clock=clock), SqliteStore)
    assert isinstance(open_store("redis://localhost:6379/0", retention=1, clock=clock), RedisStore)
    assert isinstance(open_store("rediss://localhost:6379/0", retention=1, clock=clock), RedisStore)
    with pytest.raises(ValueError, match="unsupported store URL 'mongodb://u:\\*\\*\\*@db/x'"):
        open_store("mongodb://u:hunter2@db/x", retention=1, clock=clock)
    assert "hunter2" not in repr(open_store("redis://:hunter2@localhost/0", retention=1, clock=clock))


# -- leases, membership and host slots (real time: liveness of other processes) ----------------------------
async def test_lease_has_one_holder_renews_and_transfers(make_store: StoreFactory) -> None:
    first, second = await make_store(), await make_store()
    results = await asyncio.gather(
        *(s.acquire_lease("bbc", owner, 30) for _ in range(5) for s, owner in ((first, "i1"), (second, "i2")))
    )
    assert results.count(True) == 5  # every call by the winner, none by the loser
    winner = await second.lease_holder("bbc")
    loser = "i2" if winner == "i1" else "i1"
    assert winner in ("i1", "i2")
    assert await first.acquire_lease("bbc", winner, 30) is True  # a renewal
    assert await first.acquire_lease("bbc", loser, 30) is False
    assert await first.transfer_lease("bbc", loser, "i3", 30) is False  # only the holder hands over
    assert await first.transfer_lease("bbc", winner, "i3", 30) is True
    assert await second.lease_holder("bbc") == "i3"
    await second.release_lease("bbc", winner)  # not the holder any more: no effect
    assert await first.lease_holder("bbc") == "i3"
    await second.release_lease("bbc", "i3")
    assert await first.lease_holder("bbc") is None
    assert await first.acquire_lease("bbc", loser, 30) is True
    assert await first.lease_holder("other") is None


async def test_leases_released_in_one_call_drop_only_the_owners(make_store: StoreFactory) -> None:
    first, second = await make_store(), await make_store()
    mine = [f"s{i}" for i in range(1500)]  # more than one script call's batch on Redis
    assert all(await first.acquire_leases("i1", [(name, 30) for name in mine]))
    assert await second.acquire_lease("theirs", "i2", 30) is True
    await first.release_leases("i1", [*mine, "theirs", "nobody's"])
    assert [await second.lease_holder(n) for n in ("s0", "s999", "s1000", "s1499")] == [None] * 4
    assert await second.lease_holder("theirs") == "i2"
    assert await second.acquire_lease("s1000", "i2", 30) is True


async def test_leases_taken_in_one_batch_answer_each_as_alone(make_store: StoreFactory) -> None:
    first, second = await make_store(), await make_store()
    assert await second.acquire_lease("theirs", "i2", 30) is True
    answers = await first.acquire_leases("i1", [("new", 30), ("theirs", 30), ("lapsing", 0.2), ("new", 30)])
    assert answers == [True, False, True, True]  # a renewal of its own in the same batch, too
    assert [await second.lease_holder(n) for n in ("new", "theirs", "lapsing")] == ["i1", "i2", "i1"]
    assert await first.acquire_leases("i1", []) == []


async def test_lease_lapses_after_its_ttl(make_store: StoreFactory) -> None:
    first, second = await make_store(), await make_store()
    assert await first.acquire_lease("bbc", "dead", 0.2) is True
    assert await second.acquire_lease("bbc", "alive", 30) is False
    async with asyncio.timeout(5):
        while not await second.acquire_lease("bbc", "alive", 30):  # noqa: ASYNC110 - polling; the deadline decides failure
            await asyncio.sleep(0.02)
    assert await first.lease_holder("bbc") == "alive"


async def test_heartbeat_lists_live_instances(make_store: StoreFactory) -> None:
    first, second = await make_store(), await make_store()
    assert await first.heartbeat("b", 30) == ["b"]
    assert await second.heartbeat("a", 30) == ["a", "b"]
    assert await first.heartbeat("short", 0.2) == ["a", "b", "short"]
    await second.heartbeat("a", 0)  # a clean shutdown leaves at once
    async with asyncio.timeout(5):
        while (live := await first.heartbeat("b", 30)) != ["b"]:
            assert set(live) <= {"b", "short"}
            await asyncio.sleep(0.02)


async def test_host_slots_space_requests_across_instances(make_store: StoreFactory) -> None:
    first, second = await make_store(), await make_store()
    waits = sorted(
        await asyncio.gather(*(s.host_slot("news.example", 1.0) for s in (first, second, first, second)))
    )
    # One queue, a second apart, whoever asks (less the little time the calls themselves took).
    assert all(i - 0.5 < w <= i for i, w in enumerate(waits)), waits
    assert await first.host_slot("other.example", 1.0) == 0
    assert await first.host_slot("fast.example", 0) == 0
    assert await second.host_slot("fast.example", 0) == 0


# -- article archive -------------------------------------------------------------------------------------
@pytest.fixture
def make_archive(make_store: StoreFactory) -> StoreFactory:
    """Opens a Store instance with the article archive on (Redis keeps none unless asked)."""
    return lambda **policy: make_store(ArchivePolicy(enabled=True, **policy))


def archived(n: int, at: float, source: str = "wire") -> ArchivedArticle:
    return ArchivedArticle(
        url=f"https://news.example.org/{n}",
        source=source,
        title=f"Story {n}: Kyiv – “talks”",
        body=f"Article {n} body. " + "Officials met in Kyiv to discuss the grain corridor. " * 80,
        summary="A summary",
        published=datetime(2024, 11, 19, 8, 30, tzinfo=timezone(timedelta(hours=3))),
        language="en",
        fetched_url=f"https://news.example.org/amp/{n}",
        detected_at=at,
        story_key="s1" if n % 2 else None,
        rules=("r1",) if n % 2 else (),
    )


async def scan(
    store: Store, since: float, until: float | None = None, source: str | None = None
) -> list[str]:
    return [
        decode_payload(p).url async for batch in store.archive_payloads(since, until, source) for p in batch
    ]


async def test_archive_keeps_what_mark_seen_is_given(
    make_archive: Callable[..., Awaitable[Store]], clock: FakeClock
) -> None:
    store = await make_archive()
    records = [archived(n, clock.time() + n) for n in range(1, 4)]
    await store.mark_seen({r.url: "" for r in records}, records)
    assert await store.archived(records[0].url) == records[0]
    assert await store.archived("https://news.example.org/none") is None
    other = await make_archive()  # another instance reads what this one wrote
    assert await other.archived(records[2].url) == records[2]
    assert await scan(other, clock.time()) == [r.url for r in records]
    assert await scan(other, clock.time() + 2) == [r.url for r in records[1:]]
    assert await scan(other, clock.time(), clock.time() + 2) == [r.url for r in records[:1]]
    assert await scan(other, clock.time(), source="blog") == []
    stats = await other.archive_stats()
    assert stats.articles == 3 and stats.oldest == records[0].detected_at
    assert 0 < stats.bytes < sum(len(r.body) for r in records)  # packed


async def test_archive_record_of_a_url_is_replaced(
    make_archive: Callable[..., Awaitable[Store]], clock: FakeClock
) -> None:
    store = await make_archive()
    first = archived(1, clock.time())
    edited = replace(first, title="Edited", detected_at=clock.time() + 60)
    await store.mark_seen({}, [first])
    await store.mark_seen({}, [edited])
    assert await store.archived(first.url) == edited
    assert await scan(store, 0) == [first.url]
    assert (await store.archive_stats()).articles == 1


async def test_archive_trains_a_shared_dictionary_every_instance_reads(
    make_archive: Callable[..., Awaitable[Store]], clock: FakeClock
) -> None:
    writer, reader = await make_archive(), await make_archive()
    first = [archived(n, clock.time() + n) for n in range(TRAIN_SAMPLES + 10)]
    await reader.archived(first[0].url)  # the reader has loaded the (no) dictionaries before it exists
    await writer.mark_seen({}, first)
    later = archived(10_000, clock.time() + 10_000)
    before = (await writer.archive_stats()).bytes
    await writer.mark_seen({}, [later])
    alone = len(Codec().encode([later]))  # packed without a dictionary
    assert (await writer.archive_stats()).bytes - before < alone / 2
    assert await reader.archived(later.url) == later
    assert len(await scan(reader, 0)) == len(first) + 1


async def test_archive_expires_by_its_retention(
    make_archive: Callable[..., Awaitable[Store]], clock: FakeClock
) -> None:
    store = await make_archive(retention=86400.0)
    await store.mark_seen({}, [archived(1, clock.time())])
    clock.advance(2 * 86400)
    await store.mark_seen({}, [archived(2, clock.time())])
    if isinstance(store, SqliteStore):
        await store._run(store._purge, clock.time())  # the periodic purge, now
    assert await store.archived(archived(1, 0).url) is None
    assert await scan(store, 0) == [archived(2, 0).url]


async def test_archive_keeps_under_its_cap_dropping_the_oldest(
    make_archive: Callable[..., Awaitable[Store]], clock: FakeClock
) -> None:
    def batch(k: int) -> list[ArchivedArticle]:
        return [archived(n, clock.time() + n) for n in range(10 * k, 10 * k + 10)]

    first = await make_archive()
    await first.mark_seen({}, batch(0))
    size = (await first.archive_stats()).bytes
    capped = await make_archive(max_bytes=int(4.5 * size))
    for k in range(1, 20):
        await capped.mark_seen({}, batch(k))
    if isinstance(capped, SqliteStore):
        await capped._run(capped._purge, clock.time())
    stats = await capped.archive_stats()
    kept = await scan(capped, 0)
    assert 30 <= len(kept) == stats.articles and stats.bytes <= 4.5 * size * 1.1
    assert kept[-1].endswith("/199") and not any(u.endswith("/0") for u in kept)  # the oldest went first


async def test_archive_is_off_on_redis_unless_asked(redis_url: str, clock: FakeClock) -> None:
    store = open_store(redis_url, retention=RETENTION, clock=clock)
    await store.open()
    try:
        await store.mark_seen({"https://a.example/1": ""}, [archived(1, clock.time())])
        assert await store.seen(["https://a.example/1"]) == {"https://a.example/1": ""}
        assert await store.archived(archived(1, 0).url) is None
    finally:
        await store.close()


async def test_quarantine_is_recorded_newest_first_and_shared(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    one, two = await make_store(), await make_store()
    assert await one.quarantined() == []
    await one.quarantine("https://x.example/a", "src", "MatchTimeout: too slow")
    clock.advance(5)
    await one.quarantine("https://x.example/b", "src", "ValueError: boom")
    got = await two.quarantined()
    assert [(q.url, q.source, q.reason) for q in got] == [
        ("https://x.example/b", "src", "ValueError: boom"),
        ("https://x.example/a", "src", "MatchTimeout: too slow"),
    ]
    assert got[0].at - got[1].at == pytest.approx(5)


async def test_a_rhythm_persists_and_is_shared_between_instances(make_store: StoreFactory) -> None:
    a, b = await make_store(), await make_store()
    assert await a.get_rhythm("src") is None
    await a.set_rhythm("src", '{"v":1}')
    await a.record_poll("src", error=None, articles=2)  # the source's other state lives beside it
    await b.set_rhythm("other", '{"v":2}')
    assert await b.get_rhythm("src") == '{"v":1}'
    assert await a.rhythms(["src", "other", "missing"]) == {"src": '{"v":1}', "other": '{"v":2}'}
    assert (await b.source_state("src")).articles_seen == 2
