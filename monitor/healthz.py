"""What /healthz says about a running daemon: each check "ok" or why not, plus notes that do not fail it.

docs/operations.md lists the checks: the scheduler dispatches jobs, the store answers a ping, rules are
loaded, the last reload worked, not every source is failing, and no delivery has given up lately.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.errors import Problem
from monitor.metrics import Health
from monitor.store.base import Store

HEALTH_PING_TIMEOUT = 2.0  # seconds /healthz waits for the store


@dataclass(frozen=True, slots=True)
class Observed:
    """The daemon's state the checks read, gathered by the service at the moment of asking."""

    rules: int  # loaded
    reload_problems: Sequence[Problem]  # of the last reload while it failed
    source_failures: Sequence[int]  # polls in a row that failed, per configured source
    failure_threshold: int  # [service] health_failures; 0: never
    dead_recently: int  # deliveries that gave up within the last hour
    scheduler: str | None  # why the scheduler does not dispatch jobs; None when it does
    store: Store | None  # None: not open
    pending_restart: Sequence[str]
    unconfigured_notifiers: Sequence[str]


async def check(seen: Observed) -> Health:
    checks: dict[str, str] = {}
    checks["rules"] = "ok" if seen.rules else "no rules loaded"
    if seen.reload_problems:
        checks["reload"] = (
            f"last reload failed with {len(seen.reload_problems)} problem(s), running on the previous "
            f"config and rules; first: {seen.reload_problems[0]}"
        )
    else:
        checks["reload"] = "ok"
    checks["sources"] = _sources(seen.source_failures, seen.failure_threshold)
    dead = seen.dead_recently
    checks["deliveries"] = (
        f"{dead} deliver{'y' if dead == 1 else 'ies'} gave up in the last hour (dead letters): "
        "see `newsmon alerts list --failed`, resend with `newsmon alerts retry --failed`"
        if dead
        else "ok"
    )
    checks["scheduler"] = seen.scheduler or "ok"
    checks["store"] = await _store(seen.store)
    notes: dict[str, str] = {}
    if seen.pending_restart:
        notes["restart"] = (
            f"{', '.join(seen.pending_restart)} changed in the config; running on the previous value "
            "until restarted"
        )
    if seen.unconfigured_notifiers:
        notes["outbox"] = unconfigured_message(seen.unconfigured_notifiers)
    return Health(ok=all(v == "ok" for v in checks.values()), checks=checks, notes=notes)


def _sources(failures: Sequence[int], threshold: int) -> str:
    if threshold and failures and min(failures) >= threshold:
        return (
            f"every source is failing: each of {len(failures)} failed its last {min(failures)}+ polls "
            "(see `newsmon status`)"
        )
    return "ok"


async def _store(store: Store | None) -> str:
    if store is None:
        return "store not open"
    try:
        async with asyncio.timeout(HEALTH_PING_TIMEOUT):
            answered = await store.ping()
    except TimeoutError:
        answered = False
    return "ok" if answered else "store does not answer"


def unconfigured_message(names: Sequence[str]) -> str:
    quoted = ", ".join(f'"{name}"' for name in names)
    return (
        f"deliveries wait in the outbox for notifier(s) {quoted}, no longer in the config (renamed or "
        "removed?): they are kept, not sent; add the notifier back under that name to send them"
    )
