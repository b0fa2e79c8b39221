"""What the Alerts, Sources and Rules pages show, gathered from the daemon one page at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from monitor.config import Config
from monitor.logs import Scrubber, mask_url
from monitor.matching.rules import Rule
from monitor.model import Source
from monitor.store.base import SourceState
from monitor.store.console import DAY, AlertQuery, RuleStats, SourceHealth, StoredAlert
from monitor.ui.daemon import Daemon, store_of

ALERTS_PER_PAGE = 25
ROWS_PER_PAGE = 100
STATES = ("pending", "digest", "delivered", "dead")
SINCE = {"1h": 3600.0, "24h": DAY, "7d": 7 * DAY}
# Sources by how urgently they need a look; the pages list them in this order.
STATUS_ORDER = ("failing", "stale", "waiting", "ok")
STALE_INTERVALS = 3  # polls a source may miss before it counts as stale (without its own stale_after)
MIN_RATE_WINDOW = 3600.0  # seconds of uptime before articles per day is worth extrapolating


@dataclass(slots=True)
class AlertsView:
    rows: list[StoredAlert]
    filters: dict[str, str]
    rules: list[str]
    states: tuple[str, ...]
    since: tuple[str, ...]
    older: str | None  # query string of the next (older) page
    live: bool


async def alerts(daemon: Daemon, query: Mapping[str, str]) -> AlertsView:
    filters = {key: query.get(key, "").strip() for key in ("rule", "source", "state", "since")}
    if filters["state"] not in STATES:
        filters["state"] = ""
    if filters["since"] not in SINCE:
        filters["since"] = ""
    now = daemon.clock.time()
    rows = await store_of(daemon).alert_page(
        AlertQuery(
            rule=filters["rule"] or None,
            source=filters["source"] or None,
            state=filters["state"] or None,
            since=now - SINCE[filters["since"]] if filters["since"] else None,
            before=_cursor(query.get("before", "")),
            limit=ALERTS_PER_PAGE + 1,  # one more tells whether there is an older page
        )
    )
    older = None
    if len(rows) > ALERTS_PER_PAGE:
        rows = rows[:ALERTS_PER_PAGE]
        at, alert_id = rows[-1].cursor
        older = urlencode({**{k: v for k, v in filters.items() if v}, "before": f"{at!r}:{alert_id}"})
    rules = [r.id for r in daemon.rules.rules] if daemon.rules else []
    return AlertsView(rows, filters, rules, STATES, tuple(SINCE), older, query.get("live") == "1")


def _cursor(text: str) -> tuple[float, str] | None:
    at, _, alert_id = text.partition(":")
    try:
        return (float(at), alert_id) if alert_id else None
    except ValueError:
        return None


@dataclass(slots=True)
class SourceRow:
    source: Source
    url: str  # without any password
    status: str
    state: SourceState
    per_day: float | None
    next_poll: float | None  # seconds from now
    delay: float  # per-host spacing between requests
    robots_delay: bool  # the spacing is the host's robots.txt Crawl-delay, longer than the config's
    blocked: float  # seconds the host asked us to wait (429/503 Retry-After)


@dataclass(slots=True)
class SourcesView:
    rows: list[SourceRow]
    counts: dict[str, int]
    status: str
    name: str
    offset: int
    total: int
    uptime: float
    pages: list[tuple[int, str]] = field(default_factory=list)  # (first row, query string)


def status(health: SourceHealth | None, stale_limit: float, now: float) -> str:
    """ "failing", "stale" (no success for ``stale_limit`` seconds), "waiting" (never polled) or "ok"."""
    if health is None:
        return "waiting"
    last_success, failing = health
    if failing:
        return "failing"
    if last_success is None:
        return "waiting"
    return "stale" if now - last_success > stale_limit else "ok"


class SourceLedger:
    """What the Sources page keeps between requests: the configured sources in name order, each with
    how long it may go without a success before it is stale (worked out once per config, not per page),
    and the article totals it measures articles per day against."""

    def __init__(self) -> None:
        self._config: Config | None = None
        self._by_name: tuple[tuple[Source, float], ...] = ()
        self.base: dict[str, int] = {}
        self.since: float | None = None

    def by_name(self, config: Config) -> tuple[tuple[Source, float], ...]:
        if config is not self._config:  # a reload builds a new Config
            stale_after = config.stale_after
            self._config = config
            self._by_name = tuple(
                (s, stale_after.get(s.name) or STALE_INTERVALS * s.interval)
                for s in sorted(config.sources, key=lambda s: s.name)
            )
        return self._by_name

    def start(self, states: Sequence[SourceState], now: float) -> None:
        self.base = {s.name: s.articles_seen for s in states}
        self.since = now

    def per_day(self, state: SourceState, now: float) -> float | None:
        """New articles per day since the console started; None until that is an hour."""
        if self.since is None or now - self.since < MIN_RATE_WINDOW:
            return None
        return (state.articles_seen - self.base.get(state.name, 0)) * DAY / (now - self.since)


async def sources(daemon: Daemon, query: Mapping[str, str], ledger: SourceLedger) -> SourcesView:
    now = daemon.clock.time()
    store = store_of(daemon)
    if ledger.since is None:
        ledger.start(await store.source_states(), now)
    health = await store.source_health()
    wanted = query.get("status", "")
    name = query.get("name", "").strip().lower()
    ranked: dict[str, list[tuple[Source, float]]] = {label: [] for label in STATUS_ORDER}
    for entry in ledger.by_name(daemon.config):  # name order within each status
        ranked[status(health.get(entry[0].name), entry[1], now)].append(entry)
    counts = {label: len(listed) for label, listed in ranked.items()}
    chosen = [
        (label, source)
        for label in STATUS_ORDER
        if not wanted or label == wanted
        for source, _ in ranked[label]
        if not name or name in source.name.lower()
    ]
    offset = _offset(query.get("offset", ""), len(chosen))
    shown = chosen[offset : offset + ROWS_PER_PAGE]
    states = await store.source_states_of([source.name for _, source in shown])
    rows = []
    for (label, source), state in zip(shown, states, strict=True):
        next_run = daemon.scheduler.next_run(source.name) if daemon.scheduler else None
        host = urlsplit(source.url).hostname or ""
        rows.append(
            SourceRow(
                source=source,
                url=mask_url(source.url),
                status=label,
                state=state,
                per_day=ledger.per_day(state, now),
                next_poll=None if next_run is None else max(0.0, next_run - now),
                delay=daemon.http.limiter.spacing(host),
                robots_delay=daemon.http.limiter.spacing(host) > daemon.http.limiter.delay,
                blocked=daemon.http.limiter.blocked_for(host),
            )
        )
    keep = {k: v for k, v in (("status", wanted), ("name", name)) if v}
    pages = _pages(len(chosen), offset, keep)
    uptime = now - daemon.started_at
    return SourcesView(rows, counts, wanted, name, offset, len(chosen), uptime, pages)


def _pages(total: int, offset: int, keep: dict[str, str]) -> list[tuple[int, str]]:
    """(first row, query string) of every other page of a ``total``-row listing."""
    return [
        (first, urlencode({**keep, "offset": first}))
        for first in range(0, total, ROWS_PER_PAGE)
        if first != offset
    ]


def _offset(text: str, total: int) -> int:
    try:
        value = int(text)
    except ValueError:
        return 0
    return min(max(0, value - value % ROWS_PER_PAGE), max(0, total - 1))


@dataclass(slots=True)
class RuleRow:
    rule: Rule
    where: str  # file:line, relative to the config when inside its directory
    stats: RuleStats


@dataclass(slots=True)
class RulesView:
    rows: list[RuleRow]
    total: int
    problems: list[str]
    warnings: list[str]
    offset: int
    pages: list[tuple[int, str]]


async def rules(daemon: Daemon, query: Mapping[str, str], scrub: Scrubber) -> RulesView:
    loaded = daemon.rules.rules if daemon.rules else ()
    offset = _offset(query.get("offset", ""), len(loaded))
    shown = loaded[offset : offset + ROWS_PER_PAGE]
    stats = await store_of(daemon).rule_stats([r.id for r in shown])
    base = daemon.config.path.parent.resolve()
    rows = [RuleRow(r, f"{_relative(r.path, base)}:{r.line}", stats.get(r.id, RuleStats())) for r in shown]
    warnings = [str(w) for w in daemon.rules.warnings] if daemon.rules else []
    pages = _pages(len(loaded), offset, {})
    return RulesView(rows, len(loaded), [scrub(p) for p in daemon.rule_problems], warnings, offset, pages)


def _relative(path: str, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base))
    except ValueError:
        return path
