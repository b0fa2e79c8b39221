"""The scheduler's rules per source (first polls staggered, interval plus jitter, coalescing, no overlap,
removal, adaptive moves), driven through its dispatch with a clock of the test's own; and the dispatch
running under APScheduler for real."""

from __future__ import annotations

import asyncio
import logging

import pytest

from monitor.model import Source
from monitor.pipeline import PollResult
from monitor.scheduler import FIRST_POLL_STEP, JITTER_FRACTION, SLICE, Scheduler

DEADLINE = 10.0
START = 1_000_000.0
INTERVAL = 60.0
JITTER = INTERVAL * JITTER_FRACTION


class Polls:
    """The scheduler's poll callback: records each poll; a source in ``hold`` stays in its poll until
    ``release`` is set."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.hold: set[str] = set()
        self.release = asyncio.Event()

    async def __call__(self, source: Source) -> PollResult:
        self.started.append(source.name)
        if source.name in self.hold:
            await self.release.wait()
        self.finished.append(source.name)
        return PollResult(source.name)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def source(name: str) -> Source:
    return Source(name=name, kind="feed", url=f"http://127.0.0.1:1/{name}.xml", interval=INTERVAL)


async def settle() -> None:
    """Until the ticks running have gone as far as they can without the test."""
    for _ in range(10):
        await asyncio.sleep(0)


async def dispatch(scheduler: Scheduler) -> None:
    await scheduler._dispatch()
    await settle()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def polls() -> Polls:
    return Polls()


async def test_first_polls_are_staggered_then_each_comes_an_interval_plus_jitter_later(
    clock: Clock, polls: Polls
) -> None:
    scheduler = Scheduler(polls, clock=clock)
    scheduler.sync((source("a"), source("b"), source("c")))
    assert [scheduler.next_run(n) for n in "abc"] == [START + i * FIRST_POLL_STEP for i in range(3)]
    clock.now = START + 1.5 * FIRST_POLL_STEP
    await dispatch(scheduler)
    assert polls.finished == ["a", "b"]
    for i, name in enumerate("ab"):
        planned = START + i * FIRST_POLL_STEP
        assert planned + INTERVAL <= scheduler.next_run(name) <= planned + INTERVAL + JITTER  # type: ignore[operator]
    assert scheduler.next_run("c") == START + 2 * FIRST_POLL_STEP


async def test_ticks_missed_while_the_loop_was_busy_make_one_poll(
    clock: Clock, polls: Polls, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = Scheduler(polls, clock=clock)
    scheduler.sync((source("a"),))
    clock.now = START + 3.5 * INTERVAL
    with caplog.at_level(logging.WARNING, logger="newsmon.scheduler"):
        await dispatch(scheduler)
        await dispatch(scheduler)
    assert polls.finished == ["a"]
    assert caplog.records == []  # coalesced, not taken for ticks that found the poll still running
    # The next poll keeps the source's phase: the last missed tick plus an interval, after now.
    assert START + 4 * INTERVAL <= scheduler.next_run("a") <= START + 4 * INTERVAL + JITTER  # type: ignore[operator]


async def test_a_tick_whose_last_poll_still_runs_is_skipped_and_logged(
    clock: Clock, polls: Polls, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = Scheduler(polls, clock=clock)
    polls.hold.add("slow")
    scheduler.sync((source("slow"), source("fast")))
    for rounds in range(1, 4):
        clock.now = START + rounds * (INTERVAL + JITTER) + 1
        with caplog.at_level(logging.WARNING, logger="newsmon.scheduler"):
            await dispatch(scheduler)
    assert polls.started.count("slow") == 1  # never two polls of one source at once
    assert polls.finished.count("fast") == 3  # and a slow source holds up no other
    assert [r.source for r in caplog.records if r.msg == "tick_skipped"] == ["slow", "slow"]  # type: ignore[attr-defined]
    polls.release.set()
    await settle()
    clock.now += INTERVAL + JITTER
    await dispatch(scheduler)
    assert polls.finished.count("slow") == 2


async def test_a_removed_source_is_not_polled_again_but_its_running_poll_finishes(
    clock: Clock, polls: Polls
) -> None:
    scheduler = Scheduler(polls, clock=clock)
    polls.hold.add("gone")
    scheduler.sync((source("gone"), source("kept")))
    clock.now = START + 1
    await dispatch(scheduler)
    scheduler.sync((source("kept"),))
    assert scheduler.next_run("gone") is None
    polls.release.set()
    for rounds in range(1, 3):
        clock.now = START + rounds * (INTERVAL + JITTER) + 1
        await dispatch(scheduler)
    assert polls.finished.count("gone") == 1
    assert polls.finished.count("kept") == 3


async def test_a_source_moved_earlier_is_polled_then_once_not_again_at_its_old_time(
    clock: Clock, polls: Polls
) -> None:
    scheduler = Scheduler(polls, clock=clock)
    scheduler.sync((source("a"),))
    await dispatch(scheduler)
    old = scheduler.next_run("a")
    assert old is not None
    scheduler._move("a", START + 10)  # as an adaptive plan does after a poll
    assert scheduler.planned["a"] == scheduler.next_run("a") == START + 10
    clock.now = START + 10
    await dispatch(scheduler)
    assert polls.finished == ["a", "a"]
    clock.now = old  # the entry of the time it was moved from is stale now
    await dispatch(scheduler)
    assert polls.finished == ["a", "a"]


async def test_under_apscheduler_every_source_is_polled_and_pause_stops_new_polls(polls: Polls) -> None:
    scheduler = Scheduler(polls)
    scheduler.start(tuple(source(f"s{i}") for i in range(20)))
    try:
        async with asyncio.timeout(DEADLINE):
            while len(set(polls.finished)) < 20:  # noqa: ASYNC110 - the dispatch job polls
                await asyncio.sleep(SLICE)
        scheduler.pause()
        assert scheduler.ticking() == "scheduler is not running"
    finally:
        scheduler.shutdown()
    assert sorted(polls.finished) == sorted(f"s{i}" for i in range(20))  # each once: the interval is 60 s
