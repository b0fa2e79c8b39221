"""Detection delay of fixed-interval polling against the adaptive planner, at the same request budget.

    python benchmarks/scheduling.py [--sites 300] [--days 4] [--warmup-days 1] [--interval 600]
                                    [--seeds 11,12,13] [--quick]

A discrete-event simulation in simulated time (no sockets: four days take seconds) of a heterogeneous
news world, seeded: ~5% of the sites publish every few minutes, ~75% a few times a day, ~20% a few
times a month-to-week; every site follows a day/night cycle in its own time zone, and breaking-news
events (a few a day) set off bursts on many sites at once. Both policies poll the same publications:

- fixed: every site every ``--interval`` seconds with the scheduler's jitter, random phase;
- adaptive: ``monitor.cadence`` exactly as the daemon runs it (``Rhythm`` per site learning from what
  each poll finds, ``Planner`` refreshed every 5 simulated minutes under the budget of the fixed
  intervals, a site's next poll pulled forward when a refresh shortens its gap).

Delay: first poll at or after publication minus publication time, over the articles published after
``--warmup-days`` (a running daemon has learned its sources; the store keeps what it learned across
restarts). Requests are counted over the same window. ``bound_violations``: adaptive gaps outside a
site's [min_interval, max_interval] that no site-requested floor (cache headers) explains.
Target: adaptive mean <= 0.5x fixed at equal requests, p95 no worse, no violations. The planner's
constants and changes were chosen on the development draws (seeds) 5, 6 and 7 (``--seeds 5,6,7``); the
default report pools the held-out draws 11, 12 and 13.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import emit, table

from monitor.cadence import DAY, HOUR, Bounds, Planner, Rhythm, default_bounds
from monitor.scheduler import JITTER_FRACTION, MAX_JITTER

REFRESH = 300.0  # simulated seconds between planner refreshes, as in the daemon
BREAKING_PER_DAY = 4.0
TUNED_ON = [5, 6, 7]  # the draws monitor.cadence's constants were chosen on
HELD_OUT = [11, 12, 13]  # the draws reported


@dataclass(slots=True)
class Site:
    name: str
    per_day: float
    tz: float  # hours from UTC
    swing: float  # day/night amplitude: rate x (1 + swing cos(...))
    joins: float  # chance to join a breaking-news burst
    burst: float  # mean extra articles when it joins
    published: list[float] = field(default_factory=list)


def make_sites(n: int, rng: random.Random) -> list[Site]:
    sites = []
    for i in range(n):
        u = rng.random()
        if u < 0.05:  # wires and big newsrooms: every 4-10 minutes in the day
            per_day, joins, burst = rng.uniform(150, 350), 0.8, 6.0
        elif u < 0.8:  # most sites: a few articles a day
            per_day, joins, burst = rng.uniform(2, 12), 0.2, 2.0
        else:  # blogs, agencies' weekly digests
            per_day, joins, burst = rng.uniform(0.1, 0.4), 0.02, 1.0
        tz = rng.choice((0.0, -5.0, 1.0, 8.0))
        sites.append(Site(f"s{i}", per_day, tz, rng.uniform(0.5, 0.9), joins, burst))
    return sites


def publish(sites: list[Site], days: float, rng: random.Random) -> None:
    """Poisson publications, thinned by each site's day/night curve, plus breaking-news bursts."""
    end = days * DAY
    for s in sites:
        peak = s.per_day / DAY * (1 + s.swing)
        t = rng.expovariate(peak)
        while t < end:
            local = (t / HOUR + s.tz) % 24
            if rng.random() < (1 + s.swing * math.cos(2 * math.pi * (local - 14) / 24)) / (1 + s.swing):
                s.published.append(t)
            t += rng.expovariate(peak)
    t = rng.expovariate(BREAKING_PER_DAY / DAY)
    while t < end:
        for s in sites:
            if rng.random() < s.joins:
                for _ in range(_poisson(rng, s.burst)):
                    when = t + rng.expovariate(1 / 1200)
                    if when < end:
                        s.published.append(when)
        t += rng.expovariate(BREAKING_PER_DAY / DAY)
    for s in sites:
        s.published.sort()


def _poisson(rng: random.Random, mean: float) -> int:
    k, p, limit = 0, 1.0, math.exp(-mean)
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def delays_of(site: Site, polls: list[float], start: float) -> list[float]:
    out = []
    for t in site.published:
        if t < start:
            continue
        i = bisect_left(polls, t)
        if i < len(polls):
            out.append(polls[i] - t)
    return out


def fixed(sites: list[Site], interval: float, days: float, rng: random.Random) -> dict[str, list[float]]:
    jitter = min(interval * JITTER_FRACTION, MAX_JITTER)
    polls: dict[str, list[float]] = {}
    for s in sites:
        t = rng.uniform(0, interval)
        times = []
        while t < days * DAY + interval:
            times.append(t + rng.uniform(-jitter, jitter))
            t += interval
        polls[s.name] = sorted(times)
    return polls


def adaptive(
    sites: list[Site], bounds: dict[str, Bounds], days: float, rng: random.Random
) -> tuple[dict[str, list[float]], int]:
    planner = Planner(bounds)
    rhythms = {s.name: Rhythm.new(0.0) for s in sites}
    by_name = {s.name: s for s in sites}
    polls: dict[str, list[float]] = {s.name: [] for s in sites}
    found_upto = dict.fromkeys(by_name, 0)  # index into published: articles already detected
    due: dict[str, float] = {}
    heap: list[tuple[float, str]] = []
    for s in sites:
        due[s.name] = rng.uniform(0, bounds[s.name].interval)
        heapq.heappush(heap, (due[s.name], s.name))
    violations = 0
    next_refresh = 0.0
    end = days * DAY + max(b.upper for b in bounds.values())
    while heap:
        t, name = heapq.heappop(heap)
        if t != due.get(name):
            continue  # superseded by a pull-forward
        while next_refresh <= t:
            planner.refresh(rhythms, next_refresh)
            for n, r in rhythms.items():  # a shorter gap now than planned: poll sooner
                last = polls[n][-1] if polls[n] else None
                if last is None:
                    continue
                sooner = r.allowed(last + planner.gap(n, r, next_refresh))
                if sooner < due[n] - 1:
                    due[n] = max(sooner, next_refresh)
                    heapq.heappush(heap, (due[n], n))
            next_refresh += REFRESH
        if t > end:
            break
        site, rhythm, b = by_name[name], rhythms[name], bounds[name]
        if polls[name]:
            gap = t - polls[name][-1]
            if not (b.lower - 1e-6 <= gap <= b.upper + 1e-6) and t > rhythm.not_before + 1e-6:
                violations += 1
        polls[name].append(t)
        planner.polled(name)
        upto = bisect_left(site.published, t, lo=found_upto[name])
        rhythm.observe(t, upto - found_upto[name])
        found_upto[name] = upto
        due[name] = rhythm.allowed(t + planner.gap(name, rhythm, t))
        heapq.heappush(heap, (due[name], name))
    return polls, violations


def measured(
    sites: list[Site], polls: dict[str, list[float]], start: float, end: float
) -> tuple[list[float], int]:
    """(delays of the articles published after ``start``, requests made in [start, end))."""
    delays = [d for s in sites for d in delays_of(s, polls[s.name], start)]
    return delays, sum(1 for times in polls.values() for t in times if start <= t < end)


def summarise(delays: list[float], requests: int) -> dict[str, float]:
    delays = sorted(delays)
    return {
        "mean": statistics.fmean(delays),
        "p50": delays[len(delays) // 2],
        "p95": delays[int(0.95 * (len(delays) - 1))],
        "requests": requests,
        "articles": len(delays),
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Every seed is its own draw of sites and publications; the figures pool their articles."""
    start, end = args.warmup_days * DAY, args.days * DAY
    pooled: dict[str, tuple[list[float], int]] = {"fixed": ([], 0), "adaptive": ([], 0), "learning": ([], 0)}
    violations = 0
    for seed in args.seeds:
        rng = random.Random(seed)
        sites = make_sites(args.sites, rng)
        publish(sites, args.days, rng)
        bounds = {s.name: default_bounds(args.interval) for s in sites}
        polls, broken = adaptive(sites, bounds, args.days, rng)
        violations += broken
        runs = {
            "fixed": measured(sites, fixed(sites, args.interval, args.days, rng), start, end),
            "adaptive": measured(sites, polls, start, end),
            "learning": measured(sites, polls, 0.0, start) if start > 0 else ([], 0),
        }
        for key, (delays, requests) in runs.items():
            pooled[key][0].extend(delays)
            pooled[key] = (pooled[key][0], pooled[key][1] + requests)
    fix, ada = summarise(*pooled["fixed"]), summarise(*pooled["adaptive"])
    first_day = summarise(*pooled["learning"]) if start > 0 else ada
    hours = (end - start) / HOUR * len(args.seeds)
    return {
        "bench": "scheduling",
        "fixed_mean_delay_s": round(fix["mean"], 1),
        "fixed_p95_delay_s": round(fix["p95"], 1),
        "fixed_requests": fix["requests"],
        "adaptive_mean_delay_s": round(ada["mean"], 1),
        "adaptive_p95_delay_s": round(ada["p95"], 1),
        "adaptive_requests": ada["requests"],
        "bound_violations": violations,
        "fixed_p50_delay_s": round(fix["p50"], 1),
        "adaptive_p50_delay_s": round(ada["p50"], 1),
        "fixed_requests_per_hour": round(fix["requests"] / hours, 1),
        "adaptive_requests_per_hour": round(ada["requests"] / hours, 1),
        "mean_ratio": round(ada["mean"] / fix["mean"], 3),
        "p95_ratio": round(ada["p95"] / fix["p95"], 3),
        "requests_ratio": round(ada["requests"] / fix["requests"], 3),
        "adaptive_learning_day_mean_delay_s": round(first_day["mean"], 1),
        "articles": fix["articles"],
        "sites": args.sites,
        "seeds": args.seeds,
        "simulated_days": args.days,
        "warmup_days": args.warmup_days,
        "interval_s": args.interval,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=300)
    parser.add_argument("--days", type=float, default=4.0, help="simulated days in all")
    parser.add_argument("--warmup-days", type=float, default=1.0, help="learning time, not measured")
    parser.add_argument("--interval", type=float, default=600.0, help="the configured interval (s)")
    parser.add_argument(
        "--seeds",
        type=lambda text: [int(x) for x in text.split(",")],
        default=HELD_OUT,
        help=f"draws of sites and publications, comma-separated (default {','.join(map(str, HELD_OUT))}: "
        f"held out; the model was tuned on {','.join(map(str, TUNED_ON))})",
    )
    parser.add_argument("--quick", action="store_true", help="60 sites, 1.5 days, one draw")
    args = parser.parse_args(argv)
    if args.quick:
        args.sites, args.days, args.warmup_days, args.seeds = 60, 1.5, 0.5, HELD_OUT[:1]
    record = bench(args)
    emit(record)
    table(
        [
            ("draws (seeds), sites each", f"{record['seeds']}, {record['sites']}"),
            ("articles measured", record["articles"]),
            ("simulated days (learning)", f"{record['simulated_days']} ({record['warmup_days']})"),
            (
                "fixed mean / p50 / p95 delay s",
                f"{record['fixed_mean_delay_s']} / {record['fixed_p50_delay_s']} / "
                f"{record['fixed_p95_delay_s']}",
            ),
            (
                "adaptive mean / p50 / p95 delay s",
                f"{record['adaptive_mean_delay_s']} / {record['adaptive_p50_delay_s']} / "
                f"{record['adaptive_p95_delay_s']}",
            ),
            (
                "requests/hour fixed / adaptive",
                f"{record['fixed_requests_per_hour']} / {record['adaptive_requests_per_hour']}",
            ),
            ("mean ratio (goal <= 0.5)", record["mean_ratio"]),
            ("p95 ratio (goal <= 1)", record["p95_ratio"]),
            ("bound violations (goal 0)", record["bound_violations"]),
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
