"""``newsmon run``, ``once``, ``check``, ``init`` and ``demo``."""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor import loop as event_loop
from monitor.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    _loaded,
    _print_problems,
    _refuse_unknown,
)
from monitor.config import Config, find_config
from monitor.safe_text import one_line

if TYPE_CHECKING:
    from monitor.logs import Scrubber


# -- run / once -------------------------------------------------------------------------------------------
def _logging(config: Config) -> Scrubber:
    """The config's log format and level, ``run`` and ``once`` alike; the scrubber it returns knows the
    config's secrets (a daemon's learns the new ones at each reload)."""
    from monitor.logs import Scrubber, setup_logging
    from monitor.runtime import config_secrets

    scrubber = Scrubber(config_secrets(config))
    setup_logging(config.service.log_format, config.service.log_level, scrub=scrubber)
    return scrubber


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.service import Service

    loaded = _loaded(args)
    config = loaded.config
    _print_problems(loaded.warnings)
    scrubber = _logging(config)
    event_loop.run(Service(config, scrubber=scrubber, rules=loaded.rules).run())
    return EXIT_OK


@contextlib.contextmanager
def _start_up() -> Iterator[None]:
    """Imports, the config and its rules make objects that live as long as a ``once`` does: the cyclic
    garbage collector is paused while they are made, then they are frozen out of its later passes (the
    one at interpreter exit included). Scanning them again and again was a large share of what an
    unchanged run costs (benchmarks/startup.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def cmd_once(args: argparse.Namespace) -> int:
    with _start_up():
        from monitor.service import Service

        loaded = _loaded(args)
    config = loaded.config
    _print_problems(loaded.warnings)
    scrubber = _logging(config)
    if _refuse_unknown("once", "source", args.source, [s.name for s in config.sources]):
        return EXIT_USAGE
    service = Service(config, dry_run=args.dry_run, scrubber=scrubber, rules=loaded.rules)
    results = event_loop.run(service.once(args.source))
    first = service.never_polled if config.alerts.first_run == "mark-seen" else frozenset()
    alerts = [alert for r in results for alert in r.alerts]
    for r in results:
        if r.source in first and not r.errors and not r.not_modified:
            # Said here, not only in an info log line: a first `once` that alerts nothing looks broken,
            # and a dry run that lists alerts the real run will not send looks like a lie.
            marks = "would mark" if args.dry_run else "marked"
            print(
                f"{r.source}: first poll: {marks} what is there now seen without alerting ([alerts] "
                'first_run = "mark-seen"; "alert" alerts it); new articles alert from now on'
            )
        else:
            state = "not modified" if r.not_modified else f"{r.new_articles} new article(s)"
            errors = f", {len(r.errors)} error(s)" if r.errors else ""
            print(f"{r.source}: {state}, {len(r.alerts)} alert(s){errors}")
        for error in r.errors[:3]:
            print(f"  error: {one_line(error)}")
    if args.dry_run:
        for alert in alerts:
            would = "matches, first poll so no alert:" if alert.source in first else "would alert"
            print(f"  {would} [{alert.rule_id}] {one_line(alert.title)} <{one_line(alert.url)}>")
    if orphans := service.unconfigured_notifiers:
        from monitor.healthz import unconfigured_message

        print(f"once: {unconfigured_message(orphans)}", file=sys.stderr)
    code = _once_outcome(results, service.activity.take(), dry_run=args.dry_run)
    return max(code, EXIT_PARTIAL) if orphans else code


def _once_outcome(results: Sequence[Any], activity: dict[str, int], *, dry_run: bool) -> int:
    """Say what went wrong, if anything, and pick the exit code a timer can act on."""
    failed = [r.source for r in results if r.errors]
    undelivered = 0 if dry_run else activity["failed"] + activity["dead"]
    if failed:
        which = "every source" if len(failed) == len(results) else f"{len(failed)} of {len(results)} sources"
        print(f"once: {which} failed: {', '.join(failed)}", file=sys.stderr)
    if undelivered:
        print(
            f"once: {undelivered} deliver{'y' if undelivered == 1 else 'ies'} failed; they stay in the "
            "outbox and are retried by the next run (see `newsmon alerts list`)",
            file=sys.stderr,
        )
    if failed and len(failed) == len(results):
        return EXIT_FAILED
    return EXIT_PARTIAL if failed or undelivered else EXIT_OK


# -- check ------------------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    from monitor.logs import mask_url
    from monitor.validate import load

    path = find_config(args.config)
    # The same checks as run, once and every reload; only an empty setup is a warning here, not an error.
    loaded = load(path, strict=False)
    config, rules, problems = loaded.config, loaded.rules, loaded.warnings
    _print_problems(problems)
    warned = f", {len(problems)} warning(s)" if problems else ""
    print(
        f"{path}: ok — {len(config.sources)} source(s), {len(rules.rules)} rule(s) in "
        f"{len(rules.files)} file(s), {len(config.notifiers)} notifier(s), "
        f"store {mask_url(config.store.url)}{warned}"
    )
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    from monitor.init import run_init

    return run_init(Path(args.dir))


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    return run_demo(args.console)
