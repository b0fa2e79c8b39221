"""Memory: RSS with many sources and rules loaded, and RSS growth over a run that publishes continuously.

    python benchmarks/memory.py [--sources 10000] [--rules 10000] [--minutes 10] [--interval 60]
                                [--rate 2] [--quick]

Runs the real daemon loop (``Service.run()``: scheduler, pipeline, SQLite store, outbox, webhook
notifier) against the simulator in its own process, which publishes ``--rate`` articles per second on
random sites for the whole run. RSS is sampled every ``--sample`` seconds. Reported: RSS once the rules
are compiled (``rss_loaded_mb``), RSS after every source has been polled once (``rss_mb``), and growth
after warm-up (``growth_mb``: the median of the last three samples minus the median of the first three
after warm-up; ``slope_mb_per_min``: least-squares slope over all post-warm-up samples). Warm-up ends
one interval after the first full round of polls, and no earlier than 30% into the run. Targets: RSS
<= 200 MB at 10k sources + 10k rules; flat after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import SimProcess, emit, make_entities, make_rules, rss_mb, rules_yaml, table, write_config

from monitor import loop as event_loop
from monitor.config import parse_config
from monitor.model import Source
from monitor.pipeline import Pipeline, PollResult
from monitor.service import Service


class Counter:
    """Counts polls and new articles by wrapping ``Pipeline.poll`` (in this script only)."""

    def __init__(self) -> None:
        self.polls = 0
        self.articles = 0
        self.alerts = 0
        self.errors = 0
        self.polled: set[str] = set()
        self._original = Pipeline.poll

        @functools.wraps(self._original)
        async def poll(pipeline: Pipeline, source: Source) -> PollResult:
            result = await self._original(pipeline, source)
            self.polls += 1
            self.articles += result.new_articles
            self.alerts += len(result.alerts)
            self.errors += bool(result.errors)
            self.polled.add(source.name)
            return result

        Pipeline.poll = poll  # type: ignore[method-assign]

    def uninstall(self) -> None:
        Pipeline.poll = self._original  # type: ignore[method-assign]


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares MB per minute."""
    if len(samples) < 2:
        return 0.0
    xs = [t / 60 for t, _ in samples]
    ys = [r for _, r in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    entities = make_entities(5000)
    rules_text = rules_yaml(make_rules(args.rules, entities), entities)
    counter = Counter()
    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="newsmon-memory-") as name:
        tmp = Path(name)
        sim_options = {"sites": args.sources, "addresses": 16, "initial": 3, "keep": 30, "listing": 20}
        async with SimProcess(**sim_options, rate=args.rate) as sim:
            text = write_config(
                tmp,
                sim,
                range(args.sources),
                rules_text=rules_text,
                interval=f"{args.interval}s",
                concurrency=16,
            )
            rss_before = rss_mb()
            service = Service(parse_config(text, tmp / "bench.toml"))
            start = time.monotonic()
            cpu0 = time.process_time()
            daemon = asyncio.create_task(service.run())
            rss_loaded = None
            rss_round = None
            round_done_at = None
            end = start + args.minutes * 60
            next_sample = start
            try:
                while time.monotonic() < end and not daemon.done():
                    await asyncio.sleep(0.1)
                    now = time.monotonic()
                    if rss_loaded is None and service.pipeline is not None:
                        rss_loaded = rss_mb()
                    if round_done_at is None and len(counter.polled) >= args.sources:
                        round_done_at, rss_round = now - start, rss_mb()
                    if now >= next_sample:
                        samples.append((now - start, rss_mb()))
                        next_sample += args.sample
                if daemon.done():
                    daemon.result()
            finally:
                service.request_stop()
                await asyncio.wait_for(daemon, timeout=120)
                counter.uninstall()
            cpu = time.process_time() - cpu0
            stats = await sim.call("GET", "/_sim/stats")
    elapsed = args.minutes * 60
    warm = max(elapsed * 0.3, (round_done_at or elapsed) + args.interval)
    after = [(t, r) for t, r in samples if t >= warm]
    growth = None
    if len(after) >= 2:
        head = statistics.median(r for _, r in after[:3])
        tail = statistics.median(r for _, r in after[-3:])
        growth = round(tail - head, 1)
    return {
        "bench": "memory",
        "sources": args.sources,
        "rules": args.rules,
        "minutes": args.minutes,
        "interval_s": args.interval,
        "rss_before_mb": rss_before,
        "rss_loaded_mb": rss_loaded,
        "rss_mb": rss_round,
        "first_round_s": round(round_done_at, 1) if round_done_at is not None else None,
        "warmup_s": round(warm, 1),
        "growth_mb": growth,
        "slope_mb_per_min": round(slope(after), 3),
        "rss_end_mb": samples[-1][1] if samples else None,
        "rss_peak_mb": max((r for _, r in samples), default=None),
        "samples_after_warmup": len(after),
        "polls": counter.polls,
        "articles": counter.articles,
        "alerts_claimed": counter.alerts,
        "polls_with_errors": counter.errors,
        "published": stats["published"],
        "webhooks_received": stats["hooks"],
        "cpu_share_pct": round(100 * cpu / elapsed, 1),
        "rss_samples": [[round(t), r] for t, r in samples],
        "goal_rss_mb": 200,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=60.0, help="poll interval per source, seconds")
    parser.add_argument("--rate", type=float, default=2.0, help="articles published per second")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--quick", action="store_true", help="200 sources, 200 rules, 6 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.sources, args.rules, args.minutes = 200, 200, 0.06
        args.interval, args.rate, args.sample = 1.0, 5.0, 0.5
    logging.basicConfig(level=logging.ERROR)
    record = event_loop.run(bench(args))  # the daemon's loop
    emit(record)
    table(
        [
            ("sources, rules", f"{record['sources']}, {record['rules']}"),
            (
                "run",
                f"{record['minutes']} min, interval {record['interval_s']} s, warm-up {record['warmup_s']} s",
            ),
            (
                "RSS: before / loaded / after 1st round",
                f"{record['rss_before_mb']} / {record['rss_loaded_mb']} / {record['rss_mb']} MB"
                "  (goal <= 200)",
            ),
            ("RSS growth after warm-up", f"{record['growth_mb']} MB ({record['slope_mb_per_min']} MB/min)"),
            ("RSS end / peak", f"{record['rss_end_mb']} / {record['rss_peak_mb']} MB"),
            (
                "polls, articles, alerts",
                f"{record['polls']}, {record['articles']}, {record['alerts_claimed']}",
            ),
            ("published / webhooks received", f"{record['published']} / {record['webhooks_received']}"),
            ("CPU share of a core", f"{record['cpu_share_pct']}%"),
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
