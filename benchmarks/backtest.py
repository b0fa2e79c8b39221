"""Backtest speed and archive size: rules over an SQLite article archive of real-looking articles.

    python benchmarks/backtest.py [--articles 100000] [--rules 10] [--workers N] [--db PATH] [--quick]

Fills a fresh SQLite store's archive through ``Store.mark_seen`` (what the pipeline calls), in batches
of 50 as a poll writes them, with ``--articles`` articles spread over the last 7 days, each ~5 KB of
real sentences drawn at random from the corpus bodies (``../shared/corpus/articles``), so every article
is a story of its own; without the corpus, the simulator's filler words. Rules are drawn from the
corpus's own names, each in one or two of its sentences, as ``any`` of one, ``all`` of two and ``any``
of three. Then ``monitor.backtest.backtest`` runs the rules over the whole window, as ``newsmon rules test
--since 7d`` does: in ``--workers`` processes (default: one per core, as the command does), or in this
one with ``--workers 1``. ``cpu_seconds`` counts this process and its workers. ``command_seconds``
is the whole ``newsmon rules test --since 8d`` over the same archive and rules, run afterwards: what a
user waits for, start-up and report included.

Size: drawn sentences repeat across articles, which compression would find, so the size figure comes
from articles whose text is their own: half the corpus bodies as they are, archived after articles
drawn from the other half have trained the store's dictionary. ``bytes_per_article`` is the database
file's growth per such article (packed records, index rows, page slack), beside
``text_bytes_per_article``, the UTF-8 size of the title, summary and body it holds;
``fill_bytes_per_article`` is the same for the drawn articles, for what it is worth.

Prints one JSON line first: ``{"articles": N, "rules": R, "seconds": s, "bytes_per_article": b, ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import FILLER

from monitor.archive import TRAIN_SAMPLES, ArchivedArticle
from monitor.backtest import backtest
from monitor.matching.rules import Rule, rules_from_text
from monitor.store.sqlite import SqliteStore

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "articles"
DAY = 86400.0
WINDOW = 7 * DAY
BATCH = 50  # the pipeline's SEEN_BATCH
SEED = 19
BODY_CHARS = 5000


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


def corpus_bodies() -> list[tuple[str, str]]:
    bodies = []
    for path in sorted(CORPUS.glob("*/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("body_text"):
            bodies.append((data.get("title") or "", data["body_text"]))
    return bodies


def filler_bodies(rng: random.Random) -> list[tuple[str, str]]:
    def text(words: int) -> str:
        return " ".join(rng.choice(FILLER) for _ in range(words))

    return [(text(8).capitalize(), ". ".join(text(15) for _ in range(50)) + ".") for _ in range(200)]


def record(n: int, title: str, body: str, at: float) -> ArchivedArticle:
    return ArchivedArticle(
        url=f"https://news{n % 50}.example/{n}",
        source=f"source-{n % 50}",
        title=title,
        body=body,
        summary=body[:200],
        language="en",
        fetched_url=f"https://news{n % 50}.example/{n}",
        detected_at=at,
    )


def split_sentences(body: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", body) if len(s) > 20]


def make_articles(
    count: int, bodies: list[tuple[str, str]], now: float, rng: random.Random
) -> list[ArchivedArticle]:
    """Real sentences drawn from every body, ~``BODY_CHARS`` per article: each article its own story."""
    sentences = [s for _, body in bodies for s in split_sentences(body)]
    articles = []
    for n in range(count):
        picked: list[str] = []
        while sum(map(len, picked)) < BODY_CHARS:
            picked.append(rng.choice(sentences))
        body = " ".join(picked)
        articles.append(record(n, rng.choice(bodies)[0], body, now - WINDOW + WINDOW * n / count))
    return articles


def make_rules(count: int, bodies: list[tuple[str, str]], rng: random.Random) -> list[Rule]:
    """``rules_text``'s rules."""
    return list(rules_from_text(rules_text(count, bodies, rng)).rules)


def rules_text(count: int, bodies: list[tuple[str, str]], rng: random.Random) -> str:
    """Names that occur in one or two sentences of all the bodies, as ``any`` of one, ``all`` of two
    and ``any`` of three: each fires on around 1% of the drawn articles."""
    name = re.compile(r"\b[A-Z][a-z]{3,}(?: [A-Z][a-z]{3,})?\b")
    found: Counter[str] = Counter()
    for _, body in bodies:
        for sentence in split_sentences(body):
            found.update(set(name.findall(sentence)))
    names = sorted(n for n, k in found.items() if k <= 2) or sorted(found)[:50]
    rules = []
    for i in range(count):
        shape = ("any: [{}]", "all: [{}, {}]", "any: [{}, {}, {}]")[i % 3]
        terms = [json.dumps(t) for t in rng.sample(names, 3)]
        rules.append(f"  - id: rule-{i}\n    {shape.format(*terms[: shape.count('{}')])}\n")
    return "rules:\n" + "".join(rules)


async def unique_bytes(
    path: Path, bodies: list[tuple[str, str]], now: float, rng: random.Random
) -> tuple[float, float]:
    """Database growth and text per article, for articles that each hold text of their own: the
    held-out half of the bodies as they are, after articles drawn from the other half have trained the
    store's dictionary."""
    store = SqliteStore(str(path), retention=30 * DAY, clock=Clock())
    dev, held_out = bodies[::2], bodies[1::2]
    await fill(store, make_articles(2 * TRAIN_SAMPLES, dev, now, rng))
    before = await database_bytes(store)
    articles = [record(len(dev) + n, t, b, now) for n, (t, b) in enumerate(held_out)]
    await fill(store, articles)
    grown = await database_bytes(store) - before
    await store.close()
    text = sum(len(f"{a.title}{a.summary}{a.body}".encode()) for a in articles)
    return grown / len(articles), text / len(articles)


async def database_bytes(store: SqliteStore) -> int:
    """Bytes of the database's pages in use, after a checkpoint has moved the WAL into them."""

    def measure(conn: sqlite3.Connection) -> int:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = (
            conn.execute("PRAGMA page_count").fetchone()[0]
            - conn.execute("PRAGMA freelist_count").fetchone()[0]
        )
        return int(pages * conn.execute("PRAGMA page_size").fetchone()[0])

    return await store._run(measure)


async def fill(store: SqliteStore, articles: list[ArchivedArticle]) -> float:
    started = time.process_time()
    for i in range(0, len(articles), BATCH):
        batch = articles[i : i + BATCH]
        await store.mark_seen({}, batch)  # what the archive adds, without the seen-marks beside it
    return time.process_time() - started


def command_seconds(database: Path, rules: str, folder: Path) -> float:
    """Wall time of ``newsmon rules test --since 8d`` over the archive, the whole command: what a user
    waits for (start-up, reading the rules and the config, the backtest, the report)."""
    (folder / "rules.yaml").write_text(rules)
    config = folder / "config.toml"
    config.write_text(
        f'[store]\nurl = "sqlite://{database}"\n[rules]\npaths = ["rules.yaml"]\n'
        '[[sources]]\nname = "source-0"\nkind = "feed"\nurl = "https://news0.example/feed.xml"\n'
    )
    command = [sys.executable, "-m", "monitor", "rules", "test", "-c", str(config), "--since", "8d"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: nothing matched
        raise SystemExit(f"rules test failed ({done.returncode}): {done.stderr.strip()}")
    return seconds


def children_cpu() -> float:
    """CPU seconds of the worker processes that have ended (a backtest's pool ends with it)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(SEED)
    corpus = corpus_bodies()
    bodies = corpus or filler_bodies(rng)
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        unique = Path(tmp) / "unique.db"
        per_article, text_per_article = await unique_bytes(unique, bodies, clock.now, rng)
        path = Path(args.db) if args.db else Path(tmp) / "archive.db"
        store = SqliteStore(str(path), retention=30 * DAY, clock=clock)
        articles = make_articles(args.articles, bodies, clock.now, rng)
        fill_cpu = await fill(store, articles)
        del articles
        fill_size = await database_bytes(store)
        text = rules_text(args.rules, bodies, rng)
        rules = list(rules_from_text(text).rules)
        cpu = time.process_time() + children_cpu()
        result = await backtest(store, rules, clock.now - WINDOW - 1, clock.now + 1, workers=args.workers)
        cpu = time.process_time() + children_cpu() - cpu
        await store.close()
        command = command_seconds(path, text, Path(tmp))
    return {
        "articles": result.articles,
        "rules": len(rules),
        "seconds": round(result.seconds, 2),
        "cpu_seconds": round(cpu, 2),  # CPU time of every thread and worker: what load does not inflate
        "workers": args.workers,
        "command_seconds": round(command, 2),  # `newsmon rules test --since 8d`, start to end
        "bytes_per_article": round(per_article),
        "text_bytes_per_article": round(text_per_article),
        "fill_bytes_per_article": round(fill_size / args.articles),
        "write_cpu_ms_per_article": round(fill_cpu * 1000 / args.articles, 3),
        "matched": sum(r.matched for r in result.rules.values()),
        "alerts": len(result.alerts),
        "never_fired": len(result.never_fired),
        "text": "corpus" if corpus else "filler",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="backtest processes")
    parser.add_argument("--db", help="keep the database here (default: a temporary file)")
    parser.add_argument("--quick", action="store_true", help="300 articles, for the smoke test")
    args = parser.parse_args()
    if args.quick:
        args.articles = 300
    print(json.dumps(asyncio.run(bench(args))), flush=True)


if __name__ == "__main__":
    main()
