"""Prometheus metrics (one registry per Service, no globals); ``monitor.metrics_server`` serves them.

Names are a contract (see the design's Observability section); label values are source, rule and
notifier names from the operator's config, so their number is bounded by the config.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from monitor.model import POLL_OUTCOMES, PollOutcome

log = logging.getLogger("newsmon.metrics")

ALERT_OUTCOMES = ("delivered", "retry", "dead")
_OUTCOME_INDEX = {outcome: i for i, outcome in enumerate(POLL_OUTCOMES)}
# Polls are network-bound: from a quick 304 to a slow page plus its articles.
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    """Every newsmon metric, registered in this instance's own ``CollectorRegistry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # prometheus-client appends "_total" to counters itself; the names below are the exposed ones.
        self.fetch_seconds = Histogram(
            "newsmon_fetch_seconds", "Duration of one source poll", buckets=FETCH_BUCKETS, registry=r
        )
        self.matches_total = Counter(
            "newsmon_matches_total", "Articles matched, per rule", ["rule"], registry=r
        )
        self.alerts_total = Counter(
            "newsmon_alerts_total", "Delivery attempts by outcome", ["notifier", "outcome"], registry=r
        )
        self.outbox_pending = Gauge("newsmon_outbox_pending", "Deliveries not yet acknowledged", registry=r)
        self.rules_loaded = Gauge("newsmon_rules_loaded", "Rules in effect", registry=r)
        self.rules_reload_errors = Counter(
            "newsmon_rules_reload_errors_total",
            "Reloads refused because of invalid config or rules",
            registry=r,
        )
        self.sources = SourceSeries()
        r.register(self.sources)

    def declare(self, sources: Iterable[str], rules: Iterable[str], notifiers: Iterable[str]) -> None:
        """Create the zero-valued series for configured names, so dashboards and ``rate()`` see a
        source before its first poll and a rule before its first match."""
        for source in sources:
            self.sources.declare(source)
        for rule in rules:
            self.matches_total.labels(rule)
        for notifier in notifiers:
            for outcome in ALERT_OUTCOMES:
                self.alerts_total.labels(notifier, outcome)

    def forget_source(self, source: str) -> None:
        """A source removed by a reload: its series go away instead of freezing at their last value."""
        self.sources.forget(source)

    def forget_rule(self, rule: str) -> None:
        _remove(self.matches_total, rule)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class SourceSeries:
    """The per-source series (polls by outcome, new articles, last success), kept as plain numbers and
    turned into samples at scrape time. They are the series whose number grows with the config, and a
    prometheus_client child carries a lock and a value object each, where a plain number is one float
    (the memory it saves at 10,000 sources: benchmarks/README.md)."""

    def __init__(self) -> None:
        self._fetches: dict[str, list[float]] = {}  # source -> polls per POLL_OUTCOMES
        self._articles: dict[str, float] = {}
        self._last_success: dict[str, float] = {}

    def declare(self, source: str) -> None:
        self._fetches.setdefault(source, [0.0] * len(POLL_OUTCOMES))
        self._articles.setdefault(source, 0.0)

    def fetched(self, source: str, outcome: PollOutcome) -> None:
        counts = self._fetches.get(source)
        if counts is None:
            counts = self._fetches[source] = [0.0] * len(POLL_OUTCOMES)
        counts[_OUTCOME_INDEX[outcome]] += 1

    def found(self, source: str, articles: int) -> None:
        self._articles[source] = self._articles.get(source, 0.0) + articles

    def succeeded(self, source: str, at: float) -> None:
        self._last_success[source] = at

    def forget(self, source: str) -> None:
        for series in (self._fetches, self._articles, self._last_success):
            series.pop(source, None)

    def collect(self) -> Iterator[Metric]:
        fetches = CounterMetricFamily(
            "newsmon_fetch", "Source polls by outcome", labels=["source", "outcome"]
        )
        for source, counts in self._fetches.items():
            for outcome, count in zip(POLL_OUTCOMES, counts, strict=True):
                fetches.add_metric([source, outcome], count)
        articles = CounterMetricFamily("newsmon_articles", "New articles extracted", labels=["source"])
        for source, count in self._articles.items():
            articles.add_metric([source], count)
        success = GaugeMetricFamily(
            "newsmon_source_last_success_timestamp_seconds",
            "Unix time of the source's last successful poll",
            labels=["source"],
        )
        for source, at in self._last_success.items():
            success.add_metric([source], at)
        return iter((fetches, articles, success))


def _remove(metric: Counter | Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # never observed
        metric.remove(*labels)


@dataclass(slots=True)
class Health:
    ok: bool
    checks: dict[str, str] = field(default_factory=dict)  # check name -> "ok" or why not
    notes: dict[str, str] = field(default_factory=dict)  # worth saying, but not unhealthy

    def body(self) -> str:
        body: dict[str, object] = {"status": "ok" if self.ok else "unhealthy", "checks": self.checks}
        if self.notes:
            body["notes"] = self.notes
        return json.dumps(body)
