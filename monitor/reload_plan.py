"""Reloads: one at a time; what one changes (the config to put in effect, the settings only a restart
applies, which sources came, went or changed); and what a refused one says."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from monitor.config import Config
from monitor.errors import ConfigError, Problem

log = logging.getLogger("newsmon.service")


@dataclasses.dataclass(frozen=True, slots=True)
class ReloadPlan:
    config: Config  # what takes effect: the new file, less the settings that wait for a restart
    pending_restart: tuple[str, ...]  # settings changed on disk that only a restart applies
    added: frozenset[str]  # source names
    removed: frozenset[str]
    changed: int  # sources kept under their name with some setting changed
    rule_paths_changed: bool


def plan_reload(running: Config, wanted: Config) -> ReloadPlan:
    """Compare the config in effect with the one on disk. ``pending_restart`` is worked out against the
    running values, so changing a setting back clears it."""
    restart_only = {
        "[store]": running.store != wanted.store,
        "[http]": running.http != wanted.http,
        "[service] metrics": running.service.metrics != wanted.service.metrics,
        "[service] log_format": running.service.log_format != wanted.service.log_format,
    }
    effective = dataclasses.replace(
        wanted,
        store=running.store,
        http=running.http,
        service=dataclasses.replace(
            wanted.service, metrics=running.service.metrics, log_format=running.service.log_format
        ),
    )
    old_names = {s.name for s in running.sources}
    new_names = {s.name for s in effective.sources}
    added = frozenset(new_names - old_names)
    return ReloadPlan(
        config=effective,
        pending_restart=tuple(what for what, changed in restart_only.items() if changed),
        added=added,
        removed=frozenset(old_names - new_names),
        changed=len(set(effective.sources) - set(running.sources)) - len(added),
        rule_paths_changed=effective.rule_paths != running.rule_paths,
    )


def refused(exc: ConfigError) -> tuple[Problem, ...]:
    """Log why a reload was refused, every problem with its place; the errors, for /healthz."""
    errors = tuple(p for p in exc.problems if p.severity == "error")
    for problem in exc.problems:
        log.log(
            logging.ERROR if problem.severity == "error" else logging.WARNING,
            "reload_failed",
            extra={"path": problem.path, "error": str(problem)},
        )
    log.error("reload_failed", extra={"count": len(errors), "detail": "kept the running config and rules"})
    return errors


class Reloads:
    """Runs ``reload`` one at a time; a request during a reload runs another one after it, so the last
    edit is always read."""

    def __init__(self, reload: Callable[[], Awaitable[bool]], *, stopping: Callable[[], bool]) -> None:
        self._reload = reload
        self._stopping = stopping
        self._task: asyncio.Task[bool] | None = None
        self._again = False

    def request(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._loop())

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _loop(self) -> bool:
        ok = await self._reload()
        while self._again and not self._stopping():
            self._again = False
            ok = await self._reload()
        return ok
