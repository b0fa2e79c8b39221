"""Several `newsmon run` processes on one machine sharing one Redis: is every source polled once per
interval (none twice, none skipped), and what does a poll cost Redis?

    python benchmarks/scaleout.py [--sources 10000] [--instances 4] [--interval 30] [--intervals 10] [--quick]

A private redis-server, the simulator (own process, which logs when each site's listing is requested), and
``--instances`` daemons (``python -m monitor run``) on one config. After every source has been polled once
(the first round fetches, later ones are 304s), ``--intervals`` intervals are observed. For each source the
gaps between consecutive polls, from the last poll before the window to the last in it: a gap under half
an interval is a double poll, one over 1.5 intervals a skipped one (jitter is at most 10%). Redis's own
counters give commands and bytes per poll and memory per source; psutil gives the daemons' CPU per poll and
RSS, and the load average is sampled through the run (other work on the machine delays ticks too).
Progress goes to stderr: at 100,000 sources a run lasts about an hour.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import NO_MATCH_RULES, ROOT, SimProcess, emit, table, write_config
from redis_cost import _free_port, _info, _server_binary

from monitor import loop as event_loop

SAMPLE_EVERY = 10.0  # seconds between samples of RSS and load


def cpu_seconds(procs: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in procs)


async def redis_cpu(r: aioredis.Redis) -> float:
    cpu = await r.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def progress(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


class Watch:
    """Samples the daemons' RSS and the machine's load average while a phase runs."""

    def __init__(self, procs: list[psutil.Process]) -> None:
        self.procs = procs
        self.rss_peak_mb = [0.0] * len(procs)
        self.load: dict[str, list[float]] = {}  # phase -> 1-minute load averages sampled in it
        self.phase = "start-up"

    def sample(self) -> None:
        for i, p in enumerate(self.procs):
            self.rss_peak_mb[i] = max(self.rss_peak_mb[i], p.memory_info().rss / 1e6)
        self.load.setdefault(self.phase, []).append(os.getloadavg()[0])

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_EVERY)  # sampling, not synchronisation

    def rss_mb(self) -> list[float]:
        return [round(p.memory_info().rss / 1e6) for p in self.procs]

    def load_range(self, phase: str) -> list[float]:
        samples = self.load.get(phase) or [os.getloadavg()[0]]
        return [round(min(samples), 1), round(max(samples), 1)]


async def wait_all_polled(sim: SimProcess, sources: int, deadline: float) -> None:
    # Each answer lists every source's poll times: at 100,000 sources asking every 2 s would cost the
    # simulator (and the machine the daemons share) noticeably.
    every = max(2.0, sources / 5000)
    while True:
        polled = len(await sim.call("GET", "/_sim/polls"))
        progress(f"first round: {polled} of {sources} sources polled")
        if polled >= sources:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {polled} of {sources} sources polled before the deadline")
        await asyncio.sleep(every)  # a benchmark waiting for many processes: checked, bounded, not a test


def judge(polls: dict[str, list[float]], start: float, end: float, interval: float) -> dict[str, Any]:
    twice = skipped = 0
    doubles: list[int] = []  # seconds into the window of each double poll: start-up hand-overs or steady?
    counts: list[int] = []
    every: list[float] = []
    for times in polls.values():
        before = [t for t in times if t < start]
        inside = [t for t in times if start <= t < end]
        counts.append(len(inside))
        chain = before[-1:] + inside
        gaps = [b - a for a, b in itertools.pairwise(chain)]
        every.extend(gaps)
        twice += sum(g < 0.5 * interval for g in gaps)
        doubles += [round(b - start) for a, b in itertools.pairwise(chain) if b - a < 0.5 * interval]
        skipped += sum(g > 1.5 * interval for g in gaps)
        if chain and end - chain[-1] > 1.5 * interval:  # the window ended long after its last poll
            skipped += 1
    every.sort()
    # Gaps in intervals: tells a schedule that ran a little late (1.5-1.7) from one that missed a poll (2+).
    spread = (
        [round(every[int(q * (len(every) - 1))] / interval, 2) for q in (0.5, 0.99, 1.0)] if every else []
    )
    return {
        "twice": twice,
        "skipped": skipped,
        "min_polls": min(counts),
        "max_polls": max(counts),
        "gap_p50_p99_max": spread,
        "gaps_over_2": sum(g > 2 * interval for g in every),
        "gap_min": round(every[0] / interval, 2) if every else None,
        "doubles_at": sorted(doubles)[:20],
    }


async def bench(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    async with SimProcess(sites=args.sources, addresses=16, initial=1, listing=5) as sim:
        text = write_config(
            tmp,
            sim,
            range(args.sources),
            rules_text=NO_MATCH_RULES,  # `newsmon run` refuses a setup without rules or notifiers
            concurrency=16,
            interval=f"{args.interval:g}s",
            store_url=url,
        )
        config = tmp / "bench.toml"
        config.write_text(text, encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "monitor", "run", "-c", str(config)]
        r = aioredis.from_url(url, decode_responses=True)
        empty = (await _info(r))["memory"]
        logs = [tmp / f"instance-{i}.log" for i in range(args.instances)]
        procs = [
            subprocess.Popen(cmd, env=env, stderr=log.open("wb"))  # noqa: ASYNC220 - before measuring
            for log in logs
        ]
        watched = [psutil.Process(p.pid) for p in procs]
        watch = Watch(watched)
        sampler = asyncio.create_task(watch.run())
        began = time.monotonic()
        try:
            # The first round parses every listing once: several ms of CPU per source.
            await wait_all_polled(sim, args.sources, began + 300 + 3 * args.interval + args.sources / 50)
            first_round = time.monotonic() - began
            # One more interval: every source has sent its validators, the rest are 304s.
            watch.phase = "settle"
            progress(f"first round took {first_round:.0f} s; one interval more before measuring")
            await asyncio.sleep(args.interval)
            info0, cpu0, start = await _info(r), cpu_seconds(watched), time.time()
            sim0, redis0 = sim.cpu_seconds(), await redis_cpu(r)
            stats0 = await r.info("commandstats")
            watch.phase = "window"
            for i in range(args.intervals):
                await asyncio.sleep(args.interval)
                progress(f"interval {i + 1} of {args.intervals}; RSS MB {watch.rss_mb()}")
            info1, cpu1, end = await _info(r), cpu_seconds(watched), time.time()
            sim1, redis1 = sim.cpu_seconds(), await redis_cpu(r)
            stats1 = await r.info("commandstats")
            watch.sample()
            rss_end = watch.rss_mb()
            polls = await sim.call("GET", "/_sim/polls")
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("an instance exited during the run")
        except RuntimeError:
            for log in logs:  # what the daemons said, to tell a crash from a starved machine
                tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
                print(f"--- {log.name}", *tail, sep="\n", file=sys.stderr)
            raise
        finally:
            sampler.cancel()
            stopping = time.monotonic()
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    await asyncio.wait_for(asyncio.to_thread(p.wait), 120)
                except TimeoutError:
                    p.kill()
            # Leaving releases every lease an instance knows of: how long that takes at this size.
            progress(f"instances stopped {time.monotonic() - stopping:.0f} s after SIGTERM")
            await r.aclose()
    made = sum(1 for times in polls.values() for t in times if start <= t < end)
    traffic = info1["in"] + info1["out"] - info0["in"] - info0["out"]
    verdict = judge(polls, start, end, args.interval)
    # Redis counts the commands a script runs as well as the script call itself.
    calls = {
        k.removeprefix("cmdstat_"): v["calls"] - stats0.get(k, {}).get("calls", 0)
        for k, v in stats1.items()
        if k != "cmdstat_info"  # this script's own
    }
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:8]
    return {
        "bench": "scaleout",
        "ok": verdict["twice"] == 0 and verdict["skipped"] == 0,
        "sources": args.sources,
        "instances": args.instances,
        "interval_s": args.interval,
        "intervals": args.intervals,
        "polls": made,
        "expected_polls": args.sources * args.intervals,
        "polled_twice": verdict["twice"],
        "skipped": verdict["skipped"],
        "polls_per_source_min_max": [verdict["min_polls"], verdict["max_polls"]],
        "gap_intervals_p50_p99_max": verdict["gap_p50_p99_max"],
        "gaps_over_2_intervals": verdict["gaps_over_2"],
        "gap_min_intervals": verdict["gap_min"],  # a double: ~0 two instances at once, ~0.4 a late tick
        "doubles_at_s": verdict["doubles_at"],
        "redis_commands_per_poll": round((info1["commands"] - info0["commands"]) / max(1, made), 1),
        "redis_bytes_per_poll": round(traffic / max(1, made)),
        "redis_commands_per_poll_by_name": {name: round(n / max(1, made), 2) for name, n in top},
        "redis_memory_bytes_per_source": round((info1["memory"] - empty) / args.sources),
        "cpu_ms_per_poll": round(1000 * (cpu1 - cpu0) / max(1, made), 3),
        "simulator_cpu_ms_per_poll": round(1000 * (sim1 - sim0) / max(1, made), 3),
        "redis_cpu_ms_per_poll": round(1000 * (redis1 - redis0) / max(1, made), 3),
        "first_round_s": round(first_round),
        "rss_mb_per_instance_end": rss_end,
        "rss_mb_per_instance_peak": [round(m) for m in watch.rss_peak_mb],
        "load_first_round_min_max": watch.load_range("start-up"),
        "load_window_min_max": watch.load_range("window"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--intervals", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="50 sources, 2 instances, 1 interval of 4 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.sources, args.instances, args.interval, args.intervals = 50, 2, 4.0, 1
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="newsmon-scaleout-"))
    cmd = [_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        record = event_loop.run(bench(args, f"redis://127.0.0.1:{port}/0", workdir))
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    emit(record)
    table(
        [
            ("sources, instances", f"{record['sources']}, {record['instances']}"),
            ("intervals observed", f"{record['intervals']} x {record['interval_s']:g} s"),
            ("polls (expected)", f"{record['polls']} ({record['expected_polls']})"),
            ("polled twice / skipped (goal 0 / 0)", f"{record['polled_twice']} / {record['skipped']}"),
            ("polls per source min, max", record["polls_per_source_min_max"]),
            ("gap p50 / p99 / max, in intervals", record["gap_intervals_p50_p99_max"]),
            ("gaps over 2 intervals", record["gaps_over_2_intervals"]),
            ("shortest gap, in intervals", record["gap_min_intervals"]),
            ("double polls, seconds into the window", record["doubles_at_s"]),
            (
                "Redis commands, bytes per poll",
                f"{record['redis_commands_per_poll']}, {record['redis_bytes_per_poll']}",
            ),
            ("  by command (scripts' own included)", record["redis_commands_per_poll_by_name"]),
            ("Redis memory per source", f"{record['redis_memory_bytes_per_source']} B"),
            ("daemons' CPU ms per poll", record["cpu_ms_per_poll"]),
            (
                "simulator's, Redis's CPU ms per poll",
                f"{record['simulator_cpu_ms_per_poll']}, {record['redis_cpu_ms_per_poll']}",
            ),
            ("first round (every listing fetched once)", f"{record['first_round_s']} s"),
            ("RSS per instance at the end, MB", record["rss_mb_per_instance_end"]),
            ("RSS per instance at its peak, MB", record["rss_mb_per_instance_peak"]),
            (
                "load average: first round, window",
                f"{record['load_first_round_min_max']}, {record['load_window_min_max']}",
            ),
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
