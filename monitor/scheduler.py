"""Every source on its own interval, jittered, coalesced, never overlapping itself, dispatched by APScheduler.

APScheduler runs one dispatch job every ``SLICE`` seconds; it starts the tick of every source that is due,
taken from a heap of next-poll times. One APScheduler job per source made start-up build a job, a trigger
and a signature check per source, and every poll pay for APScheduler's bookkeeping (its sorted job store
updated, a task and two events per run, wake-ups that found nothing due); the heap costs a push and a pop
(docs/scaling.md). Per source the rules are those of APScheduler's ``IntervalTrigger`` with
``coalesce=True, max_instances=1``: the next poll is the last planned one plus the interval plus a random
jitter; ticks missed while the loop was busy (or paused) are coalesced into one; a tick whose previous
poll still runs is skipped.

Ticks are independent tasks on the loop, so a slow or failing source never delays another. With ``leases``
(several instances sharing a store) a tick polls only when this instance holds the source's lease
(``monitor.leases``), so each source is polled by one instance per tick.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.interval import IntervalTrigger

from monitor.errors import StoreError
from monitor.leases import SourceLeases
from monitor.model import Source
from monitor.planning import REFRESH, AdaptivePlan

if TYPE_CHECKING:
    from monitor.pipeline import PollResult

log = logging.getLogger("newsmon.scheduler")

# Jitter spreads sources that share an interval so they do not all fire in the same second.
JITTER_FRACTION = 0.1
MAX_JITTER = 30.0
# An internal job proves the scheduler still dispatches even when every source polls hourly.
HEARTBEAT_JOB = "\0newsmon-heartbeat"  # a NUL byte: no source name from TOML can collide by accident
PLAN_JOB = "\0newsmon-plan"
DISPATCH_JOB = "\0newsmon-dispatch"
# Seconds between dispatches: a poll starts at most this much after its planned time (the smallest
# interval is 1 s, whose jitter alone is 0.1 s).
SLICE = 0.1
HEARTBEAT_INTERVAL = 5.0
FIRST_POLL_STEP = 0.01  # seconds between the first polls of consecutive sources at start-up


class Scheduler:
    def __init__(
        self,
        poll: Callable[[Source], Awaitable[PollResult]],
        *,
        heartbeat: float = HEARTBEAT_INTERVAL,
        leases: SourceLeases | None = None,
        plan: AdaptivePlan | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock``: Unix time, what next-poll times are in (tests drive the dispatch with their own)."""
        self._poll = poll
        self._clock = clock
        self._leases = leases
        self._plan = plan
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._sources: dict[str, Source] = {}
        self._next: dict[str, float] = {}  # source -> Unix time of its next tick
        # (Unix time, source) for every planned tick; an entry whose time is no longer the source's
        # ``_next`` (moved, removed) is dropped when it comes up.
        self._due: list[tuple[float, str]] = []
        self._ticks: dict[str, asyncio.Task[None]] = {}  # source -> its tick running now
        self._heartbeat_interval = heartbeat
        self.last_tick: float | None = None  # wall time of the last job start, for health checks
        self.last_heartbeat: float | None = None  # time.monotonic() of the last heartbeat job
        self.planned: dict[str, float] = {}  # adaptive sources: Unix time of the next poll planned here

    async def _heartbeat(self) -> None:
        # A coroutine job runs on the event loop itself (a plain function would run in a thread).
        self.last_heartbeat = time.monotonic()

    def ticking(self) -> str | None:
        """None when the scheduler runs and its heartbeat is recent, else why not."""
        if self._scheduler.state != STATE_RUNNING:
            return "scheduler is not running"
        if self.last_heartbeat is None:
            return "scheduler has not ticked yet"
        age = time.monotonic() - self.last_heartbeat
        if age > 3 * self._heartbeat_interval:
            return f"scheduler last ticked {age:.0f}s ago"
        return None

    @property
    def sources(self) -> dict[str, Source]:
        return dict(self._sources)

    def next_run(self, name: str) -> float | None:
        """Unix time of source ``name``'s next poll, None when it has none scheduled."""
        return self._next.get(name)

    def _at(self, name: str, when: float) -> None:
        self._next[name] = when
        heapq.heappush(self._due, (when, name))

    async def _dispatch(self) -> None:
        """Start the tick of every source due by now (APScheduler runs this every ``SLICE``)."""
        now = self._clock()
        due, planned = self._due, self._next
        while due and due[0][0] <= now:
            when, name = heapq.heappop(due)
            source = self._sources.get(name)
            if source is None or planned.get(name) != when:
                continue
            interval = source.interval
            if now - when >= interval:  # late by whole intervals: one tick stands for all it missed
                when += (now - when) // interval * interval
            jitter = min(interval * JITTER_FRACTION, MAX_JITTER)
            self._at(name, when + interval + random.uniform(0, jitter))
            if name in self._ticks:
                log.warning(
                    "tick_skipped", extra={"source": name, "detail": "its last poll is still running"}
                )
                continue
            task = asyncio.create_task(self._run(name), name=name)
            self._ticks[name] = task
            task.add_done_callback(self._ticks_done)

    def _ticks_done(self, task: asyncio.Task[None]) -> None:
        name = task.get_name()
        if self._ticks.get(name) is task:
            del self._ticks[name]

    async def _run(self, name: str) -> None:
        try:
            await self._tick(name)
        except asyncio.CancelledError:
            # Shutdown cancelled the tick while it took or handed over its lease (a cancelled poll is
            # reported by _poll_logged): expected, not worth a warning per source.
            log.debug("tick_cancelled", extra={"source": name})
        except Exception:  # a bug in the lease or plan step must not end the source's ticks
            log.exception("tick_crashed", extra={"source": name})

    async def _tick(self, name: str) -> None:
        source = self._sources.get(name)
        if source is None:
            return
        self.last_tick = self._clock()
        if self._leases is None:
            await self._plan_next(source, await self._poll_logged(source))
            return
        async with self._leases.holding(source) as mine:
            if mine:
                await self._plan_next(source, await self._poll_logged(source))
            elif self._plan is not None:
                self._plan.release(name)

    async def _plan_next(self, source: Source, result: PollResult | None) -> None:
        """An adaptive source's next poll, from what this one found (a failed poll keeps the trigger's
        interval: nothing was learned)."""
        if self._plan is None or result is None or source.schedule != "adaptive":
            return
        now = self._clock()
        try:
            when = await self._plan.observe(source, result, now)
            if self._leases is not None:
                await self._leases.extend(source, when - now)
        except StoreError as exc:
            log.warning("plan_failed", extra={"source": source.name, "error": str(exc)})
            return
        self._move(source.name, when)

    def _move(self, name: str, when: float) -> None:
        if name in self._next:
            self._at(name, when)
            self.planned[name] = when

    async def _replan(self) -> None:
        assert self._plan is not None
        for name, when in self._plan.refresh(self._clock()).items():
            planned = self._next.get(name)
            if planned is not None and planned > when + 1:
                self._move(name, when)

    async def _poll_logged(self, source: Source) -> PollResult | None:
        name = source.name
        try:
            return await self._poll(source)
        except StoreError as exc:
            # An outage fails every poll the same way: report it once (the tracker), not per source.
            if self._leases is not None:
                self._leases.outage.failed(exc)
            else:
                log.warning("poll_failed", extra={"source": name, "error": str(exc)})
        except asyncio.CancelledError:
            # Only shutdown cancels a poll (after its drain deadline); the store still holds
            # everything needed to redo it, so this is a note, not a failure.
            log.warning("poll_cancelled", extra={"source": name})
        except Exception:  # a bug in one poll must not kill the job: the next tick tries again
            log.exception("poll_crashed", extra={"source": name})
        return None

    def start(self, sources: tuple[Source, ...]) -> None:
        self.sync(sources)
        self.last_heartbeat = time.monotonic()
        jobs: list[tuple[str, Callable[[], Awaitable[None]], float]] = [
            (DISPATCH_JOB, self._dispatch, SLICE),
            (HEARTBEAT_JOB, self._heartbeat, self._heartbeat_interval),
        ]
        if self._plan is not None:
            jobs.append((PLAN_JOB, self._replan, REFRESH))
        for job_id, job, every in jobs:
            self._scheduler.add_job(
                job,
                IntervalTrigger(seconds=every),
                id=job_id,
                coalesce=True,
                max_instances=1,
                replace_existing=True,
            )
        self._scheduler.start()

    def sync(self, sources: tuple[Source, ...]) -> None:
        """Add new sources (polled at once), drop removed ones, reschedule changed ones.

        A poll already running is never cancelled: a removed source's last poll finishes (its articles
        are claimed and marked seen), a changed source's next poll uses the new settings."""
        now = self._clock()
        wanted = {s.name: s for s in sources}
        if self._plan is not None:
            self._plan.sync(sources, now)
        for name in list(self._sources):
            if name not in wanted:
                del self._sources[name], self._next[name]
        count = len(wanted)
        for i, (name, source) in enumerate(wanted.items()):
            if self._sources.get(name) == source:
                continue
            self._sources[name] = source
            # Staggered first polls keep a large config from opening every connection at once; a
            # config too large for 10 ms steps spreads them over one interval instead, so every
            # source is still polled within its interval of start-up.
            self._at(name, now + min(FIRST_POLL_STEP, source.interval / count) * i)
        if len(self._due) > 2 * len(self._next) + 1024:  # mostly moved or removed entries
            self._due = [(when, name) for name, when in self._next.items()]
            heapq.heapify(self._due)

    def pause(self) -> None:
        """Start no new polls; running ones continue (``shutdown`` would cancel them)."""
        if self._scheduler.running:
            self._scheduler.pause()

    def shutdown(self) -> None:
        """Stop, cancelling the ticks still running (as APScheduler cancels its running jobs)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        for task in self._ticks.values():
            task.cancel()
