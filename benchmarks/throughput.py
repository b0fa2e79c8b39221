"""End-to-end articles per second on one process, beside a hand-written baseline in the same run.

    python benchmarks/throughput.py [--articles 5000] [--rules 1000] [--baseline-articles 1000] [--quick]
                                    [--profile FILE] [--no-archive | --archive-cost]

newsmon: the real ``Service`` (SQLite store, webhook notifier) polls every source of a simulated news
world (``newssim.py`` in its own process, so its CPU is not counted); the sources cycle through feed,
front page and sitemap. A first poll marks what is there as seen; the simulator then publishes
``--articles`` new articles, and one poll of every source runs them through discover -> fetch ->
extract -> match ``--rules`` rules -> story -> claim -> outbox. Wall time and process CPU are measured
over that poll round; CPU is split by stage by wrapping the stage functions in this script (thread CPU
of the loop thread for parse/extract/match/fingerprint, thread CPU of the SQLite worker for the store;
the rest is HTTP, asyncio and glue). Delivering the claimed alerts to the webhook is timed after it.

baseline: what a competent engineer writes in an afternoon: aiohttp + feedparser for discovery,
trafilatura's main text (``fast``), every rule term in one pyahocorasick automaton and each rule a set
lookup over the terms found, a set for seen URLs and an SQLite table for alerts. It processes the first
``--baseline-articles`` new articles (whole sites).

fetch-only limit: aiohttp alone fetching the same listing and article pages (bodies read, not parsed),
in the same run: ``fetch_only_pages_per_s`` is the ceiling for any pipeline on this simulator and
client, ``fraction_of_fetch_limit`` is newsmon's share of it.

``--archive-cost``: newsmon alone, four poll rounds against one simulator with the article archive off,
on, off, on (each on a fresh store), and the ratio of articles/s and CPU per article with it on to off:
what archiving costs, measured so that load and warm-up fall on both sides.

Both are scored against the simulator's ground truth (precision/recall of (article, rule) matches).
Prints one JSON line (``articles_per_s``, ``baseline_articles_per_s``, ...) and a table.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import logging
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import feedparser
import trafilatura

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import (
    BaselineMatcher,
    RuleSpec,
    SimProcess,
    StageTimer,
    emit,
    expected,
    make_entities,
    make_rules,
    precision_recall,
    rss_mb,
    rules_yaml,
    source_kind,
    table,
    write_config,
)

from monitor import loop as event_loop
from monitor.config import ArchiveConfig, parse_config
from monitor.service import Service

PER_SITE = 20  # new articles per site; the simulator lists 30 per feed, so one poll sees them all
ROUNDS = 2  # --archive-cost: rounds with the archive off and on each, alternating
GOAL = 350.0


async def run_newsmon(
    sim: SimProcess,
    tmp: Path,
    sites: int,
    rules_text: str,
    articles: int,
    profile: str | None,
    archive: bool = True,
) -> dict[str, Any]:
    config = parse_config(
        write_config(tmp, sim, range(sites), rules_text=rules_text, concurrency=16), tmp / "bench.toml"
    )
    if not archive:
        config = dataclasses.replace(config, archive=ArchiveConfig(enabled=False))
    service = Service(config)
    timer = StageTimer()
    timer.install()
    await service.start()
    try:
        warm = await asyncio.gather(*(service.poll(s) for s in config.sources))
        errors = [e for r in warm for e in r.errors]
        if errors:
            raise RuntimeError(f"warm-up poll failed: {errors[:3]}")
        published = await sim.call("POST", "/_sim/publish", {"count": articles, "prerender": True})
        timer.reset()
        profiler = cProfile.Profile() if profile else None
        wall0, cpu0 = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        results = await asyncio.gather(*(service.poll(s) for s in config.sources))
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        stages = dict(timer.cpu)
        assert service.outbox is not None
        alerts = [a for r in results for a in r.alerts]
        d_wall0, d_cpu0 = time.perf_counter(), time.process_time()
        delivered = 0
        for _ in range(10_000):
            leased = await service.outbox.deliver_due()
            if not leased:
                break
            delivered += leased
        d_wall, d_cpu = time.perf_counter() - d_wall0, time.process_time() - d_cpu0
    finally:
        await service.stop()
        timer.uninstall()
    processed = sum(r.new_articles for r in results)
    urls = {a["url"] for a in published}
    found = {(a.url, a.rule_id) for a in alerts if a.url in urls}
    return {
        "processed": processed,
        "errors": sum(len(r.errors) for r in results),
        "wall": wall,
        "cpu": cpu,
        "stages": stages,
        "alerts": len(alerts),
        "found": found,
        "published": published,
        "delivered": delivered,
        "deliver_cpu_ms": 1000 * d_cpu / delivered if delivered else 0.0,
        "deliver_wall": d_wall,
        "rss_mb": rss_mb(),
    }


class Baseline:
    """The afternoon implementation: aiohttp, feedparser, trafilatura's main text, one Aho-Corasick
    automaton for the whole rule set (``BaselineMatcher``), a set for seen URLs, an SQLite alerts table."""

    def __init__(self, sim: SimProcess, tmp: Path, sites: int, rules: list[RuleSpec], limit: int) -> None:
        self.matcher = BaselineMatcher(rules)
        self.feeds = [sim.site_url(s, "feed") for s in range(sites)]
        self.limit = limit
        self.db = sqlite3.connect(tmp / "baseline.db", isolation_level=None)
        self.db.execute("CREATE TABLE alerts (url TEXT, rule TEXT, PRIMARY KEY (url, rule))")
        self.seen: set[str] = set()
        self.found: set[tuple[str, str]] = set()
        self.semaphore = asyncio.Semaphore(32)
        self.session: aiohttp.ClientSession | None = None

    async def links(self, feed: str) -> list[str]:
        assert self.session is not None
        async with self.semaphore, self.session.get(feed) as resp:
            parsed = feedparser.parse(await resp.read())
        return [e.link for e in parsed.entries]

    async def article(self, url: str) -> None:
        assert self.session is not None
        async with self.semaphore, self.session.get(url) as resp:
            page = await resp.text()
        doc = trafilatura.bare_extraction(page, url=url, fast=True, include_comments=False)
        text = f"{doc.title or ''}\n{doc.text or ''}" if doc is not None else ""
        for rule_id in self.matcher.matches(text):
            self.found.add((url, rule_id))
            self.db.execute("INSERT OR IGNORE INTO alerts VALUES (?, ?)", (url, rule_id))
        self.seen.add(url)

    async def warm_up(self) -> None:
        """Before publishing: what the feeds list now is old news."""
        self.session = aiohttp.ClientSession()
        for batch in await asyncio.gather(*(self.links(f) for f in self.feeds)):
            self.seen.update(batch)

    async def measure(self) -> dict[str, Any]:
        """Whole sites, in order, until ``limit`` new articles are covered."""
        wall0, cpu0 = time.perf_counter(), time.process_time()
        chosen: list[str] = []
        for feed in self.feeds:
            chosen += [u for u in await self.links(feed) if u not in self.seen]
            if len(chosen) >= self.limit:
                break
        await asyncio.gather(*(self.article(u) for u in chosen))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        return {
            "processed": len(chosen),
            "wall": wall,
            "cpu": cpu,
            "found": set(self.found),
            "urls": set(chosen),
        }

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        self.db.close()


async def fetch_only(sim: SimProcess, sites: int, urls: list[str]) -> dict[str, float]:
    """The ceiling: aiohttp fetching every listing and article page newsmon fetched, bodies read
    (and inflated) but not parsed, as many at once as newsmon's per-host limit allows in total."""
    pages = [sim.site_url(s, source_kind(s)) for s in range(sites)] + urls
    semaphore = asyncio.Semaphore(16 * 16)  # per_host_concurrency 16 on 16 loopback addresses
    async with aiohttp.ClientSession() as session:

        async def get(url: str) -> None:
            async with semaphore, session.get(url) as resp:
                await resp.read()

        wall0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(get(u) for u in pages))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"pages": len(pages), "articles": len(urls), "wall": wall, "cpu": cpu}


async def archive_cost(args: argparse.Namespace) -> dict[str, Any]:
    """newsmon alone, ``ROUNDS`` times with the archive off and on in turn against one simulator, each
    round on a store of its own: what archiving costs, with load and warm-up spread over both."""
    sites = max(1, -(-args.articles // PER_SITE))
    entities = make_entities(5000)
    rules_text = rules_yaml(make_rules(args.rules, entities), entities)
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="newsmon-throughput-") as name:
        async with SimProcess(sites=sites, addresses=16, initial=5, keep=60, listing=30) as sim:
            for i in range(2 * ROUNDS):
                archive = bool(i % 2)
                tmp = Path(name) / f"round{i}"
                tmp.mkdir()
                runs[archive].append(
                    await run_newsmon(sim, tmp, sites, rules_text, args.articles, None, archive=archive)
                )

    def figures(rounds: list[dict[str, Any]]) -> tuple[float, float]:
        processed = sum(r["processed"] for r in rounds)
        wall, cpu = sum(r["wall"] for r in rounds), sum(r["cpu"] for r in rounds)
        return processed / wall, 1000 * cpu / max(1, processed)

    (off_rate, off_cpu), (on_rate, on_cpu) = figures(runs[False]), figures(runs[True])
    return {
        "bench": "throughput-archive-cost",
        "articles": args.articles,
        "rules": args.rules,
        "rounds": ROUNDS,
        "articles_per_s": round(on_rate, 1),
        "no_archive_articles_per_s": round(off_rate, 1),
        "cpu_ms_per_article": round(on_cpu, 3),
        "no_archive_cpu_ms_per_article": round(off_cpu, 3),
        "archive_cpu_ms_per_article": round(on_cpu - off_cpu, 3),
        # Below 1: archiving slows the poll round by that share; the goal is at least 0.95.
        "archive_throughput_ratio": round(on_rate / off_rate, 3),
        "archive_cpu_ratio": round(on_cpu / off_cpu, 3),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    sites = max(1, -(-args.articles // PER_SITE))
    entities = make_entities(5000)
    rules = make_rules(args.rules, entities)
    rules_text = rules_yaml(rules, entities)
    with tempfile.TemporaryDirectory(prefix="newsmon-throughput-") as name:
        tmp = Path(name)
        async with SimProcess(sites=sites, addresses=16, initial=5, keep=60, listing=30) as sim:
            # The baseline's warm-up must see the same "old" articles, so it runs before publishing.
            baseline = Baseline(sim, tmp, sites, rules, args.baseline_articles)
            try:
                if args.baseline_articles > 0:
                    await baseline.warm_up()
                sim_cpu0 = sim.cpu_seconds()
                ours = await run_newsmon(
                    sim, tmp, sites, rules_text, args.articles, args.profile, archive=not args.no_archive
                )
                sim_cpu = sim.cpu_seconds() - sim_cpu0
                limit = await fetch_only(sim, sites, [a["url"] for a in ours["published"]])
                base = await baseline.measure() if args.baseline_articles > 0 else None
            finally:
                await baseline.close()
    truth_by_url = {a["url"]: {k.casefold() for k in a["keywords"]} for a in ours["published"]}

    def truth_for(urls: set[str]) -> set[tuple[str, str]]:
        return {(u, r.id) for u in urls for r in rules if expected(r, truth_by_url[u])}

    ours_p, ours_r = precision_recall(ours["found"], truth_for(set(truth_by_url)))
    record: dict[str, Any] = {
        "bench": "throughput",
        "articles": ours["processed"],
        "rules": len(rules),
        "sources": sites,
        "articles_per_s": round(ours["processed"] / ours["wall"], 1),
        "cpu_ms_per_article": round(1000 * ours["cpu"] / max(1, ours["processed"]), 3),
        "cpu_articles_per_s": round(ours["processed"] / ours["cpu"], 1) if ours["cpu"] else None,
        "stage_cpu_ms_per_article": {},
        "precision": ours_p,
        "recall": ours_r,
        "alerts": ours["alerts"],
        "errors": ours["errors"],
        "deliver_cpu_ms_per_alert": round(ours["deliver_cpu_ms"], 3),
        "simulator_cpu_s": round(sim_cpu, 2),
        "rss_mb": ours["rss_mb"],
        "goal_articles_per_s": GOAL,
        # Article pages per second with the listing fetches in the same time, so it reads beside
        # articles_per_s: the most any pipeline could do on this simulator and client.
        "fetch_only_pages_per_s": round(limit["articles"] / limit["wall"], 1),
        "fetch_only_cpu_ms_per_page": round(1000 * limit["cpu"] / limit["pages"], 3),
    }
    record["fraction_of_fetch_limit"] = round(record["articles_per_s"] / record["fetch_only_pages_per_s"], 3)
    n = max(1, ours["processed"])
    stages = ours["stages"]
    measured = sum(v for k, v in stages.items() if "." not in k)
    split = {k: round(1000 * v / n, 3) for k, v in sorted(stages.items())}
    split["http+asyncio+other"] = round(1000 * (ours["cpu"] - measured) / n, 3)
    record["stage_cpu_ms_per_article"] = split
    if base is not None:
        base_p, base_r = precision_recall(base["found"], truth_for(base["urls"]))
        record.update(
            {
                "baseline_articles": base["processed"],
                "baseline_articles_per_s": round(base["processed"] / base["wall"], 1),
                "baseline_cpu_ms_per_article": round(1000 * base["cpu"] / max(1, base["processed"]), 3),
                "baseline_precision": base_p,
                "baseline_recall": base_r,
            }
        )
        record["ratio"] = round(record["articles_per_s"] / record["baseline_articles_per_s"], 2)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--baseline-articles", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100 articles, 100 rules, 40 baseline")
    parser.add_argument("--profile", help="write a cProfile of the measured poll round to this file")
    parser.add_argument(
        "--no-archive",
        action="store_true",
        help="[archive] enabled = false (the cost of archiving, by difference)",
    )
    parser.add_argument(
        "--archive-cost",
        action="store_true",
        help="newsmon only, with the archive off and on in turn (2 rounds each): the ratio of the two",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.articles, args.rules, args.baseline_articles = 100, 100, 40
    logging.basicConfig(level=logging.ERROR)
    if args.archive_cost:
        cost = event_loop.run(archive_cost(args))
        emit(cost)
        table([(k, v) for k, v in cost.items() if k != "bench"])
        return 0
    record = event_loop.run(bench(args))  # the daemon's loop
    emit(record)
    rows: list[tuple[str, object]] = [
        ("articles, rules, sources", f"{record['articles']}, {record['rules']}, {record['sources']}"),
        ("newsmon articles/s (wall)", record["articles_per_s"]),
        ("newsmon CPU ms/article", record["cpu_ms_per_article"]),
        ("newsmon precision / recall", f"{record['precision']} / {record['recall']}"),
        ("fetch-only limit pages/s (wall)", record["fetch_only_pages_per_s"]),
        ("newsmon as a fraction of that limit", record["fraction_of_fetch_limit"]),
    ]
    rows += [(f"  {k}", v) for k, v in record["stage_cpu_ms_per_article"].items()]
    if "baseline_articles_per_s" in record:
        rows += [
            (
                "baseline articles/s (wall)",
                f"{record['baseline_articles_per_s']} ({record['baseline_articles']} art.)",
            ),
            ("baseline CPU ms/article", record["baseline_cpu_ms_per_article"]),
            ("baseline precision / recall", f"{record['baseline_precision']} / {record['baseline_recall']}"),
            ("ratio newsmon / baseline", record["ratio"]),
        ]
    rows += [("goal (articles/s, one core)", f"{GOAL:g}  (urlwatch: 129 pages/s, no extraction)")]
    table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
