"""One APScheduler job per source: its own interval, jittered, coalesced, never overlapping itself.

Jobs are independent coroutines on the loop, so a slow or failing source never delays another. With
``leases`` (several instances sharing a store) a tick polls only when this instance holds the source's
lease (``monitor.leases``), so each source is polled by one instance per tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
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
    ) -> None:
        self._poll = poll
        self._leases = leases
        self._plan = plan
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._sources: dict[str, Source] = {}
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
        job = self._scheduler.get_job(name)
        return job.next_run_time.timestamp() if job is not None and job.next_run_time else None

    async def _run(self, name: str) -> None:
        try:
            await self._tick(name)
        except asyncio.CancelledError:
            # Shutdown cancelled the tick while it took or handed over its lease (a cancelled poll is
            # reported by _poll_logged); APScheduler would log each as a crashed job with a traceback.
            log.debug("tick_cancelled", extra={"source": name})

    async def _tick(self, name: str) -> None:
        source = self._sources.get(name)
        if source is None:
            return
        self.last_tick = time.time()
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
        now = time.time()
        try:
            when = await self._plan.observe(source, result, now)
            if self._leases is not None:
                await self._leases.extend(source, when - now)
        except StoreError as exc:
            log.warning("plan_failed", extra={"source": source.name, "error": str(exc)})
            return
        self._move(source.name, when)

    def _move(self, name: str, when: float) -> None:
        job = self._scheduler.get_job(name)
        if job is not None:
            job.modify(next_run_time=datetime.fromtimestamp(when).astimezone())
            self.planned[name] = when

    async def _replan(self) -> None:
        assert self._plan is not None
        for name, when in self._plan.refresh(time.time()).items():
            job = self._scheduler.get_job(name)
            if job is not None and job.next_run_time is not None and job.next_run_time.timestamp() > when + 1:
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

    def _add(self, source: Source, *, first_run: datetime) -> None:
        self._scheduler.add_job(
            self._run,
            IntervalTrigger(
                seconds=source.interval, jitter=min(source.interval * JITTER_FRACTION, MAX_JITTER)
            ),
            args=[source.name],
            id=source.name,
            name=source.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(source.interval)),
            next_run_time=first_run,
            replace_existing=True,
        )

    def start(self, sources: tuple[Source, ...]) -> None:
        self.sync(sources)
        self.last_heartbeat = time.monotonic()
        self._scheduler.add_job(
            self._heartbeat,
            IntervalTrigger(seconds=self._heartbeat_interval),
            id=HEARTBEAT_JOB,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
        if self._plan is not None:
            self._scheduler.add_job(
                self._replan,
                IntervalTrigger(seconds=REFRESH),
                id=PLAN_JOB,
                coalesce=True,
                max_instances=1,
                replace_existing=True,
            )
        self._scheduler.start()

    def sync(self, sources: tuple[Source, ...]) -> None:
        """Add new sources (polled at once), drop removed ones, reschedule changed ones.

        A poll already running is never cancelled: a removed source's last poll finishes (its articles
        are claimed and marked seen), a changed source's next poll uses the new settings."""
        now = datetime.now().astimezone()
        wanted = {s.name: s for s in sources}
        if self._plan is not None:
            self._plan.sync(sources, now.timestamp())
        for name in list(self._sources):
            if name not in wanted:
                self._scheduler.remove_job(name)
                del self._sources[name]
        count = len(wanted)
        for i, (name, source) in enumerate(wanted.items()):
            if self._sources.get(name) == source:
                continue
            self._sources[name] = source
            # Staggered first polls keep a large config from opening every connection at once; a
            # config too large for 10 ms steps spreads them over one interval instead, so every
            # source is still polled within its interval of start-up.
            step = min(FIRST_POLL_STEP, source.interval / count)
            self._add(source, first_run=now + timedelta(seconds=step * i))

    def pause(self) -> None:
        """Start no new polls; running ones continue (``shutdown`` would cancel them)."""
        if self._scheduler.running:
            self._scheduler.pause()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
