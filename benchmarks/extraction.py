"""Extraction quality and CPU cost: newsmon's extractor vs plain trafilatura on the shared corpus.

    python benchmarks/extraction.py [--corpus PATH] [--extractor newsmon|trafilatura]... [--half dev|test]
                                    [--worst N]

The corpus (AEB + fundus articles) is split into a development half and a held-out test half BY SITE
(:func:`half`: a hash of the registrable domain), so one site's template never sits in both. The
extractor's heuristics are tuned on ``dev`` only; ``test`` is the figure that says whether they
generalize. Prints one JSON line per (extractor, half), then a human table. Metrics:
- f1: bag-of-words token F1 against the ground truth ``body_text`` (whitespace tokens, multiset
  precision/recall as in the Zyte article-extraction-benchmark), averaged over pages.
- below_0_5: share of pages whose body F1 is under 0.5 (a story a user would call missed or garbled).
- median_ms / cpu_ms_p95 / cpu_ms_max: ``time.process_time`` per page for extraction of the already
  decompressed bytes (newsmon: decode + parse + metadata + body; trafilatura: decode + extract).
- title_acc (fundus pages only): title equal after whitespace normalization, ignoring case.
- date_acc (fundus pages only): published date within 24 h of the truth, both read as UTC instants
  (pages disagree on whether they state local midnight or the exact minute).
AEB has no title or date ground truth. ``--worst N`` lists each half's N lowest-F1 pages (newsmon).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.crawl.charset import decode_html  # noqa: E402
from monitor.crawl.urls import registrable_domain  # noqa: E402
from monitor.extract import extract  # noqa: E402
from monitor.model import Fetched  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared/corpus"
CORPORA = ("aeb", "fundus")
HALVES = ("dev", "test")
DATE_TOLERANCE = timedelta(hours=24)


@dataclass(slots=True, frozen=True)
class Page:
    corpus: str
    stem: str
    url: str
    html: bytes
    truth: dict


def site(url: str) -> str:
    return registrable_domain(urlsplit(url).hostname or "")


def half(url: str) -> str:
    """``dev`` or ``test`` for the page's site: fixed, and the same for every page of one site."""
    return HALVES[hashlib.sha256(site(url).encode()).digest()[0] & 1]


@dataclass(slots=True, frozen=True)
class Result:
    body: str
    title: str | None
    published: datetime | None


def load_pages(articles: Path) -> Iterator[Page]:
    for corpus in CORPORA:
        for truth_path in sorted((articles / corpus).glob("*.json")):
            html_path = truth_path.with_name(truth_path.stem + ".html.gz")
            if not html_path.exists():
                continue
            truth = json.loads(truth_path.read_text(encoding="utf-8"))
            html = gzip.decompress(html_path.read_bytes())
            yield Page(corpus, truth_path.stem, truth.get("url") or "", html, truth)


def tokens(text: str) -> Counter[str]:
    return Counter(text.split())


def token_f1(truth: str, predicted: str) -> float:
    expected, got = tokens(truth), tokens(predicted)
    if not expected and not got:
        return 1.0
    common = sum((expected & got).values())
    if common == 0:
        return 0.0
    precision = common / sum(got.values())
    recall = common / sum(expected.values())
    return 2 * precision * recall / (precision + recall)


def _norm_title(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def title_ok(truth: str | None, got: str | None) -> bool:
    return bool(truth) and _norm_title(truth) == _norm_title(got)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def date_ok(truth: str | None, got: datetime | None) -> bool:
    if not truth or got is None:
        return False
    expected = _as_utc(datetime.fromisoformat(truth))
    return abs(expected - _as_utc(got)) <= DATE_TOLERANCE


def run_newsmon(page: Page) -> Result:
    article = extract(Fetched(url=page.url, status=200, body=page.html), source="bench")
    return Result(article.body, article.title, article.published)


def run_trafilatura(page: Page) -> Result:
    import trafilatura

    text = trafilatura.extract(decode_html(page.html, None), url=page.url) or ""
    return Result("\n\n".join(line for line in text.splitlines() if line.strip()), None, None)


EXTRACTORS: dict[str, Callable[[Page], Result]] = {"newsmon": run_newsmon, "trafilatura": run_trafilatura}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(name: str, half_name: str, pages: list[Page]) -> tuple[dict, list[tuple[float, Page]]]:
    run = EXTRACTORS[name]
    f1s: list[float] = []
    cpu_ms: list[float] = []
    titles: list[bool] = []
    dates: list[bool] = []
    for page in pages:
        start = time.process_time()
        result = run(page)
        cpu_ms.append((time.process_time() - start) * 1000)
        f1s.append(token_f1(page.truth.get("body_text") or "", result.body))
        if page.corpus == "fundus" and name == "newsmon":
            titles.append(title_ok(page.truth.get("title"), result.title))
            dates.append(date_ok(page.truth.get("published"), result.published))
    row = {
        "extractor": name,
        "half": half_name,
        "pages": len(pages),
        "sites": len({site(p.url) for p in pages}),
        "f1": round(statistics.fmean(f1s), 4),
        "below_0_5": round(sum(f < 0.5 for f in f1s) / len(f1s), 4),
        "median_ms": round(statistics.median(cpu_ms), 2),
        "cpu_ms_p95": round(percentile(cpu_ms, 0.95), 2),
        "cpu_ms_max": round(max(cpu_ms), 2),
        "title_acc": round(statistics.fmean(titles), 4) if titles else None,
        "date_acc": round(statistics.fmean(dates), 4) if dates else None,
    }
    return row, sorted(zip(f1s, pages, strict=True), key=lambda pair: pair[0])


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_table(rows: list[dict]) -> None:
    header = f"{'extractor':<12} {'half':<5} {'pages':>5} {'f1':>7} {'<0.5':>6} {'ms_med':>7} {'ms_p95':>7} "
    print(header + f"{'ms_max':>7} {'title':>6} {'date':>6}")
    for r in rows:
        print(
            f"{r['extractor']:<12} {r['half']:<5} {r['pages']:>5} {r['f1']:>7.3f} {r['below_0_5']:>6.1%} "
            f"{r['median_ms']:>7.2f} {r['cpu_ms_p95']:>7.2f} {r['cpu_ms_max']:>7.2f} "
            f"{_cell(r['title_acc'], '.3f'):>6} {_cell(r['date_acc'], '.3f'):>6}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="shared corpus directory")
    parser.add_argument("--extractor", action="append", choices=sorted(EXTRACTORS), help="default: all")
    parser.add_argument("--half", action="append", choices=HALVES, help="default: both")
    parser.add_argument("--worst", type=int, default=0, help="list the N lowest-F1 pages of each half")
    args = parser.parse_args(argv)
    articles = args.corpus / "articles"
    if not articles.is_dir():
        print(f"corpus not found: {articles} (pass --corpus PATH to the shared corpus)", file=sys.stderr)
        return 2
    pages = list(load_pages(articles))
    if not pages:
        print(f"no pages in {articles}", file=sys.stderr)
        return 2
    extractors = args.extractor or list(EXTRACTORS)
    rows: list[dict] = []
    for half_name in args.half or HALVES:
        subset = [p for p in pages if half(p.url) == half_name]
        for name in extractors:
            EXTRACTORS[name](subset[0])  # warm-up: lazy imports and caches are not per-page cost
            row, ranked = measure(name, half_name, subset)
            print(json.dumps(row), flush=True)
            rows.append(row)
            if name == "newsmon":
                for f1, page in ranked[: args.worst]:
                    print(f"  {f1:.3f} {page.corpus}/{page.stem} {page.url}", file=sys.stderr)
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
