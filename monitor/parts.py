"""What ``Service.start`` opens once the runtime is in effect: the outbox, the pipeline, the poller and
the backfiller over one store, each reading the running configuration through a getter when it needs it,
so a reload reaches them without anyone setting their attributes."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import aiohttp

from monitor.backfill import Backfiller
from monitor.crawl.http import HttpClient
from monitor.metrics import Metrics
from monitor.model import Alert, Clock, DeliveryOutcome
from monitor.notify.outbox import Outbox
from monitor.pipeline import Pipeline
from monitor.poller import Poller
from monitor.runtime import Runtime
from monitor.source_health import SourceHealth
from monitor.store.base import Store
from monitor.store.outage import StoreOutage
from monitor.summary import Activity


@dataclasses.dataclass(frozen=True, slots=True)
class Parts:
    """Opened by ``start`` and closed by ``stop``, all or nothing."""

    store: Store
    session: aiohttp.ClientSession  # the notifiers'
    outbox: Outbox
    pipeline: Pipeline
    poller: Poller
    backfill: Backfiller | None  # not in a dry run


def build_parts(
    store: Store,
    session: aiohttp.ClientSession,
    *,
    http: HttpClient,
    runtime: Callable[[], Runtime],
    clock: Clock,
    metrics: Metrics,
    activity: Activity,
    health: SourceHealth,
    outage: StoreOutage,
    on_claim: Callable[[Alert], None],
    on_outcome: Callable[[str, DeliveryOutcome], None],
    dry_run: bool,
) -> Parts:
    outbox = Outbox(
        store,
        lambda: runtime().notifiers,
        clock,
        give_up_after=lambda: runtime().config.alerts.give_up_after,
        logger=logging.getLogger("newsmon.outbox"),
        on_outcome=on_outcome,
        lease=runtime().config.store.lease,
        outage=outage,
    )
    pipeline = Pipeline(
        store=store,
        http=http,
        engine=lambda: runtime().engine.built(),
        alerts=lambda: runtime().config.alerts,
        notifiers=lambda: runtime().notifier_names,
        clock=clock,
        on_claim=on_claim,
        dry_run=dry_run,
    )
    backfill = None
    if not dry_run:
        backfill = Backfiller(
            store,
            clock,
            alerts=lambda: runtime().config.alerts,
            notifiers=lambda: runtime().notifier_names,
            on_claim=on_claim,
        )
    poller = Poller(
        pipeline,
        store,
        runtime=runtime,
        metrics=metrics,
        activity=activity,
        health=health,
        clock=clock,
        on_claim=on_claim,
        dry_run=dry_run,
    )
    return Parts(store, session, outbox, pipeline, poller, backfill)
