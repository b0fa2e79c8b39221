"""Steady-state polling cost: many sources, every one answering 304 Not Modified, through the daemon.

    python benchmarks/polling.py [--sources 10000] [--rounds 3] [--interval AUTO] [--quick] [--profile FILE]

The real daemon (``Service.run()``: SQLite store, lease per source, the scheduler's dispatch) gets
``--sources`` sources on the simulator (feeds, front pages and sitemaps in turn, spread over 16 loopback
addresses), every one polled each ``--interval`` seconds (default: sized so polls arrive at ~300/s). The
first round fetches everything (200) and records validators; then ``--rounds`` rounds of conditional
GETs, all answered 304, are measured with process CPU (the simulator runs in its own process), so every
poll pays what a real one pays: the scheduler's dispatch, the lease, the poll, metrics and health.
Reported: start-up (config parsed to the first poll), CPU ms per poll, the CPU share of one core when
every source is polled each 5 minutes, and RSS. Targets: <= 0.5 ms per poll, <= 5% of a core at
10k/5 min; at 100k: start-up <= 30 s, RSS <= 1 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import NO_MATCH_RULES, SimProcess, emit, rss_mb, table, write_config

from monitor import loop as event_loop
from monitor.config import parse_config
from monitor.model import Source
from monitor.pipeline import PollResult
from monitor.service import Service

POLLS_PER_S = 300  # the default interval spreads the sources to about this many polls a second
REFERENCE_INTERVAL = 300.0  # the CPU share is reported for every source polled each 5 minutes


class Counter:
    """Wraps ``Service.poll`` (the scheduler's callback) to count polls and wake the harness."""

    def __init__(self, service: Service) -> None:
        self.inner = service.poll
        self.done = 0
        self.not_modified = 0
        self.failed = 0  # polls that reported an error: counted and shown, never fatal to the run
        self.errors: list[str] = []  # the first few, as examples
        self.polled: set[str] = set()
        self.first: float | None = None
        self.changed = asyncio.Event()

    async def __call__(self, source: Source) -> PollResult:
        if self.first is None:
            self.first = time.perf_counter()
        result = await self.inner(source)
        self.done += 1
        self.not_modified += result.not_modified
        if result.errors:
            self.failed += 1
            self.errors += result.errors[: max(0, 3 - len(self.errors))]
        self.polled.add(source.name)
        self.changed.set()
        return result

    async def wait_for(
        self, polls: int, deadline: float, daemon: asyncio.Task[None], *, sources: int = 0
    ) -> None:
        """Until ``polls`` polls (of at least ``sources`` sources) are made; raises what ended ``daemon``
        if it ends first, TimeoutError at ``deadline``."""
        while self.done < polls or len(self.polled) < sources:
            if daemon.done():
                daemon.result()
                raise RuntimeError("the daemon stopped before the polls were made")
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"{self.done} of {polls} polls made by the deadline")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(1.0, remaining))


class GcTime:
    """CPU time the cyclic garbage collector takes, from its start and stop callbacks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started

    def close(self) -> None:
        gc.callbacks.remove(self._callback)


class Peaks:
    """RSS and polls in flight, sampled each second over the whole run (the first round included)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.rss_mb = 0.0
        self.inflight = 0

    async def run(self) -> None:
        while True:
            self.rss_mb = max(self.rss_mb, rss_mb())
            parts = self.service._parts
            if parts is not None:
                self.inflight = max(self.inflight, len(parts.poller.inflight))
            await asyncio.sleep(1.0)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    n = args.sources
    with tempfile.TemporaryDirectory(prefix="newsmon-polling-") as name:
        tmp = Path(name)
        async with SimProcess(sites=n, addresses=16, initial=1, listing=5) as sim:
            text = write_config(
                tmp,
                sim,
                range(n),
                rules_text=NO_MATCH_RULES,
                notify=False,
                concurrency=16,
                interval=f"{args.interval:g}s",
            )
            t0 = time.perf_counter()
            config = parse_config(text, tmp / "bench.toml")
            service = Service(config)
            counter = Counter(service)
            service.poll = counter  # type: ignore[method-assign]  # the scheduler calls this attribute
            daemon = asyncio.create_task(service.run())
            peaks = Peaks(service)
            sampler = asyncio.create_task(peaks.run())
            try:
                limit = time.perf_counter() + 600 + 10 * args.interval
                await counter.wait_for(1, limit, daemon)
                assert counter.first is not None
                startup = counter.first - t0
                if args.startup_only:
                    return {
                        "bench": "polling",
                        "sources": n,
                        "startup_s": round(startup, 2),
                        "rss_mb": rss_mb(),
                    }
                await counter.wait_for(n, limit, daemon, sources=n)
                # A source polled twice before the last one was polled once has already sent its
                # validators: from here on every poll is a 304.
                first_round = time.perf_counter() - t0
                # CPU time of the loop thread (wall time would count the waits for other processes)
                profiler = cProfile.Profile(time.thread_time) if args.profile else None
                rounds: list[float] = []
                gc_time = GcTime()
                gc_ms = 0.0
                for _ in range(args.rounds):
                    before, cpu0, gc0 = counter.done, time.process_time(), gc_time.seconds
                    nm0, failed0 = counter.not_modified, counter.failed
                    if profiler:
                        profiler.enable()
                    await counter.wait_for(before + n, time.perf_counter() + 300 + 5 * args.interval, daemon)
                    if profiler:
                        profiler.disable()
                    polls = counter.done - before
                    if counter.not_modified - nm0 + counter.failed - failed0 < polls * 0.99:
                        raise RuntimeError(f"only {counter.not_modified - nm0} of {polls} polls were 304")
                    rounds.append(1000 * (time.process_time() - cpu0) / polls)
                    gc_ms += 1000 * (gc_time.seconds - gc0) / polls
                gc_time.close()
                if profiler:
                    profiler.dump_stats(args.profile)
                rss = rss_mb()
            finally:
                sampler.cancel()
                service.request_stop()
                await daemon
    cpu_ms = sorted(rounds)[len(rounds) // 2]
    share = n / REFERENCE_INTERVAL * cpu_ms / 1000 * 100
    return {
        "bench": "polling",
        "sources": n,
        "startup_s": round(startup, 2),
        "rss_mb": rss,
        "rss_mb_peak": max(rss, peaks.rss_mb),
        "inflight_peak": peaks.inflight,
        "cpu_ms_per_poll": round(cpu_ms, 3),
        "cpu_ms_per_poll_rounds": [round(r, 3) for r in rounds],
        "gc_ms_per_poll": round(gc_ms / len(rounds), 3),
        "first_round_s": round(first_round, 1),
        "interval_s": args.interval,
        "rounds": len(rounds),
        "cpu_share_pct_at_5min": round(share, 2),
        "poll_errors": counter.failed,
        "poll_error_examples": counter.errors,
        "goal_cpu_ms_per_poll": 0.5,
        "goal_startup_s": 30.0,
        "goal_rss_mb": 1000.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=float, help="seconds between polls of a source")
    parser.add_argument("--quick", action="store_true", help="300 sources, 1 round")
    parser.add_argument(
        "--startup-only", action="store_true", help="stop at the first poll: start-up and RSS then"
    )
    parser.add_argument("--profile", help="write a cProfile (loop thread CPU) of the measured rounds here")
    args = parser.parse_args(argv)
    if args.quick:
        args.sources, args.rounds = 300, 1
    if args.interval is None:
        args.interval = max(2.0, args.sources / POLLS_PER_S)
    logging.basicConfig(level=logging.ERROR)
    record = event_loop.run(bench(args))  # the daemon's loop
    emit(record)
    if args.startup_only:
        table(
            [
                ("start-up to first poll", f"{record['startup_s']} s  (goal <= 30 s)"),
                ("RSS", record["rss_mb"]),
            ]
        )
        return 0
    table(
        [
            ("sources, measured rounds", f"{record['sources']}, {record['rounds']}"),
            ("start-up to first poll", f"{record['startup_s']} s  (goal <= 30 s)"),
            ("first round (every source fetched)", f"{record['first_round_s']} s"),
            (
                "CPU ms per 304 poll (scheduler+lease)",
                f"{record['cpu_ms_per_poll']}  (goal <= 0.5; rounds {record['cpu_ms_per_poll_rounds']})",
            ),
            ("of which the garbage collector", f"{record['gc_ms_per_poll']} ms per poll"),
            ("CPU share of a core at 5 min", f"{record['cpu_share_pct_at_5min']}%"),
            ("RSS after the rounds, peak", f"{record['rss_mb']}, {record['rss_mb_peak']} MB  (goal <= 1000)"),
            ("polls in flight at most", record["inflight_peak"]),
            ("polls that failed (all rounds)", f"{record['poll_errors']}  {record['poll_error_examples']}"),
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
