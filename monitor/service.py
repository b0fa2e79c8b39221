"""The daemon's lifecycle, top to bottom: start (validate, open the store, put a ``Runtime`` in effect,
build the parts over the store), run (scheduler, outbox loop, metrics, sd_notify READY/WATCHDOG/STATUS,
SIGHUP and rule-file reloads), and the SIGTERM drain.

What runs is one immutable ``Runtime`` (monitor/runtime.py: config, rules, engine, notifiers), replaced
whole by a reload; the parts read it through getters (monitor/parts.py), so nothing sets their settings
from outside. Polling bookkeeping, source health, status lines and /healthz live in their own modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import aiohttp

from monitor import healthz
from monitor.config import Config
from monitor.crawl.http import HttpClient
from monitor.errors import ConfigError, Problem
from monitor.leases import SourceLeases
from monitor.logs import Scrubber, mask_url
from monitor.matching.rules import RuleSet
from monitor.metrics import Health, Metrics
from monitor.model import Alert, Clock, DeliveryOutcome, Source, SystemClock
from monitor.notify.outbox import Outbox
from monitor.parts import Parts, build_parts
from monitor.pipeline import Pipeline, PollResult
from monitor.reload_plan import Reloads, plan_reload, refused
from monitor.runtime import CountingEngine, Runtime, build_notifiers, config_secrets, notify_session
from monitor.sdnotify import SystemdNotifier
from monitor.source_health import SourceHealth
from monitor.status import Status
from monitor.store import open_configured
from monitor.store.base import Store
from monitor.store.outage import StoreOutage
from monitor.summary import Activity
from monitor.validate import load, validate

if TYPE_CHECKING:
    from monitor.metrics_server import MetricsServer
    from monitor.scheduler import Scheduler

log = logging.getLogger("newsmon.service")


class Service:
    """Owns the store, the HTTP client, the runtime, the outbox loop and the scheduler."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        dry_run: bool = False,
        environ: Mapping[str, str] | None = None,
        scrubber: Scrubber | None = None,
        rules: RuleSet | None = None,
    ) -> None:
        """``rules``: the rule set validated with ``config`` (``validate.load``); without it, ``start``
        validates ``config``'s rules itself, with the same checks."""
        self._config = config  # until ``start`` builds the runtime
        self._given_rules = rules
        self.clock = clock or SystemClock()
        self.dry_run = dry_run
        self.http = HttpClient(config.http)
        self._runtime: Runtime | None = None
        self._parts: Parts | None = None
        self.scheduler: Scheduler | None = None
        self.leases: SourceLeases | None = None
        self.outage = StoreOutage(log)
        self.metrics = Metrics()
        self.metrics_server: MetricsServer | None = None
        self.sd = SystemdNotifier(environ)
        self.scrubber = scrubber
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()  # set when READY=1 goes out: for in-process callers and tests
        self._outbox_task: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []
        self._rule_watch: asyncio.Task[None] | None = None  # one of _background, while running
        self.reloads = Reloads(self.reload, stopping=self._stop.is_set)
        self.source_health = SourceHealth()
        self.activity = Activity(clock=time.monotonic)
        self.status = Status(
            activity=self.activity,
            metrics=self.metrics,
            sd=self.sd,
            runtime=lambda: self._runtime,
            store=lambda: self.store,
            sources=lambda: len(self.config.sources),
        )
        # The problems of the last reload while it failed: /healthz and the logs say so until one succeeds.
        self.reload_problems: tuple[Problem, ...] = ()
        # Settings changed on disk that only a restart applies: /healthz notes them until then.
        self.pending_restart: tuple[str, ...] = ()
        self._skipped_for: set[str] = set()  # notifiers a delivery was skipped for: not configured
        # The configured sources no poll had succeeded for when the service started (``once`` says which
        # first polls only marked what was there seen).
        self.never_polled: frozenset[str] = frozenset()
        self.started_at = self.clock.time()  # for the web console

    # -- what runs ------------------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        """The config in effect (restart-only settings keep their running values across reloads)."""
        return self._runtime.config if self._runtime is not None else self._config

    @property
    def rules(self) -> RuleSet | None:
        return self._runtime.rules if self._runtime is not None else None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the service is not started")
        return self._runtime

    @property
    def store(self) -> Store | None:
        """The open store; None before ``start`` and after ``stop``."""
        return self._parts.store if self._parts is not None else None

    @property
    def outbox(self) -> Outbox | None:
        return self._parts.outbox if self._parts is not None else None

    @property
    def pipeline(self) -> Pipeline | None:
        return self._parts.pipeline if self._parts is not None else None

    def _started(self) -> Parts:
        if self._parts is None:
            raise RuntimeError("the service is not started")
        return self._parts

    async def _swap(
        self, config: Config, rules: RuleSet, session: aiohttp.ClientSession, *, compile_now: bool = True
    ) -> None:
        """Put ``config`` and ``rules`` in effect as one new runtime; close the notifiers it retires.
        ``compile_now``: the matcher is compiled before the swap (the old rules match meanwhile), else
        when the first new article needs it."""
        engine = CountingEngine(rules.rules, self.metrics)
        if compile_now:
            await engine.built()
        old = self._runtime
        notifiers, retired = build_notifiers(config, old, session=session, clock=self.clock)
        self._runtime = Runtime(config, rules, engine, notifiers)
        new_rules = {r.id for r in rules.rules}
        for rule in ({r.id for r in old.rules.rules} if old else set()) - new_rules:
            self.metrics.forget_rule(rule)
        self.metrics.declare([s.name for s in config.sources], new_rules, notifiers)
        self.metrics.rules_loaded.set(len(rules.rules))
        for notifier in retired:
            # A send in flight on a retired notifier may fail; its delivery is retried, never lost.
            await notifier.close()

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self, *, compile_now: bool = True) -> None:
        """Rules first (cheapest to get wrong), then the store, the client and the notifiers.

        The config and its rules are validated whole, with exactly the checks of ``newsmon check``; any
        error raises ``ConfigError`` before anything is opened, so no article is ever read, let alone
        marked seen, without the complete rule set it was meant to be matched against. The matcher of
        those rules is compiled here unless ``compile_now`` is false (``once``: with the first new
        article, if any)."""
        config = self._config
        if self.scrubber is not None:
            self.scrubber.update(config_secrets(config))
        rules = self._given_rules or validate(config, require={"rules"}).rules
        store = open_configured(config, self.clock)
        session = notify_session(config)
        try:
            await store.open()
            await self.http.open()
            # Per-host politeness holds across every instance sharing the store, not just within this one.
            self.http.limiter.remote = store.host_slot
            await self._swap(config, rules, session, compile_now=compile_now)
            self._parts = build_parts(
                store,
                session,
                http=self.http,
                runtime=lambda: self.runtime,
                clock=self.clock,
                metrics=self.metrics,
                activity=self.activity,
                health=self.source_health,
                outage=self.outage,
                on_claim=self._on_claim,
                on_outcome=self._on_outcome,
                dry_run=self.dry_run,
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await session.close()
                await store.close()
            raise
        if self._parts.backfill is not None:
            self._parts.backfill.start(rules.rules)
        self.source_health.track((s.name for s in config.sources), self.clock.time())
        configured = {s.name for s in config.sources}
        polled = set()
        for state in await store.source_states():
            if state.last_success is not None and state.name in configured:
                self.metrics.sources.succeeded(state.name, state.last_success)
                polled.add(state.name)
        self.never_polled = frozenset(configured - polled)
        log.info(
            "started",
            extra={
                "rules": len(rules.rules),
                "sources": len(config.sources),
                "notifiers": len(config.notifiers),
                "store": mask_url(config.store.url),
            },
        )

    # -- polling --------------------------------------------------------------------------------------
    async def poll(self, source: Source) -> PollResult:
        return await self._started().poller.poll(source)

    def _on_claim(self, alert: Alert) -> None:
        self.activity.claimed()
        if self.outbox is not None:
            self.outbox.wake()

    def _on_outcome(self, notifier: str, outcome: DeliveryOutcome) -> None:
        self.metrics.alerts_total.labels(notifier, outcome).inc()
        self.activity.delivery(outcome)
        if outcome == "skipped":
            self._skipped_for.add(notifier)

    @property
    def unconfigured_notifiers(self) -> list[str]:
        """Notifiers the outbox holds deliveries for that the config no longer names (renamed or removed):
        those deliveries are kept, not sent, and the outbox says so only once."""
        configured = {nc.name for nc in self.config.notifiers}
        return sorted(self._skipped_for - configured)

    # -- the daemon -----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Until SIGTERM/SIGINT: poll on schedule, deliver, then drain. SIGHUP reloads."""
        # Only the daemon schedules and watches rule files: `newsmon once` does not import these.
        from monitor.planning import AdaptivePlan
        from monitor.scheduler import Scheduler

        loop = asyncio.get_running_loop()
        # Handlers before start: a SIGTERM while the store connects still means "drain and exit 0".
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        try:
            await self.start()
            parts = self._started()
            self._outbox_task = asyncio.create_task(parts.outbox.run(self._stop))
            self.leases = SourceLeases(
                parts.store, margin=self.config.store.lease, outage=self.outage, clock=self.clock
            )
            await self.leases.start()
            plan = AdaptivePlan(parts.store)
            self.scheduler = Scheduler(self.poll, leases=self.leases, plan=plan)
            self.scheduler.start(self.config.sources)
            await plan.load(self.clock.time())
            from monitor.metrics_server import serve  # aiohttp.web: only a daemon serves metrics

            self.metrics_server = await serve(
                self.config.service.metrics,
                self.metrics,
                health=self.health,
                refresh=self.status.refresh_outbox_depth,
                console_of=self if self.config.service.ui else None,
            )
            self._background = [
                asyncio.create_task(self.sd.watchdog_loop()),
                asyncio.create_task(self.status.status_loop()),
                asyncio.create_task(self.status.summary_loop()),
                self._watch_rules(),
            ]
            await self.status.refresh_outbox_depth()
            settle_heap()
            self.sd.ready(self.status.line())
            self.ready.set()
            log.info("ready", extra={"detail": self.status.line()})
            await self._stop.wait()
        finally:
            self.sd.stopping()
            await self.stop()
            # What settle_heap exempted goes back to the collector (in-process callers). Here, not in
            # stop: `once` froze its own start-up and exits right after, with nothing to give back.
            gc.unfreeze()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            self.sd.close()

    def _watch_rules(self) -> asyncio.Task[None]:
        """Editing a rule file is a reload, as SIGHUP is: validated whole, old rules kept on error."""
        from monitor.matching.watch import RuleWatcher  # only the daemon watches rule files

        self._rule_watch = asyncio.create_task(
            RuleWatcher(self.config.rule_paths, self.request_reload).run(self._stop)
        )
        return self._rule_watch

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        """SIGHUP, or a rule file edited."""
        self.reloads.request()

    async def once(self, names: Sequence[str] = ()) -> list[PollResult]:
        """One pass over the (named) sources, then deliver what was claimed."""
        await self.start(compile_now=False)
        try:
            sources = [s for s in self.config.sources if not names or s.name in names]
            polled = await asyncio.gather(*(self.poll(s) for s in sources), return_exceptions=True)
            results = [_as_result(source, r) for source, r in zip(sources, polled, strict=True)]
            if not self.dry_run:
                await self._started().outbox.drain(self.clock.time() + self.config.service.shutdown_timeout)
            return results
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop scheduling, let in-flight polls and sends finish, flush the outbox, close everything,
        all within ``shutdown_timeout``. What does not make it stays in the store for the next start:
        an unsent delivery comes back when its lease runs out, an unfinished article was never marked
        seen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.service.shutdown_timeout

        def remaining() -> float:
            return max(0.0, deadline - loop.time())

        if self.scheduler is not None:
            self.scheduler.pause()
        self.reloads.cancel()
        parts = self._parts
        if parts is not None and parts.poller.inflight:
            _, pending = await asyncio.wait(set(parts.poller.inflight), timeout=max(0.1, remaining()))
            await _cancel(pending)
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if parts is not None and parts.backfill is not None:
            # An unfinished backfill releases its lease: the next start runs it again.
            await parts.backfill.close()
        if self.leases is not None:
            # Others take our sources over at their next tick instead of after the lease TTL.
            await self.leases.close()
            self.leases = None
        self._stop.set()
        if self._outbox_task is not None:
            # The outbox loop notices the stop between passes; a slow send in the current pass gets
            # what is left of the deadline, then is cancelled.
            _, pending = await asyncio.wait({self._outbox_task}, timeout=remaining())
            if pending:
                log.warning("shutdown_deadline", extra={"detail": "deliveries in flight left for next start"})
            await _cancel(pending)
            self._outbox_task = None
        if parts is not None and not self.dry_run and remaining() > 0:
            try:
                await asyncio.shield(parts.outbox.drain(self.clock.time() + remaining()))
            except Exception as exc:  # a down store: nothing more to flush, close the rest cleanly
                log.warning("drain_failed", extra={"error": str(exc)})
        await _cancel(set(self._background))
        self._background = []
        if self.metrics_server is not None:
            await self.metrics_server.stop()
            self.metrics_server = None
        if self._runtime is not None:
            for notifier in self._runtime.notifiers.values():
                await notifier.close()
        if parts is not None:
            await parts.session.close()
        await self.http.close()
        if parts is not None:
            self._parts = None
            await parts.store.close()
        log.info("stopped")

    # -- reload ---------------------------------------------------------------------------------------
    async def reload(self) -> bool:
        """Re-read the config file and every rule file; apply them only if all are valid.

        Sources are added, removed and rescheduled in place; rules and notifiers are swapped; settings
        that need new connections (``[store]``, ``[http]``, ``metrics``, ``log_format``) wait for a
        restart and say so. A poll in flight finishes: it picks up the new rules at its next article."""
        self.sd.reloading()
        try:
            applied = await self._reload()
            if applied and self.scheduler is not None:
                settle_heap()  # the config and runtime it replaced are garbage now
            return applied
        finally:
            self.sd.ready(self.status.line())

    async def _reload(self) -> bool:
        try:
            loaded = load(self.config.path, strict=True)
        except ConfigError as exc:
            self.metrics.rules_reload_errors.inc()
            self.reload_problems = refused(exc)
            return False
        self.reload_problems = ()
        for problem in loaded.warnings:
            log.warning("rule_warning", extra={"path": problem.path, "detail": str(problem)})
        old, rules = self.config, loaded.rules
        plan = plan_reload(old, loaded.config)
        config = plan.config
        self.pending_restart = plan.pending_restart
        for what in plan.pending_restart:
            log.warning("reload_needs_restart", extra={"detail": f"{what} changed; restart to apply"})
        if self.scrubber is not None:
            self.scrubber.update([*config_secrets(old), *config_secrets(config)])
        parts = self._parts
        if parts is None:  # a SIGHUP while starting: ``start`` takes these
            self._config, self._given_rules = config, rules
        else:
            await self._swap(config, rules, parts.session)
            if parts.backfill is not None:
                parts.backfill.start(rules.rules)
        logging.getLogger("newsmon").setLevel(config.service.log_level.upper())
        for name in plan.removed:
            self.metrics.forget_source(name)
        self.source_health.track((s.name for s in config.sources), self.clock.time())
        if self._rule_watch is not None and plan.rule_paths_changed:
            # Watch where the rules now are: edits there reload, edits to the old folder do not.
            old_watch = self._rule_watch
            self._background = [t for t in self._background if t is not old_watch] + [self._watch_rules()]
            await _cancel({old_watch})
        if self.scheduler is not None:
            self.scheduler.sync(config.sources)
        log.info(
            "reloaded",
            extra={
                "rules": len(rules.rules),
                "sources": len(config.sources),
                "notifiers": len(config.notifiers),
                "sources_added": len(plan.added),
                "sources_removed": len(plan.removed),
                "sources_changed": plan.changed,
            },
        )
        return True

    @property
    def rule_problems(self) -> list[str]:
        """The errors of the last reload while it failed, as the web console shows them."""
        return [str(p) for p in self.reload_problems]

    # -- status and health ----------------------------------------------------------------------------
    async def health(self) -> Health:
        """/healthz (monitor/healthz.py)."""
        config = self.config
        return await healthz.check(
            healthz.Observed(
                rules=len(self.rules.rules) if self.rules else 0,
                reload_problems=self.reload_problems,
                source_failures=self.source_health.failures(s.name for s in config.sources),
                failure_threshold=config.service.health_failures,
                dead_recently=self.activity.dead_recently(),
                scheduler=self.scheduler.ticking() if self.scheduler is not None else "scheduler not started",
                store=self.store,
                pending_restart=self.pending_restart,
                unconfigured_notifiers=self.unconfigured_notifiers,
            )
        )


def settle_heap() -> None:
    """Exempt what the daemon built to run (the config, a schedule, lease and series entry per source,
    the rules) from the cyclic garbage collector's full passes: it lives until the next reload, and at
    100,000 sources walking it again at every full pass cost more than the polls' own work. What it
    replaced is collected first, so nothing exempted is garbage. It stays exempt through the drain: the
    process exits next, and the collection at exit need not walk it either (as ``once`` keeps its own)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _as_result(source: Source, polled: PollResult | BaseException) -> PollResult:
    """A poll that raised is that source's failure, reported; it must not take the other sources down."""
    if isinstance(polled, PollResult):
        return polled
    if not isinstance(polled, Exception):
        raise polled
    log.error("poll_failed", extra={"source": source.name, "error": f"{type(polled).__name__}: {polled}"})
    return PollResult(source.name, errors=[f"{type(polled).__name__}: {polled}"])


async def _cancel(tasks: set[asyncio.Task[object]] | set[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
