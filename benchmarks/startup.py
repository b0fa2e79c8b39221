"""What a `newsmon once` from cron or a systemd timer costs: start-up included, beside in-process.

    python benchmarks/startup.py [--sites 50] [--articles 20] [--rules 100] [--repeat 3] [--first-runs 3]
                                 [--quick]

A simulator (own process) serves ``--sites`` sites with ``--articles`` articles each. Three measures, in
one run:

- first run: ``python -m monitor once`` on a fresh store with ``first_run = "alert"``, so every listed
  article is fetched, extracted and matched: ``once_pages_per_s`` (listing + article pages / wall time of
  the whole process, start-up included);
- the same first run on another fresh store through ``Service.once()`` inside this process, whose imports
  are already paid: ``inprocess_pages_per_s``. ``--first-runs`` pairs of the two, each pair back to back;
  both rates are of the median wall times;
- unchanged runs: ``python -m monitor once`` again on the first store, every source answering 304:
  ``once_cpu_s`` (user + system CPU of the child, median of ``--repeat`` runs). ``python_cpu_s`` is
  ``python -c pass`` measured the same way: the floor no Python program gets under.

The children run from byte-compiled modules, as an installed newsmon does (pip compiles a wheel's modules
when it installs them): their bytecode goes to a cache in the temporary folder (``PYTHONPYCACHEPREFIX``),
written by a throwaway dry run before anything is measured, even where ``PYTHONDONTWRITEBYTECODE`` is set.
``once_cpu_s_uncached`` is the unchanged run again with newsmon's modules compiled from source at every
start, as earlier versions of this script measured it.

Targets: ``once_cpu_s`` <= 0.3 s; ``once_pages_per_s`` within 20% of ``inprocess_pages_per_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import ROOT, SimProcess, emit, make_entities, make_rules, rules_yaml, table, write_config

from monitor import loop as event_loop
from monitor.config import parse_config
from monitor.service import Service

GOAL_ONCE_CPU_S = 0.3


def child_env(bytecode: Path | None) -> dict[str, str]:
    """The children's environment: newsmon from this tree, its bytecode cached under ``bytecode`` (None:
    compiled from source at every start)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if bytecode is None:
        return {**env, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(bytecode)}


def child_cpu(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(user + system CPU seconds, wall seconds, stdout) of one child process run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{args} exited {done.returncode}: {done.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return cpu, wall, done.stdout


def store_dir(root: Path, name: str, sim: SimProcess, sites: int, rules: str) -> Path:
    tmp = root / name
    tmp.mkdir()
    text = write_config(tmp, sim, range(sites), rules_text=rules, concurrency=16, first_run="alert")
    (tmp / "newsmon.toml").write_text(text, encoding="utf-8")
    return tmp / "newsmon.toml"


async def inprocess(path: Path, text: str) -> tuple[float, int]:
    config = parse_config(text, path)
    wall0 = time.perf_counter()
    results = await Service(config).once()
    wall = time.perf_counter() - wall0
    if any(r.errors for r in results):
        raise RuntimeError(f"in-process run failed: {[e for r in results for e in r.errors][:3]}")
    return wall, sum(r.new_articles for r in results)


def bench(args: argparse.Namespace) -> dict[str, Any]:
    entities = make_entities(2000)
    rules = rules_yaml(make_rules(args.rules, entities), entities)
    once = [sys.executable, "-m", "monitor", "once", "--config"]
    with tempfile.TemporaryDirectory(prefix="newsmon-startup-") as name:
        root = Path(name)
        cached = child_env(root / "bytecode")

        async def run() -> dict[str, Any]:
            async with SimProcess(
                sites=args.sites, addresses=16, initial=args.articles, listing=args.articles
            ) as sim:
                # The simulator renders and compresses a page on its first request: a throwaway run
                # first, so neither measured run pays for that.
                warm = store_dir(root, "warm", sim, args.sites, rules)
                # A dry run records nothing: its first run compiles every module a first run imports
                # into the cache; the run in process after it imports them here.
                await asyncio.to_thread(child_cpu, [*once, str(warm), "--dry-run"], cached)
                await inprocess(warm, warm.read_text(encoding="utf-8"))
                # First runs in pairs (a child, then in process, each on a fresh store): one pair's
                # ratio moves with whatever else the machine does in those seconds.
                firsts, in_walls = [], []
                for i in range(args.first_runs):
                    cron = store_dir(root, f"cron{i}", sim, args.sites, rules)
                    firsts.append(await asyncio.to_thread(child_cpu, [*once, str(cron)], cached))
                    if "error" in firsts[-1][2]:
                        raise RuntimeError(f"first run reported errors:\n{firsts[-1][2][-2000:]}")
                    local = store_dir(root, f"local{i}", sim, args.sites, rules)
                    in_wall, articles = await inprocess(local, local.read_text(encoding="utf-8"))
                    in_walls.append(in_wall)
                cron = root / "cron0" / "newsmon.toml"

                async def runs(args_: list[str], env: dict[str, str]) -> list[tuple[float, float, str]]:
                    return [await asyncio.to_thread(child_cpu, args_, env) for _ in range(args.repeat)]

                unchanged = await runs([*once, str(cron)], cached)
                uncached = await runs([*once, str(cron)], child_env(None))
                if any(out.count("not modified") != args.sites for _, _, out in unchanged + uncached):
                    raise RuntimeError("an unchanged run fetched something: the simulator published?")
                floor = await runs([sys.executable, "-c", "pass"], cached)
                return {
                    "first": [(c, w) for c, w, _ in firsts],
                    "inprocess": in_walls,
                    "articles": articles,
                    "unchanged": [c for c, _, _ in unchanged],
                    "uncached": [c for c, _, _ in uncached],
                    "floor": [c for c, _, _ in floor],
                }

        m = event_loop.run(run())
    pages = args.sites + m["articles"]
    once_walls = [w for _, w in m["first"]]
    once_rate = pages / statistics.median(once_walls)
    in_rate = pages / statistics.median(m["inprocess"])
    return {
        "bench": "startup",
        "once_cpu_s": round(statistics.median(m["unchanged"]), 3),
        "once_pages_per_s": round(once_rate, 1),
        "inprocess_pages_per_s": round(in_rate, 1),
        "once_over_inprocess": round(once_rate / in_rate, 3),
        "once_over_inprocess_runs": [
            round(i / o, 3) for o, i in zip(once_walls, m["inprocess"], strict=True)
        ],
        "once_cpu_s_runs": [round(c, 3) for c in m["unchanged"]],
        "once_cpu_s_uncached": round(statistics.median(m["uncached"]), 3),
        "first_run_cpu_s": round(statistics.median(c for c, _ in m["first"]), 3),
        "python_cpu_s": round(statistics.median(m["floor"]), 3),
        "sources": args.sites,
        "pages": pages,
        "goal_once_cpu_s": GOAL_ONCE_CPU_S,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--articles", type=int, default=20, help="articles per site on the first run")
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="unchanged runs measured")
    parser.add_argument("--first-runs", type=int, default=3, help="first runs measured, each way")
    parser.add_argument("--quick", action="store_true", help="5 sites, 3 articles, 1 run of each")
    args = parser.parse_args(argv)
    if args.quick:
        args.sites, args.articles, args.repeat, args.first_runs = 5, 3, 1, 1
    logging.basicConfig(level=logging.ERROR)
    record = bench(args)
    emit(record)
    table(
        [
            ("sources, pages on the first run", f"{record['sources']}, {record['pages']}"),
            ("`newsmon once`, all 304: CPU s", f"{record['once_cpu_s']}  (goal <= {GOAL_ONCE_CPU_S})"),
            ("  `python -c pass`: CPU s", record["python_cpu_s"]),
            ("  newsmon compiled from source: CPU s", record["once_cpu_s_uncached"]),
            ("first run pages/s, `newsmon once`", record["once_pages_per_s"]),
            ("first run pages/s, in process", record["inprocess_pages_per_s"]),
            ("ratio (goal >= 0.8)", record["once_over_inprocess"]),
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
