"""The console's store queries (``monitor.store.console``) on SQLite and Redis: one page of alerts
newest first with filters and a cursor, and alert counts per rule over a day and a week."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from monitor.store import open_store
from monitor.store.console import DAY, AlertQuery, ConsoleQueries, RuleStats
from monitor.ui.daemon import ConsoleStore
from tests.helpers.alerts import make_alert

if TYPE_CHECKING:
    from tests.helpers.clock import FakeClock


@pytest.fixture(params=["sqlite", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return (
        f"sqlite://{tmp_path}/store.db" if request.param == "sqlite" else request.getfixturevalue("redis_url")
    )


@pytest.fixture
async def store(url: str, clock: FakeClock) -> AsyncIterator[ConsoleStore]:
    opened = open_store(url, retention=30 * DAY, clock=clock)
    await opened.open()
    assert isinstance(opened, ConsoleQueries)
    yield opened  # type: ignore[misc]  # a Store that is also ConsoleQueries
    await opened.close()


async def _history(store: ConsoleStore, clock: FakeClock) -> None:
    """Ten alerts a day apart (a0 oldest), alternating two rules and two sources; a3 dead on "hook"."""
    for i in range(10):
        rule, source = ("r-even", "s-even") if i % 2 == 0 else ("r-odd", "s-odd")
        await store.claim(make_alert(f"a{i}", rule_id=rule, source=source), ["hook", "mail"])
        clock.advance(DAY)
    await store.mark_delivered("a3", "mail")
    await store.mark_failed("a3", "hook", "HTTP 500", None)


async def test_pages_newest_first_and_the_cursor_continues_where_the_page_ended(
    store: ConsoleStore, clock: FakeClock
) -> None:
    await _history(store, clock)
    first = await store.alert_page(AlertQuery(limit=4))
    assert [s.alert.id for s in first] == ["a9", "a8", "a7", "a6"]
    assert [d.notifier for d in first[0].deliveries] == ["hook", "mail"]
    rest = await store.alert_page(AlertQuery(limit=10, before=first[-1].cursor))
    assert [s.alert.id for s in rest] == ["a5", "a4", "a3", "a2", "a1", "a0"]
    assert rest[0].created_at < first[-1].created_at


async def test_filters_by_rule_source_delivery_state_and_time(store: ConsoleStore, clock: FakeClock) -> None:
    await _history(store, clock)
    by_rule = await store.alert_page(AlertQuery(rule="r-odd"))
    assert [s.alert.id for s in by_rule] == ["a9", "a7", "a5", "a3", "a1"]
    by_source = await store.alert_page(AlertQuery(source="s-even", limit=2))
    assert [s.alert.id for s in by_source] == ["a8", "a6"]
    dead = await store.alert_page(AlertQuery(state="dead"))
    assert [s.alert.id for s in dead] == ["a3"]
    assert {(d.notifier, d.state, d.last_error) for d in dead[0].deliveries} == {
        ("hook", "dead", "HTTP 500"),
        ("mail", "delivered", None),
    }
    recent = await store.alert_page(AlertQuery(since=clock.time() - 3.5 * DAY))
    assert [s.alert.id for s in recent] == ["a9", "a8", "a7"]
    assert await store.alert_page(AlertQuery(rule="r-odd", source="s-even")) == []


async def test_rule_stats_count_the_last_day_and_week(store: ConsoleStore, clock: FakeClock) -> None:
    await _history(store, clock)
    clock.advance(DAY / 2)  # a9 is 1.5 days old, a3 7.5 days
    stats = await store.rule_stats(["r-odd", "r-even", "r-never"])
    assert stats["r-odd"].day == 0 and stats["r-odd"].week == 3  # a9, a7, a5
    assert stats["r-even"].week == 3  # a8, a6, a4
    clock.advance(-DAY)
    assert (await store.rule_stats(["r-odd"]))["r-odd"].day == 1
    newest = await store.alert_page(AlertQuery(limit=1))
    assert stats["r-odd"].last == newest[0].created_at
    assert stats.get("r-never", RuleStats()) == RuleStats()


async def test_source_health_ranks_and_states_of_one_page(store: ConsoleStore, clock: FakeClock) -> None:
    await store.record_poll("up", error=None, articles=3)
    clock.advance(60)
    await store.record_poll("down", error=None, articles=1)
    await store.record_poll("down", error="HTTP 503", articles=0)
    health = await store.source_health()
    assert health["up"] == (clock.time() - 60, False)
    assert health["down"] == (clock.time(), True)
    states = await store.source_states_of(["down", "never", "up"])
    assert [(s.name, s.last_error, s.articles_seen) for s in states] == [
        ("down", "HTTP 503", 1),
        ("never", None, 0),
        ("up", None, 3),
    ]
