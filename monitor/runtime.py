"""The running configuration as one immutable value: config, rules, their engine and the notifiers.

The service builds a ``Runtime`` at start and a new one on every successful reload, and swaps it in one
assignment; the pipeline, the outbox and the backfiller read it through getters at each use, so a reload
takes effect at the next article or delivery, and nothing outside the service changes their settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import aiohttp

from monitor.config import Config
from monitor.matching.rules import Rule, RuleSet
from monitor.metrics import Metrics
from monitor.model import Article, Clock, Match
from monitor.notify import REGISTRY
from monitor.notify.base import Notifier
from monitor.secret import Secret

if TYPE_CHECKING:
    from monitor.matching.engine import Engine


class CountingEngine:
    """The engine of one (validated) rule set as the pipeline sees it: compiled when first asked for,
    and counting each matched rule for metrics.

    The daemon asks before it says READY and at each reload; ``newsmon once`` only when some article is
    new, so a run whose sources all answer 304 neither imports nor compiles the matcher."""

    __slots__ = ("_building", "_engine", "_metrics", "_rules")

    def __init__(self, rules: Sequence[Rule], metrics: Metrics) -> None:
        self._rules = tuple(rules)
        self._metrics = metrics
        self._engine: Engine | None = None
        self._building: asyncio.Future[Engine] | None = None

    async def built(self) -> CountingEngine:
        """This engine, compiled. At ten thousand rules (every language's inflected forms included) that
        takes seconds, so it runs in a worker thread; whoever asks meanwhile waits for the same one."""
        if self._engine is None:
            if self._building is None:
                from monitor.matching.engine import Engine

                self._building = asyncio.ensure_future(asyncio.to_thread(Engine, self._rules))
            # Shielded: a poll cancelled while it waits must not cancel what the others wait for.
            self._engine = await asyncio.shield(self._building)
        return self

    def match(self, article: Article) -> list[Match]:
        if self._engine is None:
            raise RuntimeError("the engine is not compiled: await built() first")
        matches = self._engine.match(article)
        for m in matches:
            self._metrics.matches_total.labels(m.rule_id).inc()
        return matches


@dataclasses.dataclass(frozen=True, slots=True)
class Runtime:
    config: Config  # as in effect: restart-only settings keep their running values across reloads
    rules: RuleSet
    engine: CountingEngine
    notifiers: Mapping[str, Notifier]  # by name, in config order

    @property
    def notifier_names(self) -> list[str]:
        return list(self.notifiers)


def build_notifiers(
    config: Config,
    running: Runtime | None,
    *,
    session: aiohttp.ClientSession,
    clock: Clock,
) -> tuple[Mapping[str, Notifier], list[Notifier]]:
    """The notifiers ``config`` names, keeping unchanged running ones (and their connections); and the
    running ones left out, for the caller to close once nothing uses them."""
    old = {nc.name: nc for nc in running.config.notifiers} if running else {}
    current = running.notifiers if running else {}
    wanted: dict[str, Notifier] = {}
    for nc in config.notifiers:
        if old.get(nc.name) == nc and nc.name in current:
            wanted[nc.name] = current[nc.name]
        else:
            wanted[nc.name] = REGISTRY[nc.kind](nc.name, nc.options, session=session, clock=clock)
    retired = [n for name, n in current.items() if wanted.get(name) is not n]
    return MappingProxyType(wanted), retired


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
