"""The daemon: builds every component from Config in one place, runs them, drains them on the way out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

import aiohttp

from monitor.config import Config
from monitor.crawl.http import HttpClient
from monitor.errors import RuleError
from monitor.matching.engine import Engine
from monitor.matching.rules import RuleSet, load_rules, load_rules_skipping_bad
from monitor.model import Clock, Source, SystemClock
from monitor.notify import REGISTRY
from monitor.notify.base import Notifier
from monitor.notify.outbox import Outbox
from monitor.pipeline import Pipeline, PollResult
from monitor.scheduler import Scheduler
from monitor.store import open_store
from monitor.store.base import Store

log = logging.getLogger("newsmon.service")


class Service:
    """Owns the store, the HTTP client, the rules, the notifiers, the outbox loop and the scheduler."""

    def __init__(self, config: Config, *, clock: Clock | None = None, dry_run: bool = False) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.dry_run = dry_run
        self.store: Store | None = None
        self.http = HttpClient(config.http)
        self.rules: RuleSet | None = None
        self.engine: Engine | None = None
        self.notifiers: dict[str, Notifier] = {}
        self.outbox: Outbox | None = None
        self.pipeline: Pipeline | None = None
        self.scheduler: Scheduler | None = None
        self._stop = asyncio.Event()
        self._inflight: set[asyncio.Task[PollResult]] = set()
        self._outbox_task: asyncio.Task[None] | None = None
        self._notify_session: aiohttp.ClientSession | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Rules first (cheapest to get wrong), then the store, the client and the notifiers.

        A rule file with errors is reported and left out; the other files are watched for."""
        self.rules, problems = load_rules_skipping_bad(self.config.rule_paths)
        for problem in problems:
            log.error("rule_file_skipped", extra={"path": problem.path, "error": str(problem)})
        self.engine = Engine(self.rules.rules)
        self.store = open_store(
            self.config.store.url, retention=self.config.store.retention, clock=self.clock
        )
        await self.store.open()
        await self.http.open()
        # Receivers are configured by the operator, not discovered on pages, so they get their own
        # session without the crawler's SSRF guard: an intranet webhook must work.
        self._notify_session = aiohttp.ClientSession(trust_env=False)
        for nc in self.config.notifiers:
            self.notifiers[nc.name] = REGISTRY[nc.kind](
                nc.name, nc.options, session=self._notify_session, clock=self.clock
            )
        self.outbox = Outbox(
            self.store, self.notifiers, self.clock, give_up_after=self.config.alerts.give_up_after
        )
        self.pipeline = Pipeline(
            store=self.store,
            http=self.http,
            engine=self._current_engine,
            alerts=self.config.alerts,
            notifiers=list(self.notifiers),
            clock=self.clock,
            on_claim=lambda alert: self.outbox.wake() if self.outbox else None,
            dry_run=self.dry_run,
        )
        log.info(
            "started",
            extra={
                "count": len(self.config.sources),
                "detail": f"{len(self.rules.rules)} rules, {len(self.notifiers)} notifiers",
            },
        )

    def _current_engine(self) -> Engine:
        assert self.engine is not None
        return self.engine

    async def poll(self, source: Source) -> PollResult:
        assert self.pipeline is not None
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)  # type: ignore[arg-type]
        try:
            return await self.pipeline.poll(source)
        finally:
            if task is not None:
                self._inflight.discard(task)  # type: ignore[arg-type]

    async def run(self) -> None:
        """Until SIGTERM/SIGINT: poll on schedule, deliver, then drain."""
        await self.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_rules)
        assert self.outbox is not None
        self._outbox_task = asyncio.create_task(self.outbox.run(self._stop))
        self.scheduler = Scheduler(self.poll)
        self.scheduler.start(self.config.sources)
        try:
            await self._stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            await self.stop()

    def request_stop(self) -> None:
        self._stop.set()

    async def once(self, names: Sequence[str] = ()) -> list[PollResult]:
        """One pass over the (named) sources, then deliver what was claimed."""
        await self.start()
        try:
            sources = [s for s in self.config.sources if not names or s.name in names]
            results = await asyncio.gather(*(self.poll(s) for s in sources))
            if not self.dry_run and self.outbox is not None:
                await self.outbox.drain(self.clock.time() + self.config.service.shutdown_timeout)
            return list(results)
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop scheduling, let in-flight polls finish, flush the outbox, close everything."""
        deadline = asyncio.get_running_loop().time() + self.config.service.shutdown_timeout
        if self.scheduler is not None:
            self.scheduler.pause()
        if self._inflight:
            _, pending = await asyncio.wait(
                set(self._inflight), timeout=max(0.1, deadline - asyncio.get_running_loop().time())
            )
            for task in pending:
                task.cancel()
        if self.scheduler is not None:
            self.scheduler.shutdown()
        self._stop.set()
        if self._outbox_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._outbox_task
            self._outbox_task = None
        if self.outbox is not None and not self.dry_run:
            remaining = max(0.0, deadline - asyncio.get_running_loop().time())
            await asyncio.shield(self.outbox.drain(self.clock.time() + remaining))
        for notifier in self.notifiers.values():
            await notifier.close()
        self.notifiers.clear()
        if self._notify_session is not None:
            await self._notify_session.close()
            self._notify_session = None
        await self.http.close()
        if self.store is not None:
            await self.store.close()
            self.store = None
        log.info("stopped")

    def reload_rules(self) -> None:
        """SIGHUP: swap in the new rules only if every file is valid; otherwise keep the old ones."""
        try:
            rules = load_rules(self.config.rule_paths)
        except RuleError as exc:
            for problem in exc.problems:
                log.error("rules_reload_failed", extra={"error": str(problem)})
            return
        self.rules, self.engine = rules, Engine(rules.rules)
        log.info("rules_reloaded", extra={"count": len(rules.rules)})
