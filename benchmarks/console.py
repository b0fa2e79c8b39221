"""Web console page times: server time per page with 10,000 sources and 100,000 stored alerts.

    python benchmarks/console.py [--sources 10000] [--alerts 100000] [--rules 300] [--repeat 15] [--quick]

A SQLite store is filled in bulk in the stores' own schema (alerts, two deliveries each, one in forty
dead; source states, one in twenty failing), the real ``Console`` is mounted on an aiohttp listener with
a real (paused) ``Scheduler`` holding every source, and each page is requested ``--repeat`` times over
loopback. A middleware times the handler: template rendering and store queries included, the network
not. Reported per page: median and p95 wall-clock ms, and median process CPU ms (the SQLite worker
thread included; on a shared machine CPU time is what load does not inflate). Target: <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import emit, table

from monitor.codec import dumps_alert
from monitor.config import parse_config
from monitor.crawl.http import HttpClient
from monitor.matching.rules import rules_from_text
from monitor.model import Alert, Hit, SystemClock
from monitor.scheduler import Scheduler
from monitor.store.sqlite import SqliteStore
from monitor.ui import Console

TARGET_MS = 50.0
SPAN = 30 * 86400.0  # alerts spread over the default retention
BODY = (
    "Ukraine used US-supplied ATACMS missiles against a depot in Russia's Kursk region, officials said on "
    "Tuesday. The strike was the deepest so far. "
)
SEED_TEXT = "Ukraine fires ATACMS into Kursk\n\n" + BODY * 40


def config_text(db: Path, sources: int, rules: Path) -> str:
    text = f'[store]\nurl = "sqlite://{db}"\n[rules]\npaths = ["{rules}"]\n'
    for i in range(sources):
        text += f'[[sources]]\nname = "site-{i:05d}"\nurl = "https://s{i % 500}.example.org/feed{i}.xml"\n'
    return text + '[service]\nmetrics = "127.0.0.1:0"\nui = true\n'


def rule_file(count: int) -> str:
    lines = ["rules:"]
    for i in range(count):
        lines += [f"  - id: rule-{i:04d}", f"    title: Topic {i}", f"    all: [ATACMS, topic{i}]"]
    return "\n".join(lines) + "\n"


def fill(db: Path, sources: int, alerts: int, rules: int, now: float) -> None:
    """Rows as ``claim`` and ``record_poll`` write them, in bulk."""
    rng = random.Random(7)
    hit = Hit("ATACMS", "atacms", "title", 14, 20, "Ukraine fires ATACMS into Kursk as the war goes on")
    alert_rows, delivery_rows = [], []
    for i in range(alerts):
        created = now - SPAN * (alerts - i) / alerts
        alert = Alert(
            id=f"{i:032x}",
            rule_id=f"rule-{rng.randrange(rules):04d}",
            rule_title="Topic",
            story_key=f"{i:016x}",
            url=f"https://s{i % 500}.example.org/news/{i}",
            title=f"Ukraine fires ATACMS into Kursk, report {i}",
            source=f"site-{rng.randrange(sources):05d}",
            published=datetime.fromtimestamp(created - 300, UTC),
            detected_at=datetime.fromtimestamp(created, UTC),
            hits=(hit, hit),
            also_seen_at=(f"https://mirror.example.net/{i}",),
        )
        alert_rows.append((alert.id, dumps_alert(alert), created))
        delivery_rows.append((alert.id, "hook", "dead" if i % 40 == 0 else "delivered", created))
        delivery_rows.append((alert.id, "mail", "delivered", created))
    source_rows = [
        (
            f"site-{i:05d}",
            now - 60,
            now - (60 if i % 20 else 7200),
            "HTTP 503" if i % 20 == 0 else None,
            rng.randrange(5000),
        )
        for i in range(sources)
    ]
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO alerts (id, body, created_at) VALUES (?, ?, ?)", alert_rows)
        conn.executemany(
            "INSERT INTO deliveries (alert_id, notifier, state, attempts, next_attempt_at, created_at) "
            "VALUES (?, ?, ?, 1, 0, ?)",
            [(a, n, s, c) for a, n, s, c in delivery_rows],
        )
        conn.executemany("INSERT INTO sources VALUES (?, ?, ?, ?, ?)", source_rows)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="newsmon-console-bench-") as tmp:
        root = Path(tmp)
        (root / "rules.yaml").write_text(rule_file(args.rules))
        db = root / "state.db"
        config = parse_config(config_text(db, args.sources, root / "rules.yaml"), root / "config.toml")
        clock = SystemClock()
        store = SqliteStore(str(db), retention=SPAN + 86400, clock=clock)
        await store.open()
        started = time.perf_counter()
        fill(db, args.sources, args.alerts, args.rules, clock.time())
        filled = time.perf_counter() - started

        async def idle(_: object) -> None:
            return None

        scheduler = Scheduler(idle)
        scheduler.start(config.sources)
        scheduler.pause()
        http = HttpClient(config.http)
        await http.open()
        daemon = SimpleNamespace(
            config=config,
            clock=clock,
            http=http,
            store=store,
            rules=rules_from_text((root / "rules.yaml").read_text(), str(root / "rules.yaml")),
            rule_problems=[],
            outbox=None,
            scheduler=scheduler,
            started_at=clock.time(),
        )
        timings: dict[str, list[tuple[float, float]]] = {}  # page -> (wall ms, CPU ms) per request
        current: list[str] = [""]

        @web.middleware
        async def timed(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            begun, cpu = time.perf_counter(), time.process_time()
            response = await handler(request)
            wall_ms, cpu_ms = (time.perf_counter() - begun) * 1000, (time.process_time() - cpu) * 1000
            timings.setdefault(current[0], []).append((wall_ms, cpu_ms))
            return response

        app = web.Application(middlewares=[timed])
        console = Console(daemon)  # type: ignore[arg-type]  # the attributes the console reads
        console.mount(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}/ui/"
        started = time.perf_counter()
        async with aiohttp.ClientSession() as client:
            async with client.get(base) as resp:  # the first question builds the console's indexes
                first = await resp.text()
            index_s = time.perf_counter() - started
            async with client.get(base + "playground") as resp:
                csrf = (await resp.text()).split('name="csrf" value="', 1)[1].split('"', 1)[0]
            older = first.split('href="/ui/?before=', 1)[1].split('"', 1)[0].replace("&amp;", "&")
            pages: dict[str, tuple[str, dict[str, str] | None]] = {
                "alerts": ("", None),
                "alerts page 2": (f"?before={older}", None),
                "alerts by rule": ("?rule=rule-0007", None),
                "alerts by source": ("?source=site-00042", None),
                "alerts dead": ("?state=dead", None),
                "alerts 24h": ("?since=24h", None),
                "sources": ("sources", None),
                "sources failing": ("sources?status=failing", None),
                "sources page 50": ("sources?offset=5000", None),
                "rules": ("rules", None),
                "rules page 3": ("rules?offset=200", None),
                "playground": ("playground", None),
                "playground text": (
                    "playground",
                    {"csrf": csrf, "rule": rule_file(3), "text": SEED_TEXT},
                ),
            }
            for name, (path, form) in pages.items():
                current[0] = name
                for _ in range(args.repeat):
                    request = client.post(base + path, data=form) if form else client.get(base + path)
                    async with request as resp:
                        assert resp.status == 200, (name, resp.status, (await resp.text())[:300])
                        await resp.read()
        await runner.cleanup()
        await http.close()
        scheduler.shutdown()
        await store.close()
    summary = {name: _figures(samples) for name, samples in timings.items() if name}
    return {"fill_s": filled, "index_s": index_s, "pages": summary}


def _figures(samples: list[tuple[float, float]]) -> tuple[float, float, float]:
    """(median wall ms, p95 wall ms, median CPU ms)."""
    wall = sorted(w for w, _ in samples)
    p95 = wall[max(0, round(0.95 * len(wall)) - 1)]
    return statistics.median(wall), p95, statistics.median(c for _, c in samples)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    args = parser.parse_args()
    if args.quick:
        args.sources, args.alerts, args.rules, args.repeat = 50, 300, 5, 2
    result = asyncio.run(measure(args))
    worst = max(p95 for _, p95, _ in result["pages"].values())
    worst_cpu = max(cpu for _, _, cpu in result["pages"].values())
    emit(
        {
            "benchmark": "console",
            "sources": args.sources,
            "alerts": args.alerts,
            "worst_p95_ms": round(worst, 1),
            "worst_cpu_ms": round(worst_cpu, 1),
            "target_ms": TARGET_MS,
            "pages": {
                k: {"median_ms": round(m, 1), "p95_ms": round(p, 1), "cpu_ms": round(c, 1)}
                for k, (m, p, c) in result["pages"].items()
            },
        }
    )
    print(
        f"\n{args.sources} sources, {args.alerts} alerts, {args.rules} rules; {args.repeat} requests per page"
    )
    print(f"  store filled in {result['fill_s']:.1f}s; console indexes built in {result['index_s']:.1f}s")
    rows = result["pages"].items()
    table([(k, f"median {m:6.1f} ms   p95 {p:6.1f} ms   CPU {c:6.1f} ms") for k, (m, p, c) in rows])
    print(f"  worst p95 {worst:.1f} ms, worst CPU median {worst_cpu:.1f} ms (target <= {TARGET_MS:.0f} ms)")
    print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
