"""What the console reads from the running daemon (``monitor.service.Service`` provides all of it)."""

from __future__ import annotations

from typing import Protocol, cast

from aiohttp import web

from monitor.config import Config
from monitor.crawl.http import HttpClient
from monitor.matching.rules import RuleSet
from monitor.model import Clock
from monitor.notify.outbox import Outbox
from monitor.scheduler import Scheduler
from monitor.store.base import Store
from monitor.store.console import ConsoleQueries


class Daemon(Protocol):
    clock: Clock
    http: HttpClient
    scheduler: Scheduler | None
    started_at: float  # clock time the daemon started

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> Store | None: ...

    @property
    def rules(self) -> RuleSet | None: ...

    @property
    def rule_problems(self) -> list[str]:
        """The problems of the last reload while it was refused; else empty."""
        ...

    @property
    def outbox(self) -> Outbox | None: ...


class ConsoleStore(Store, ConsoleQueries):
    """The store as the console uses it: ``SqliteStore`` and ``RedisStore`` both are one."""


def store_of(daemon: Daemon) -> ConsoleStore:
    store: object = daemon.store
    if not (isinstance(store, Store) and isinstance(store, ConsoleQueries)):
        raise web.HTTPServiceUnavailable(text="the store is not open (the daemon is starting or stopping)")
    # Both stores derive from Store and implement ConsoleQueries without naming ConsoleStore.
    return cast(ConsoleStore, store)
