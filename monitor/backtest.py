"""Run rules over the article archive: what they would have alerted on, as the live daemon decides it.

For each archived article, oldest first: skipped when older than ``[alerts] max_age`` when it was
detected (as the pipeline skips it); matched by the engine; a matching article joins a story (the one
it joined live when it has one, else by the same MinHash rule the store applies, within
``story_window``); and an alert would go out unless the rule already alerted on that story (less than
its ``realert`` ago when it has one). Articles no rule can match are passed over on a test of their
stored text's words (``monitor.matching.prefilter``) without being decoded or normalized, unless the
engine reads them for inflected forms, which that test does not cover (an article in a language some
term inflects in: its record's language tag tells, read without decoding the record).
Over a large archive a command line matches in a pool of processes, up to one per core: stories and
policy are still decided in one place, in archive order, so the result is the same.

``backtest`` is the API (``newsmon rules test --since``, backfills, and the web console call it);
``Scan`` lists every match, without stories or policy (``newsmon articles search``).
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import multiprocessing
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial

from monitor.archive import ArchivedArticle, ArchivePage, Codec, decode_payload, payload_language
from monitor.config import AlertsConfig
from monitor.fingerprint import BANDS, Fingerprint, fingerprint, story_share
from monitor.matching.engine import Engine
from monitor.matching.prefilter import Prefilter
from monitor.matching.rules import Rule
from monitor.model import Hit, Match
from monitor.store.base import Store

EXAMPLES = 5  # matches per rule whose hits (snippets) are worked out by default
# A worker process (its start imports newsmon and builds the engine) for each this many archived
# articles, at most MAX_WORKERS of them: fewer articles than two workers' worth run in this process.
ARTICLES_PER_WORKER = 10_000
MAX_WORKERS = 8  # each holds its own engine and imports in memory

Progress = Callable[[float], None]  # share of the window scanned so far, 0..1


@dataclass(frozen=True, slots=True)
class BacktestMatch:
    """An alert a rule would have sent: for this article, as the first of its story (or a re-alert)."""

    rule_id: str
    article: ArchivedArticle
    story_key: str
    hits: tuple[Hit, ...] | None  # None when not worked out (beyond the first ``examples`` alerts)


@dataclass(slots=True)
class RuleReport:
    rule: Rule
    alerts: int = 0  # would-be alerts
    matched: int = 0  # matching articles, before story dedup and policy
    per_day: Counter[str] = field(default_factory=Counter)  # alerts per UTC day (YYYY-MM-DD) detected
    by_source: Counter[str] = field(default_factory=Counter)  # alerts per source
    examples: list[BacktestMatch] = field(default_factory=list)  # the first would-be alerts, with hits


@dataclass(slots=True, repr=False)
class BacktestResult:
    since: float
    until: float
    articles: int = 0  # archived articles in the window
    rules: dict[str, RuleReport] = field(default_factory=dict)  # in rule order
    alerts: list[BacktestMatch] = field(default_factory=list)  # every would-be alert, oldest first
    seconds: float = 0.0

    @property
    def never_fired(self) -> list[str]:
        return [rule_id for rule_id, report in self.rules.items() if not report.alerts]

    def __repr__(self) -> str:
        # Short: asyncio.run's SIGINT handling reprs the finished task, result and all (3.11's
        # signal.getsignal builds an error message it drops), which took ~2.6 s at 18,000 alerts.
        return (
            f"BacktestResult(since={self.since}, until={self.until}, articles={self.articles}, "
            f"rules={list(self.rules)}, alerts={len(self.alerts)}, seconds={self.seconds:.2f})"
        )


Found = tuple[ArchivedArticle, list[Match], Fingerprint | None]  # a matching record, its story fingerprint


class _Reader:
    """What a scan makes of a batch of packed records: those some rule matches, decoded, with their
    matches and (``fingerprints``) their story fingerprints. In the scan's process, or in each worker
    of its pool."""

    def __init__(self, rules: Sequence[Rule], max_age: float, fingerprints: bool) -> None:
        self.engine = Engine(rules)
        self.prefilter = Prefilter(rules)
        self.max_age, self.fingerprints = max_age, fingerprints
        self._inflects_in: dict[str, bool] = {}  # language tag -> whether the engine inflects in it

    def read(self, payloads: Sequence[bytes]) -> list[Found]:
        found = []
        for payload in payloads:
            if not self.prefilter.candidates(payload) and not self._inflecting(payload):
                continue
            record = decode_payload(payload)
            if self._too_old(record):
                continue
            matches = self.engine.match(record)
            if matches:
                fp = fingerprint(record.body or record.title) if self.fingerprints else None
                found.append((record, matches, fp))
        return found

    def _inflecting(self, payload: bytes) -> bool:
        """Whether the engine reads the record for inflected forms too, which the prefilter's probes do
        not cover ("Курская область" finds "Курской области"). A record with a language tag is not
        decoded to tell."""
        if not self.engine.inflecting:
            return False
        tag = payload_language(payload)
        if tag is not None:
            if tag not in self._inflects_in:
                self._inflects_in[tag] = self.engine.language({}, tag) is not None
            return self._inflects_in[tag]
        record = decode_payload(payload)
        fields = {"title": record.title, "summary": record.summary, "body": record.body}
        return self.engine.language(fields, record.language) is not None

    def _too_old(self, record: ArchivedArticle) -> bool:
        if not self.max_age or record.published is None:
            return False
        return record.detected_at - record.published.timestamp() > self.max_age


# A pool worker's reader and codec, made once by ``_start_worker``.
_worker: tuple[_Reader, Codec] | None = None


def _start_worker(rules: Sequence[Rule], max_age: float, fingerprints: bool) -> None:
    global _worker
    _worker = _Reader(rules, max_age, fingerprints), Codec()
    # A worker makes and drops millions of short-lived objects that reference counting frees; the
    # cyclic collector, run every 700 allocations by default, found nothing in them and cost a tenth
    # of the worker's time walking what it holds (measured: benchmarks/README.md, issue 19).
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


def _read_in_worker(page: ArchivePage, hits: bool) -> list[Found]:
    """What the worker's reader makes of ``page``, with matches a pipe can carry: their hits worked
    out (``hits``), or none, for the receiving process to work out for the few alerts that show them."""
    assert _worker is not None, "started by _start_worker"
    reader, codec = _worker
    return [
        (record, [replace(m, report=partial(tuple, m.hits if hits else ())) for m in matches], fp)
        for record, matches, fp in reader.read(page.payloads(codec))
    ]


class Scan:
    """Every archived article of a window that some of ``rules`` match, oldest first, with its matches.

    ``max_age`` (seconds, 0: any age) leaves out articles published that long before they were
    detected, as the pipeline does. ``articles`` counts the articles scanned so far. With ``workers``
    above 1, batches of records are read by that many processes (each builds the rules' engine once),
    results still in order: for a command line over a large archive, not inside the daemon."""

    def __init__(
        self,
        store: Store,
        rules: Sequence[Rule],
        since: float,
        until: float,
        *,
        source: str | None = None,
        max_age: float = 0.0,
        progress: Progress | None = None,
        fingerprints: bool = False,
        workers: int = 1,
        hits: bool = False,
    ) -> None:
        self.store, self.since, self.until = store, since, until
        self.source, self.progress, self.workers = source, progress, workers
        self.rules, self.max_age, self.fingerprints, self.hits = tuple(rules), max_age, fingerprints, hits
        self.articles = 0
        self._engine: Engine | None = None  # to work out hits the workers left out

    async def __aiter__(self) -> AsyncIterator[tuple[ArchivedArticle, list[Match]]]:
        async for found in self.found():
            for record, matches, _ in found:
                yield record, matches

    async def found(self) -> AsyncIterator[list[Found]]:
        """The matching records of each batch the store yields, in order."""
        if self.workers <= 1:
            reader, codec = _Reader(self.rules, self.max_age, self.fingerprints), Codec()
            async for page in self._pages():
                yield reader.read(page.payloads(codec))
            return
        loop = asyncio.get_running_loop()
        pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),  # not fork: the store's threads run
            initializer=_start_worker,
            initargs=(self.rules, self.max_age, self.fingerprints),
        )
        pending: deque[asyncio.Future[list[Found]]] = deque()
        try:
            async for page in self._pages():
                pending.append(loop.run_in_executor(pool, _read_in_worker, page, self.hits))
                if len(pending) > 2 * self.workers:  # bounds what waits in memory
                    yield self._with_hits(await pending.popleft())
            while pending:
                yield self._with_hits(await pending.popleft())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _with_hits(self, found: list[Found]) -> list[Found]:
        """``found`` from a worker, with matches whose hits it left out worked out here when read."""
        if self.hits:
            return found
        return [
            (record, [replace(m, report=partial(self._hits_of, record, m.rule_id)) for m in matches], fp)
            for record, matches, fp in found
        ]

    def _hits_of(self, record: ArchivedArticle, rule_id: str) -> tuple[Hit, ...]:
        if self._engine is None:
            self._engine = Engine(self.rules)
        return next(m.hits for m in self._engine.match(record) if m.rule_id == rule_id)

    async def _pages(self) -> AsyncIterator[ArchivePage]:
        """The window's archived records as the store hands them out, packed where it can (unpacked
        by whichever process reads each page)."""
        async for page in self.store.archive_pages(self.since, self.until, self.source):
            self.articles += len(page)
            yield page
            if self.progress is not None and self.until > self.since:
                share = (page.last_at - self.since) / (self.until - self.since)
                self.progress(min(1.0, share))


class _Stories:
    """The store's story resolution (``Store.resolve_story``), in memory, over the matching articles."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._by_url: dict[str, str] = {}
        self._stories: dict[str, tuple[Fingerprint, float, float]] = {}  # key -> fp, first, last seen
        # Per band number, band value -> the story holding it, or the stories (few containers for the
        # garbage collector to walk: one per band number, not one per value).
        self._bands: list[dict[int, str | tuple[str, ...]]] = [{} for _ in range(2 * BANDS)]

    def resolve(self, record: ArchivedArticle, fp: Fingerprint) -> str:
        """``fp``: the fingerprint of the record's body (its title when it has none)."""
        now = record.detected_at
        if not fp.size:
            return f"url-{hashlib.blake2b(record.url.encode(), digest_size=8).hexdigest()}"
        key = self._by_url.get(record.url)
        bands = fp.bands()
        if key is None or self._stories[key][2] < now - self.window:
            key = record.story_key or self._nearest(fp, bands, now) or self._new_key(fp, now)
        known = self._stories.get(key)
        if known is None:  # a story's bands are those of the fingerprint it starts with
            self._stories[key] = (fp, now, now)
            for band, value in bands:
                held = self._bands[band].get(value)
                if held is None:
                    self._bands[band][value] = key
                else:
                    self._bands[band][value] = (held, key) if isinstance(held, str) else (*held, key)
        else:
            self._stories[key] = (known[0], known[1], now)
        self._by_url[record.url] = key
        return key

    def _nearest(self, fp: Fingerprint, bands: list[tuple[int, int]], now: float) -> str | None:
        best: tuple[float, float, str] | None = None
        near: set[str] = set()
        for band, value in bands:
            held = self._bands[band].get(value)
            if held is not None:
                near.update((held,) if isinstance(held, str) else held)
        for key in near:
            other, first, last = self._stories[key]
            share = story_share(fp, other) if last >= now - self.window else None
            if share is not None:
                rank = (-share, first, key)
                best = rank if best is None or rank < best else best
        return best[2] if best else None

    def _new_key(self, fp: Fingerprint, now: float) -> str:
        key = fp.key()
        return f"{key}-{int(now):x}" if key in self._stories else key


async def backtest(
    store: Store,
    rules: Sequence[Rule],
    since: float,
    until: float | None = None,
    *,
    alerts: AlertsConfig | None = None,
    source: str | None = None,
    examples: int = EXAMPLES,
    all_hits: bool = False,
    progress: Progress | None = None,
    workers: int = 1,
) -> BacktestResult:
    """What ``rules`` would have alerted on among the articles archived in ``[since, until)`` (clock
    seconds; ``until`` None: now), under ``alerts`` (``max_age``, ``story_window``; default: the
    defaults). Hits are worked out for each rule's first ``examples`` alerts, or for every alert with
    ``all_hits`` (a backfill sends them). ``workers``: at most that many processes to match in, one per
    ``ARTICLES_PER_WORKER`` archived articles (a command line's choice; the daemon's backfills run in its
    own)."""
    started = time.perf_counter()
    policy = alerts or AlertsConfig()
    end = until if until is not None else time.time()
    result = BacktestResult(since=since, until=end, rules={r.id: RuleReport(r) for r in rules})
    by_id = {r.id: r for r in rules}
    stories = _Stories(policy.story_window)
    claimed: dict[tuple[str, str], float] = {}  # (rule, story) -> when it last alerted
    if workers > 1:
        archived = (await store.archive_stats()).articles
        workers = min(workers, MAX_WORKERS, archived // ARTICLES_PER_WORKER)
    scan = Scan(
        store,
        rules,
        since,
        end,
        source=source,
        max_age=policy.max_age,
        progress=progress,
        fingerprints=True,
        workers=workers,
        hits=all_hits,
    )
    async for found in scan.found():
        for record, matched, fp in found:
            assert fp is not None, "asked for"
            story = stories.resolve(record, fp)
            now = record.detected_at
            for match in matched:
                report = result.rules[match.rule_id]
                report.matched += 1
                last = claimed.get((match.rule_id, story))
                realert = by_id[match.rule_id].realert
                if last is not None and (realert is None or now - last < realert):
                    continue
                claimed[match.rule_id, story] = now
                keep = all_hits or len(report.examples) < examples
                alert = BacktestMatch(match.rule_id, record, story, match.hits if keep else None)
                report.alerts += 1
                report.per_day[datetime.fromtimestamp(now, UTC).date().isoformat()] += 1
                report.by_source[record.source] += 1
                if len(report.examples) < examples:
                    report.examples.append(alert)
                result.alerts.append(alert)
    result.articles = scan.articles
    result.seconds = time.perf_counter() - started
    return result
