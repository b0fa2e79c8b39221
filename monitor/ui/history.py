"""The playground's "what would it have fired on": the pasted rules run over the article archive by
``monitor.backtest``, as ``newsmon rules test --since`` does."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.backtest import BacktestResult, backtest
from monitor.matching.rules import Rule
from monitor.store.console import DAY
from monitor.ui.daemon import Daemon, store_of

DAYS = ("1", "3", "7")
TIMEOUT = 30.0  # seconds a backtest may take before the page gives up on it
EXAMPLES = 5  # would-be alerts shown per rule


@dataclass(slots=True)
class History:
    days: int
    result: BacktestResult | None = None
    note: str = ""  # why there is no result


async def history(daemon: Daemon, rules: Sequence[Rule], days: str) -> History | None:
    """The backtest of ``rules`` over the last ``days`` days, or None when none was asked for."""
    if days not in DAYS:
        return None
    view = History(int(days))
    now = daemon.clock.time()
    try:
        async with asyncio.timeout(TIMEOUT):
            view.result = await backtest(
                store_of(daemon), rules, now - view.days * DAY, alerts=daemon.config.alerts, examples=EXAMPLES
            )
    except TimeoutError:
        view.note = f"looking back {days} days took over {TIMEOUT:.0f}s; try fewer days"
    return view
