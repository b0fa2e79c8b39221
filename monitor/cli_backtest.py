"""``newsmon rules test --since 7d``: what rules would have sent over the archived articles (output only;
the work is ``monitor.backtest``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

from monitor.archive import ArchivedArticle
from monitor.backtest import BacktestMatch, BacktestResult, backtest
from monitor.cli.common import EXIT_NONE, EXIT_OK, EXIT_USAGE, _config
from monitor.cli.rules_test import _hit_json, _print_hits, _rules_to_test
from monitor.config import Config
from monitor.durations import parse_duration
from monitor.model import SystemClock
from monitor.store import open_configured
from monitor.store.base import Store

BAR_WIDTH = 30
HITS_SHOWN = 3  # per example alert in the text output; --json has them all
T = TypeVar("T")


def since_seconds(value: str, what: str) -> float | None:
    """``--since`` as seconds, or None after saying what is wrong."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        print(f"{what}: --since: {exc}", file=sys.stderr)
        return None
    if seconds <= 0:
        print(f"{what}: --since must be more than 0", file=sys.stderr)
        return None
    return seconds


async def with_archive(config: Config, action: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``action`` on the configured store; ``NoArchive`` when it keeps no article archive."""
    store = open_configured(config, SystemClock())
    await store.open()
    try:
        if not store.archiving and not (await store.archive_stats()).articles:
            raise NoArchive(
                f"{config.path}: the store keeps no article archive; set enabled = true under [archive]"
            )
        return await action(store)
    finally:
        await store.close()


class NoArchive(Exception):
    pass


def progress_bar(stream: TextIO) -> Callable[[float], None] | None:
    """A progress bar on ``stream`` when it is a terminal; None otherwise (pipes and logs stay clean)."""
    if not stream.isatty():
        return None

    def show(share: float) -> None:
        filled = round(share * BAR_WIDTH)
        stream.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:4.0%}")
        stream.flush()

    return show


def cmd_backtest(args: argparse.Namespace) -> int:
    if args.url or args.file is not None or args.stdin:
        print("rules test: --since runs over the archive; leave out --url, --file and -", file=sys.stderr)
        return EXIT_USAGE
    since = since_seconds(args.since, "rules test")
    if since is None:
        return EXIT_USAGE
    rules = _rules_to_test(args)
    config = _config(args)
    progress = progress_bar(sys.stderr)
    now = time.time()

    async def run(store: Store) -> BacktestResult:
        return await backtest(
            store,
            rules.rules,
            now - since,
            now,
            alerts=config.alerts,
            source=args.source,
            examples=args.examples,
            all_hits=args.json,
            progress=progress,
            workers=os.cpu_count() or 1,
        )

    try:
        result = asyncio.run(with_archive(config, run))
    except NoArchive as exc:
        print(f"rules test: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if progress is not None:
            sys.stderr.write("\r" + " " * (BAR_WIDTH + 6) + "\r")
    if args.json:
        for alert in result.alerts:
            print(json.dumps(alert_json(alert, result), ensure_ascii=False))
        print(json.dumps({"summary": summary_json(result)}, ensure_ascii=False))
    else:
        print_result(result)
    return EXIT_OK if result.alerts else EXIT_NONE


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def article_json(article: ArchivedArticle) -> dict[str, Any]:
    return {
        "title": article.title,
        "url": article.url,
        "published": article.published.isoformat() if article.published else None,
        "source": article.source,
        "detected_at": _when(article.detected_at),
    }


def alert_json(alert: BacktestMatch, result: BacktestResult) -> dict[str, Any]:
    """The ``rules test --json`` shape, for one would-be alert: its article and the rule that fired."""
    rule = result.rules[alert.rule_id].rule
    return {
        "article": {**article_json(alert.article), "story": alert.story_key},
        "matches": [{"rule": rule.id, "title": rule.title, "hits": [_hit_json(h) for h in alert.hits or ()]}],
    }


def summary_json(result: BacktestResult) -> dict[str, Any]:
    return {
        "since": _when(result.since),
        "until": _when(result.until),
        "articles": result.articles,
        "seconds": round(result.seconds, 3),
        "rules": [
            {
                "rule": report.rule.id,
                "title": report.rule.title,
                "alerts": report.alerts,
                "matched": report.matched,
                "per_day": dict(sorted(report.per_day.items())),
                "by_source": dict(report.by_source.most_common()),
            }
            for report in result.rules.values()
        ],
        "never_fired": result.never_fired,
    }


def print_result(result: BacktestResult) -> None:
    print(
        f"{result.articles} archived article(s) from {_when(result.since)} to {_when(result.until)}, "
        f"{len(result.rules)} rule(s), {result.seconds:.1f} s"
    )
    for report in result.rules.values():
        if not report.alerts:
            continue
        rule = report.rule
        counts = f"{report.alerts} alert(s) ({report.matched} matching article(s))"
        print(f"\n✔ {rule.id} — {rule.title}: {counts}")
        print("   per day: " + ", ".join(f"{day} {n}" for day, n in sorted(report.per_day.items())))
        print("   by source: " + ", ".join(f"{src} {n}" for src, n in report.by_source.most_common()))
        for alert in report.examples:
            article = alert.article
            print(f"   {_when(article.detected_at)}  {article.source}  {article.title} <{article.url}>")
            shown = (alert.hits or ())[:HITS_SHOWN]
            _print_hits(shown, [None] * len(shown), prefix="      ")
        if report.alerts > len(report.examples):
            print(f"   … and {report.alerts - len(report.examples)} more")
    if result.never_fired:
        print(f"\nnever fired: {', '.join(result.never_fired)}")
