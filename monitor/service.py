"""The daemon: builds every component from Config in one place, runs them, drains them on the way out.

Besides the pipeline it owns the operational surface: sd_notify (READY, WATCHDOG, STATUS, RELOADING,
STOPPING), SIGHUP reloads, the SIGTERM drain, Prometheus metrics and /healthz, and source health alerts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import aiohttp

from monitor.backfill import Backfiller
from monitor.config import Config, NotifierConfig, parse_listen
from monitor.crawl.http import HttpClient
from monitor.errors import ConfigError, Problem
from monitor.leases import SourceLeases, StoreOutage
from monitor.logs import Scrubber, mask_url
from monitor.matching.engine import Engine
from monitor.matching.rules import RuleSet
from monitor.metrics import Health, Metrics
from monitor.model import Alert, Article, Clock, Match, Source, SystemClock
from monitor.notify import REGISTRY
from monitor.notify.base import Notifier
from monitor.notify.outbox import Outbox
from monitor.pipeline import Pipeline, PollResult, alert_id
from monitor.sdnotify import SystemdNotifier
from monitor.secret import Secret
from monitor.store import open_configured
from monitor.store.base import Store
from monitor.summary import Activity
from monitor.validate import load, validate

if TYPE_CHECKING:
    from monitor.metrics_server import MetricsServer
    from monitor.scheduler import Scheduler

log = logging.getLogger("newsmon.service")

STATUS_INTERVAL = 10.0  # seconds between STATUS= updates and outbox gauge refreshes
HEALTH_PING_TIMEOUT = 2.0  # seconds /healthz waits for the store
RATE_WINDOW = 60.0  # seconds of history behind "articles/min"
HEALTH_RULE_PREFIX = "newsmon-health:"


class _CountingEngine:
    """The engine the pipeline sees: the real one, plus a count per matched rule for metrics."""

    __slots__ = ("_engine", "_metrics")

    def __init__(self, engine: Engine, metrics: Metrics) -> None:
        self._engine = engine
        self._metrics = metrics

    def match(self, article: Article) -> list[Match]:
        matches = self._engine.match(article)
        for m in matches:
            self._metrics.matches_total.labels(m.rule_id).inc()
        return matches


@dataclasses.dataclass(slots=True)
class _SourceHealth:
    """In-memory incident state of one source. Incident keys come from store state (last success,
    articles seen), so a restart in the middle of an incident re-derives the same alert id and the
    store's claim keeps it to one alert."""

    last_new: float  # clock time of the last poll that found a new article (or of startup)
    failures: int = 0
    failing: str | None = None  # incident key while a "failing" alert is open
    stale: str | None = None  # incident key while a "stale" alert is open


def config_secrets(config: Config) -> list[str]:
    """Every secret value the config holds, for the log scrubber."""
    values: list[str] = []
    for nc in config.notifiers:
        for f in dataclasses.fields(nc.options):
            value = getattr(nc.options, f.name)
            if isinstance(value, Secret):
                values.append(value.reveal())
    with contextlib.suppress(ValueError):
        password = _url_password(config.store.url)
        if password:
            values.append(password)
    return values


def notify_session(config: Config) -> aiohttp.ClientSession:
    """The session notifiers post through. Receivers are configured by the operator, not discovered on
    pages, so there is no crawler SSRF guard (an intranet webhook must work); they see the configured
    user agent, like every site we fetch from."""
    return aiohttp.ClientSession(trust_env=False, headers={"User-Agent": config.http.user_agent})


def _url_password(url: str) -> str | None:
    password = urlsplit(url).password
    return unquote(password) if password else None


class Service:
    """Owns the store, the HTTP client, the rules, the notifiers, the outbox loop and the scheduler."""

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
        self.config = config
        self._given_rules = rules
        self.clock = clock or SystemClock()
        self.dry_run = dry_run
        self.store: Store | None = None
        self.http = HttpClient(config.http)
        self.rules: RuleSet | None = None
        self.engine: Engine | None = None
        self._counting: _CountingEngine | None = None
        self.notifiers: dict[str, Notifier] = {}
        self._notifier_configs: dict[str, NotifierConfig] = {}
        self.outbox: Outbox | None = None
        self.pipeline: Pipeline | None = None
        self.backfill: Backfiller | None = None
        self.scheduler: Scheduler | None = None
        self.leases: SourceLeases | None = None
        self.outage = StoreOutage(log)
        self.metrics = Metrics()
        self.metrics_server: MetricsServer | None = None
        self.sd = SystemdNotifier(environ)
        self.scrubber = scrubber
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()  # set when READY=1 goes out: for in-process callers and tests
        self._inflight: set[asyncio.Task[object]] = set()
        self._outbox_task: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []
        self._rule_watch: asyncio.Task[None] | None = None  # one of _background, while running
        self._reload_task: asyncio.Task[bool] | None = None
        self._reload_again = False
        self._notify_session: aiohttp.ClientSession | None = None
        self._health: dict[str, _SourceHealth] = {}
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self._outbox_depth: int | None = None
        self.activity = Activity(clock=time.monotonic)
        # The problems of the last reload while it failed: /healthz and the logs say so until one succeeds.
        self.reload_problems: tuple[Problem, ...] = ()
        # Settings changed on disk that only a restart applies: /healthz notes them until then.
        self.pending_restart: tuple[str, ...] = ()
        self._skipped_for: set[str] = set()  # notifiers a delivery was skipped for: not configured
        self.started_at = self.clock.time()  # for the web console

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Rules first (cheapest to get wrong), then the store, the client and the notifiers.

        The config and its rules are validated whole, with exactly the checks of ``newsmon check``; any
        error raises ``ConfigError`` before anything is opened, so no article is ever read, let alone
        marked seen, without the complete rule set it was meant to be matched against."""
        if self.scrubber is not None:
            self.scrubber.update(config_secrets(self.config))
        rules = self._given_rules or validate(self.config, require={"rules"}).rules
        self._set_rules(rules)
        self.store = open_configured(self.config, self.clock)
        await self.store.open()
        await self.http.open()
        # Per-host politeness holds across every instance sharing the store, not just within this one.
        self.http.limiter.remote = self.store.host_slot
        self._notify_session = notify_session(self.config)
        await self._apply_notifiers(self.config.notifiers)
        self.outbox = Outbox(
            self.store,
            self.notifiers,
            self.clock,
            give_up_after=self.config.alerts.give_up_after,
            logger=logging.getLogger("newsmon.outbox"),
            on_outcome=self._on_outcome,
            lease=self.config.store.lease,
            outage=self.outage,
        )
        self.pipeline = Pipeline(
            store=self.store,
            http=self.http,
            engine=self._current_engine,  # type: ignore[arg-type]  # duck-typed: only .match is used
            alerts=self.config.alerts,
            notifiers=list(self.notifiers),
            clock=self.clock,
            on_claim=self._on_claim,
            dry_run=self.dry_run,
        )
        if not self.dry_run:
            self.backfill = Backfiller(
                self.store,
                self.clock,
                alerts=lambda: self.config.alerts,
                notifiers=lambda: list(self.notifiers),
                on_claim=self._on_claim,
            )
            self.backfill.start(rules.rules)
        self.metrics.declare([s.name for s in self.config.sources], [], self.notifiers)
        now = self.clock.time()
        self._health = {s.name: _SourceHealth(last_new=now) for s in self.config.sources}
        for state in await self.store.source_states():
            if state.last_success is not None and state.name in self._health:
                self.metrics.sources.succeeded(state.name, state.last_success)
        log.info(
            "started",
            extra={
                "rules": len(rules.rules),
                "sources": len(self.config.sources),
                "notifiers": len(self.notifiers),
                "store": mask_url(self.config.store.url),
            },
        )

    def _set_rules(self, rules: RuleSet) -> None:
        old = {r.id for r in self.rules.rules} if self.rules else set()
        self.rules, self.engine = rules, Engine(rules.rules)
        self._counting = _CountingEngine(self.engine, self.metrics)
        new = {r.id for r in rules.rules}
        for rule in old - new:
            self.metrics.forget_rule(rule)
        self.metrics.declare([], new, [])
        self.metrics.rules_loaded.set(len(rules.rules))

    def _current_engine(self) -> _CountingEngine:
        assert self._counting is not None
        return self._counting

    async def _apply_notifiers(self, configs: Sequence[NotifierConfig]) -> None:
        """Keep unchanged notifiers (and their connections), build new or changed ones, close the rest."""
        assert self._notify_session is not None
        wanted: dict[str, Notifier] = {}
        for nc in configs:
            if self._notifier_configs.get(nc.name) == nc and nc.name in self.notifiers:
                wanted[nc.name] = self.notifiers[nc.name]
            else:
                wanted[nc.name] = REGISTRY[nc.kind](
                    nc.name, nc.options, session=self._notify_session, clock=self.clock
                )
        retired = [n for name, n in self.notifiers.items() if wanted.get(name) is not n]
        self.notifiers = wanted
        self._notifier_configs = {nc.name: nc for nc in configs}
        if self.outbox is not None:
            self.outbox.notifiers = wanted
        if self.pipeline is not None:
            self.pipeline.notifiers = list(wanted)
        self.metrics.declare([], [], wanted)
        for notifier in retired:
            # A send in flight on a retired notifier may fail; its delivery is retried, never lost.
            await notifier.close()

    # -- polling --------------------------------------------------------------------------------------
    async def poll(self, source: Source) -> PollResult:
        assert self.pipeline is not None
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        started = time.monotonic()
        try:
            result = await self.pipeline.poll(source)
        except Exception:
            self.metrics.sources.fetched(source.name, "error")
            self.activity.polled("error", 0)
            raise
        finally:
            self.metrics.fetch_seconds.observe(time.monotonic() - started)
            if task is not None:
                self._inflight.discard(task)
        await self._observe(source, result)
        return result

    async def _observe(self, source: Source, result: PollResult) -> None:
        """Metrics and source health for one finished poll. Never raises: it is bookkeeping."""
        failed = bool(result.errors) and not result.new_articles
        outcome = "not_modified" if result.not_modified else "error" if failed else "ok"
        self.metrics.sources.fetched(source.name, outcome)
        self.activity.polled(outcome, result.new_articles)
        log.debug(
            "poll",
            extra={
                "source": source.name,
                "outcome": outcome,
                "new_articles": result.new_articles,
                "alerts": len(result.alerts),
                "error": result.errors[0] if result.errors else None,
            },
        )
        if result.new_articles:
            self.metrics.sources.found(source.name, result.new_articles)
            self._recent.append((time.monotonic(), result.new_articles))
        if not failed and not self.dry_run:
            self.metrics.sources.succeeded(source.name, self.clock.time())
        if self.dry_run:
            return
        try:
            await self._track_health(source, result, failed)
        except Exception as exc:  # the store may be down; health alerts catch up on a later poll
            log.warning("health_check_failed", extra={"source": source.name, "error": str(exc)})

    async def _track_health(self, source: Source, result: PollResult, failed: bool) -> None:
        health = self._health.setdefault(source.name, _SourceHealth(last_new=self.clock.time()))
        threshold = self.config.service.health_failures
        assert self.store is not None
        if failed:
            health.failures += 1
            if threshold and health.failures >= threshold and health.failing is None:
                state = await self.store.source_state(source.name)
                health.failing = f"failing:{state.last_success}"
                detail = f"{health.failures} polls in a row failed; last error: {result.errors[0]}"
                await self._health_alert(source, health.failing, "is failing", detail)
        else:
            health.failures = 0
            if health.failing is not None:
                key, health.failing = health.failing, None
                await self._health_alert(source, f"{key}:recovered", "recovered", "polls succeed again")
        stale_after = self.config.stale_after.get(source.name)
        now = self.clock.time()
        if result.new_articles:
            health.last_new = now
            if health.stale is not None:
                key, health.stale = health.stale, None
                await self._health_alert(source, f"{key}:recovered", "has new articles again", "recovered")
        elif stale_after and now - health.last_new > stale_after and health.stale is None:
            state = await self.store.source_state(source.name)
            health.stale = f"stale:{state.articles_seen}"
            detail = f"no new article for {_human(now - health.last_new)} (stale_after {_human(stale_after)})"
            await self._health_alert(source, health.stale, "went quiet", detail)

    async def _health_alert(self, source: Source, key: str, what: str, detail: str) -> None:
        """One alert per incident through the durable outbox: the claim makes it exactly-once."""
        level = logging.INFO if "recovered" in key else logging.WARNING
        log.log(level, "source_health", extra={"source": source.name, "outcome": what, "detail": detail})
        notifiers = [n for n in self.config.service.health_notify if n in self.notifiers]
        if not notifiers:
            return
        assert self.store is not None
        rule_id = HEALTH_RULE_PREFIX + source.name
        story_key = f"{source.name}:{key}"
        alert = Alert(
            id=alert_id(rule_id, story_key),
            rule_id=rule_id,
            rule_title=f"newsmon: source {source.name} {what}",
            story_key=story_key,
            url=mask_url(source.url),
            title=detail,
            source=source.name,
            published=None,
            detected_at=datetime.fromtimestamp(self.clock.time(), UTC),
            hits=(),
        )
        if await self.store.claim(alert, notifiers):
            log.info("alert_claimed", extra={"rule": rule_id, "alert_id": alert.id})
            self._on_claim(alert)

    def _on_claim(self, alert: Alert) -> None:
        self.activity.claimed()
        if self.outbox is not None:
            self.outbox.wake()

    def _on_outcome(self, notifier: str, outcome: str) -> None:
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
            assert self.outbox is not None
            self._outbox_task = asyncio.create_task(self.outbox.run(self._stop))
            assert self.store is not None
            self.leases = SourceLeases(
                self.store, margin=self.config.store.lease, outage=self.outage, clock=self.clock
            )
            await self.leases.start()
            plan = AdaptivePlan(self.store)
            self.scheduler = Scheduler(self.poll, leases=self.leases, plan=plan)
            self.scheduler.start(self.config.sources)
            await plan.load(self.clock.time())
            await self._start_metrics_server()
            self._background = [
                asyncio.create_task(self.sd.watchdog_loop()),
                asyncio.create_task(self._status_loop()),
                asyncio.create_task(self._summary_loop()),
                self._watch_rules(),
            ]
            await self._refresh_outbox_depth()
            self.sd.ready(self.status_line())
            self.ready.set()
            log.info("ready", extra={"detail": self.status_line()})
            await self._stop.wait()
        finally:
            self.sd.stopping()
            await self.stop()
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

    async def _start_metrics_server(self) -> None:
        address = parse_listen(self.config.service.metrics)
        if address is None:
            return
        from monitor.metrics_server import MetricsServer  # aiohttp.web: only a daemon serves metrics

        console = None
        if self.config.service.ui:
            from monitor.ui import Console  # Jinja2 and the templates load only when the console is on

            console = Console(self)
        server = MetricsServer(
            self.metrics,
            *address,
            health=self.health,
            refresh=self._refresh_outbox_depth,
            mount=console.mount if console is not None else None,
        )
        try:
            await server.start()
        except OSError as exc:
            # Monitoring news matters more than exposing metrics: run on, loudly.
            log.error("metrics_unavailable", extra={"detail": self.config.service.metrics, "error": str(exc)})
            return
        self.metrics_server = server
        log.info("metrics_listening", extra={"url": f"http://{address[0]}:{server.port}/metrics"})
        if console is not None:
            url = f"http://{address[0]}:{server.port}/ui/"
            log.info("console_listening", extra={"url": url, "detail": f"access: {console.auth}"})

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        """SIGHUP. Reloads run one at a time; a HUP during a reload runs another one after it."""
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_again = True
            return
        self._reload_task = asyncio.create_task(self._reload_loop())

    async def _reload_loop(self) -> bool:
        ok = await self.reload()
        while self._reload_again and not self._stop.is_set():
            self._reload_again = False
            ok = await self.reload()
        return ok

    async def once(self, names: Sequence[str] = ()) -> list[PollResult]:
        """One pass over the (named) sources, then deliver what was claimed."""
        await self.start()
        try:
            sources = [s for s in self.config.sources if not names or s.name in names]
            polled = await asyncio.gather(*(self.poll(s) for s in sources), return_exceptions=True)
            results = [_as_result(source, r) for source, r in zip(sources, polled, strict=True)]
            if not self.dry_run and self.outbox is not None:
                await self.outbox.drain(self.clock.time() + self.config.service.shutdown_timeout)
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
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_task.cancel()
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=max(0.1, remaining()))
            await _cancel(pending)
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self.backfill is not None:
            # An unfinished backfill releases its lease: the next start runs it again.
            await self.backfill.close()
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
        if self.outbox is not None and not self.dry_run and remaining() > 0 and self.store is not None:
            try:
                await asyncio.shield(self.outbox.drain(self.clock.time() + remaining()))
            except Exception as exc:  # a down store: nothing more to flush, close the rest cleanly
                log.warning("drain_failed", extra={"error": str(exc)})
        await _cancel(set(self._background))
        self._background = []
        if self.metrics_server is not None:
            await self.metrics_server.stop()
            self.metrics_server = None
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

    # -- reload ---------------------------------------------------------------------------------------
    async def reload(self) -> bool:
        """Re-read the config file and every rule file; apply them only if all are valid.

        Sources are added, removed and rescheduled in place; rules and notifiers are swapped; settings
        that need new connections (``[store]``, ``[http]``, ``metrics``, ``log_format``) wait for a
        restart and say so. A poll in flight finishes: it picks up the new rules at its next article."""
        self.sd.reloading()
        try:
            return await self._reload()
        finally:
            self.sd.ready(self.status_line())

    async def _reload(self) -> bool:
        try:
            loaded = load(self.config.path, strict=True)
        except ConfigError as exc:
            self.metrics.rules_reload_errors.inc()
            self.reload_problems = tuple(p for p in exc.problems if p.severity == "error")
            for problem in exc.problems:
                log.log(
                    logging.ERROR if problem.severity == "error" else logging.WARNING,
                    "reload_failed",
                    extra={"path": problem.path, "error": str(problem)},
                )
            log.error(
                "reload_failed",
                extra={"count": len(self.reload_problems), "detail": "kept the running config and rules"},
            )
            return False
        self.reload_problems = ()
        config, rules = loaded.config, loaded.rules
        for problem in loaded.warnings:
            log.warning("rule_warning", extra={"path": problem.path, "detail": str(problem)})
        old = self.config
        restart_only = {
            "[store]": old.store != config.store,
            "[http]": old.http != config.http,
            "[service] metrics": old.service.metrics != config.service.metrics,
            "[service] log_format": old.service.log_format != config.service.log_format,
        }
        # Against the running values, so changing a setting back clears it.
        self.pending_restart = tuple(what for what, changed in restart_only.items() if changed)
        for what in self.pending_restart:
            log.warning("reload_needs_restart", extra={"detail": f"{what} changed; restart to apply"})
        # What is in effect, not what the file says: restart-only settings keep their running values.
        config = dataclasses.replace(
            config,
            store=old.store,
            http=old.http,
            service=dataclasses.replace(
                config.service, metrics=old.service.metrics, log_format=old.service.log_format
            ),
        )
        if self.scrubber is not None:
            self.scrubber.update([*config_secrets(old), *config_secrets(config)])
        if self.store is not None:
            await self._apply_notifiers(config.notifiers)
        self._set_rules(rules)
        if self.backfill is not None:
            self.backfill.start(rules.rules)
        if self.pipeline is not None:
            self.pipeline.alerts = config.alerts
        if self.outbox is not None:
            self.outbox.give_up_after = config.alerts.give_up_after
        logging.getLogger("newsmon").setLevel(config.service.log_level.upper())
        old_names = {s.name for s in old.sources}
        new_names = {s.name for s in config.sources}
        for name in old_names - new_names:
            self.metrics.forget_source(name)
            self._health.pop(name, None)
        now = self.clock.time()
        for name in new_names - old_names:
            self._health[name] = _SourceHealth(last_new=now)
        self.metrics.declare(new_names, [], [])
        self.config = config
        if self._rule_watch is not None and config.rule_paths != old.rule_paths:
            # Watch where the rules now are: edits there reload, edits to the old folder do not.
            old_watch = self._rule_watch
            self._background = [t for t in self._background if t is not old_watch] + [self._watch_rules()]
            await _cancel({old_watch})
        if self.scheduler is not None:
            self.scheduler.sync(config.sources)
        changed = len({s for s in config.sources} - set(old.sources)) - len(new_names - old_names)
        log.info(
            "reloaded",
            extra={
                "rules": len(rules.rules),
                "sources": len(config.sources),
                "notifiers": len(config.notifiers),
                "sources_added": len(new_names - old_names),
                "sources_removed": len(old_names - new_names),
                "sources_changed": changed,
            },
        )
        return True

    @property
    def rule_problems(self) -> list[str]:
        """The errors of the last reload while it failed, as the web console shows them."""
        return [str(p) for p in self.reload_problems]

    # -- status and health ----------------------------------------------------------------------------
    def articles_per_minute(self) -> float:
        cutoff = time.monotonic() - RATE_WINDOW
        while self._recent and self._recent[0][0] < cutoff:
            self._recent.popleft()
        return sum(n for _, n in self._recent) * 60.0 / RATE_WINDOW

    def status_line(self) -> str:
        outbox = "?" if self._outbox_depth is None else str(self._outbox_depth)
        return (
            f"{len(self.config.sources)} sources, {self.articles_per_minute():.0f} articles/min, "
            f"outbox {outbox} pending"
        )

    async def _refresh_outbox_depth(self) -> None:
        if self.store is None:
            return
        try:
            self._outbox_depth = await self.store.outbox_pending()
        except Exception:
            self._outbox_depth = None
            raise
        self.metrics.outbox_pending.set(self._outbox_depth)

    async def _summary_loop(self) -> None:
        """The sign of life: one ``summary`` line at info every ``summary_interval``."""
        while interval := self.config.service.summary_interval:
            await asyncio.sleep(interval)
            self.log_summary()

    def log_summary(self) -> None:
        log.info(
            "summary",
            extra={
                **self.activity.take(),
                "outbox": "?" if self._outbox_depth is None else self._outbox_depth,
                "rules": len(self.rules.rules) if self.rules else 0,
                "sources": len(self.config.sources),
            },
        )

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(STATUS_INTERVAL)
            with contextlib.suppress(Exception):  # unknown depth shows as "?"
                await self._refresh_outbox_depth()
            self.sd.status(self.status_line())

    async def health(self) -> Health:
        """/healthz, each check "ok" or why not (docs/operations.md lists them): the scheduler dispatches
        jobs, the store answers a ping, rules are loaded, the last reload worked, not every source is
        failing, and no delivery has given up lately."""
        checks: dict[str, str] = {}
        checks["rules"] = "ok" if self.rules and self.rules.rules else "no rules loaded"
        if self.reload_problems:
            first = self.reload_problems[0]
            checks["reload"] = (
                f"last reload failed with {len(self.reload_problems)} problem(s), running on the previous "
                f"config and rules; first: {first}"
            )
        else:
            checks["reload"] = "ok"
        checks["sources"] = self._sources_check()
        dead = self.activity.dead_recently()
        checks["deliveries"] = (
            f"{dead} deliver{'y' if dead == 1 else 'ies'} gave up in the last hour (dead letters): "
            "see `newsmon alerts list --failed`, resend with `newsmon alerts retry --failed`"
            if dead
            else "ok"
        )
        problem = self.scheduler.ticking() if self.scheduler is not None else "scheduler not started"
        checks["scheduler"] = problem or "ok"
        store = self.store
        if store is None:
            checks["store"] = "store not open"
        else:
            try:
                async with asyncio.timeout(HEALTH_PING_TIMEOUT):
                    answered = await store.ping()
            except TimeoutError:
                answered = False
            checks["store"] = "ok" if answered else "store does not answer"
        notes: dict[str, str] = {}
        if self.pending_restart:
            notes["restart"] = (
                f"{', '.join(self.pending_restart)} changed in the config; running on the previous value "
                "until restarted"
            )
        if orphans := self.unconfigured_notifiers:
            notes["outbox"] = unconfigured_message(orphans)
        return Health(ok=all(v == "ok" for v in checks.values()), checks=checks, notes=notes)

    def _sources_check(self) -> str:
        threshold = self.config.service.health_failures
        failures = [self._health[s.name].failures for s in self.config.sources if s.name in self._health]
        if threshold and failures and min(failures) >= threshold:
            return (
                f"every source is failing: each of {len(failures)} failed its last {min(failures)}+ polls "
                "(see `newsmon status`)"
            )
        return "ok"


def unconfigured_message(names: Sequence[str]) -> str:
    quoted = ", ".join(f'"{name}"' for name in names)
    return (
        f"deliveries wait in the outbox for notifier(s) {quoted}, no longer in the config (renamed or "
        "removed?): they are kept, not sent; add the notifier back under that name to send them"
    )


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


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}".replace(".0", "")
    return f"{seconds:.0f}s"
