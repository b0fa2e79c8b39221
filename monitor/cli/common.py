"""What every command shares: exit codes, loading the config, problem output, the subcommand parser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.config import Config, find_config, load_config
from monitor.config_tables import did_you_mean
from monitor.errors import Problem

# The contract scripts and timers rely on; EXIT_CODES is printed by --help.
EXIT_OK, EXIT_NONE, EXIT_USAGE, EXIT_PARTIAL, EXIT_FAILED = 0, 1, 2, 3, 4


EXIT_CODES = """exit codes:
  0  ok
  1  nothing found (no rule matched, no alert listed) or a check failed (unhealthy daemon)
  2  usage or input error: a bad config or rule file (every problem printed as path:line:col: message)
  3  partly failed: some sources could not be polled, or some alerts are not delivered yet
  4  failed: no source could be polled"""


DESCRIPTION = "newsmon watches news sites, feeds and sitemaps, matches your rules and alerts once per story."


def _print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)


def _config(args: argparse.Namespace) -> Config:
    return load_config(find_config(args.config))


def _loaded(args: argparse.Namespace) -> Any:
    """Config and rules with every check of ``newsmon check``; any error exits 2 before anything starts."""
    from monitor.validate import load

    return load(find_config(args.config), strict=True)


# -- alerts / status / notify test ---------------------------------------------------------------------
async def _with_store(config: Config, action: Any) -> Any:
    from monitor.model import SystemClock
    from monitor.store import open_configured

    store = open_configured(config, SystemClock())
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()


# -- parser -----------------------------------------------------------------------------------------------
def _at_least_one(value: str) -> int:
    """``--limit N``: a limit of 0 or less used to list a row anyway."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {value!r}")
    return number


def _command(sub: Any, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand whose one-line ``text`` shows both in ``newsmon --help`` and in its own ``--help``."""
    return sub.add_parser(  # type: ignore[no-any-return]
        name,
        help=text,
        description=text,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _when(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None


def _refuse_unknown(command: str, kind: str, given: Sequence[str], names: Sequence[str]) -> bool:
    """Say which of ``given`` are not among the configured ``names`` (with the closest one); whether any."""
    unknown = [name for name in given if name not in names]
    for name in unknown:
        print(f"{command}: unknown {kind} {name!r}{did_you_mean(name, names)}", file=sys.stderr)
    return bool(unknown)
