"""One poll of one source, start to finish: discover -> seen? -> fetch -> extract -> story -> match -> claim.

The order of writes is what makes alerts durable: an article's URL is marked seen only after every alert
it produced is claimed into the outbox, so a crash anywhere re-processes the article, and the atomic
claim makes that replay harmless.

The engine it is given was built from a complete, validated rule set (``monitor/validate.py``; the service
refuses to start on anything less, and a failed reload keeps the previous set), so an article marked seen
here was evaluated against every rule the operator wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from monitor.archive import ArchivedArticle
from monitor.config import AlertsConfig
from monitor.crawl.http import HttpClient
from monitor.crawl.sources import REGISTRY as SOURCE_KINDS
from monitor.entries import Revision, entry_key, listed_digest
from monitor.errors import FetchError, ParseError
from monitor.fingerprint import fingerprint, legacy_fingerprint
from monitor.model import Alert, Article, Candidate, Clock, Fetched, Hit, Match, PollOutcome, Source
from monitor.store.base import Store, StoryRef, Validators

log = logging.getLogger("newsmon.pipeline")

MAX_MORE_LISTINGS = 20  # a sitemap index's sitemaps read per poll
ARTICLE_CONCURRENCY = 8
# Seen-marks of finished articles are written this many at a time: one store write per batch instead of
# one per article. A crash before a batch is written only makes its articles be processed again, which
# the atomic claim makes harmless.
SEEN_BATCH = 50
# Validators kept in memory (write-through to the store): an unchanged poll then costs one store write
# (record_poll) instead of a read and a write. Bounded for sitemap indexes that name a new child daily.
VALIDATORS_CACHED = 100_000
# Failures (a matching timeout, a matcher error) of one article before it is quarantined.
POISON_ATTEMPTS = 3
# Parsing runs in a worker thread (lexbor, lxml and zlib release the GIL; feedparser's pure-Python loose
# parser at least yields it every few ms), so /healthz, deliveries and other sources keep going: always
# for a listing, feed or sitemap (once per changed poll, and a broken feed can take feedparser's loose
# parser a long time), and for an article page above this size (smaller ones cost less than the hand-off;
# depth is bounded anyway).
OFF_LOOP_BYTES = 256 * 1024


T = TypeVar("T")


class Matcher(Protocol):
    """What a poll needs of the rules: ``monitor.matching.engine.Engine`` or one that wraps it."""

    def match(self, article: Article) -> list[Match]: ...


async def _parse(
    fetched: Fetched, parse: Callable[..., T], *args: Any, off_loop_above: int = 0, **kwargs: Any
) -> T:
    """``parse(fetched, ...)``, off the loop for a big body; whatever a hostile body makes a parser raise
    is a ParseError naming the URL, never an exception that ends the poll (or every poll of a run)."""
    try:
        if len(fetched.body) > off_loop_above:
            return await asyncio.to_thread(parse, fetched, *args, **kwargs)
        return parse(fetched, *args, **kwargs)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(fetched.url, f"unreadable: {type(exc).__name__}: {exc}") from exc


def alert_id(rule_id: str, story_key: str) -> str:
    return hashlib.sha256(f"{rule_id}\0{story_key}".encode()).hexdigest()[:32]


def new_alert(
    rule_id: str,
    rule_title: str,
    article: Article,
    story_key: str,
    hits: tuple[Hit, ...],
    now: float,
    also_seen_at: tuple[str, ...] = (),
) -> Alert:
    """The alert of rule ``rule_id`` on ``article`` for its story, detected at clock time ``now``: what
    the live pipeline and a backfill claim alike."""
    return Alert(
        id=alert_id(rule_id, story_key),
        rule_id=rule_id,
        rule_title=rule_title,
        story_key=story_key,
        url=article.url,
        title=article.title,
        source=article.source,
        published=article.published,
        detected_at=datetime.fromtimestamp(now, UTC),
        hits=hits,
        also_seen_at=also_seen_at,
    )


def addressed(notifiers: Sequence[str], notify: Sequence[str]) -> list[str]:
    """The notifiers an alert of a rule goes to: those its ``notify`` names, or all when it names none."""
    return [n for n in notifiers if not notify or n in notify]


@dataclass(slots=True)
class PollResult:
    source: str
    new_articles: int = 0
    alerts: list[Alert] = field(default_factory=list)  # claimed (or, dry run, would be claimed)
    errors: list[str] = field(default_factory=list)
    not_modified: bool = False
    # What the site asked for, for adaptive scheduling: no poll before this Unix time (cache headers,
    # a feed's ttl, Retry-After), and the UTC hours a feed's skipHours names (None: not said).
    not_before: float | None = None
    skip_hours: tuple[int, ...] | None = None

    @property
    def failed(self) -> bool:
        """Nothing new came of the poll because something went wrong (not merely nothing new)."""
        return bool(self.errors) and not self.new_articles

    @property
    def outcome(self) -> PollOutcome:
        return "not_modified" if self.not_modified else "error" if self.failed else "ok"


def _permanent(exc: FetchError) -> bool:
    """A 4xx page (other than 429) will not get better by asking again next poll."""
    return exc.status is not None and 400 <= exc.status < 500 and exc.status != 429


class Pipeline:
    """Everything remembered between polls lives in the store; the HTTP validators of the URLs this
    process fetched are also kept in memory."""

    def __init__(
        self,
        *,
        store: Store,
        http: HttpClient,
        engine: Callable[[], Awaitable[Matcher]],
        alerts: Callable[[], AlertsConfig],
        notifiers: Callable[[], Sequence[str]],
        clock: Clock,
        on_claim: Callable[[Alert], None] = lambda alert: None,
        dry_run: bool = False,
    ) -> None:
        self.store = store
        self.http = http
        # Getters of the running configuration, so a reload takes effect at the next article. The
        # engine's is awaited: the matcher may be compiled when the first article needs it.
        self.engine = engine
        self.alerts = alerts
        self.notifiers = notifiers
        self.clock = clock
        self.on_claim = on_claim
        self.dry_run = dry_run
        # URLs some poll of this process is working on now: a story on the front page and in the feed
        # is fetched once, not by both polls at the same moment.
        self._in_progress: set[str] = set()
        self._validators: dict[str, Validators] = {}
        self._legacy_seen: float | None = None  # ``Store.legacy_stories_seen``, asked once

    async def poll(self, source: Source) -> PollResult:
        result = PollResult(source.name)
        listed: dict[str, Validators] = {}  # the validators of the listings read in full
        try:
            candidates = await self._discover(source, result, listed)
            if candidates:
                await self._process(source, candidates, result)
        except (FetchError, ParseError) as exc:
            result.errors.append(str(exc))
            log.warning("poll_failed", extra={"source": source.name, "error": str(exc)})
            with contextlib.suppress(FetchError):
                blocked = self.http.limiter.blocked_for(self.http.check_url(source.url))
                if blocked > 0:  # Retry-After: the host asked to be left alone this long
                    result.not_before = self.clock.time() + blocked
        if not self.dry_run:
            if not result.errors:
                # Only once everything they listed is handled: a listing that answers 304 next time
                # hides an article left to retry until the site changes it.
                for url, validators in listed.items():
                    await self.store.set_validators(url, validators)
                    self._remember(url, validators)
            error = result.errors[0] if result.errors and not result.new_articles else None
            await self.store.record_poll(source.name, error=error, articles=result.new_articles)
        return result

    # -- discovery ------------------------------------------------------------------------------------
    async def _get(self, url: str, listed: dict[str, Validators]) -> Fetched:
        """Conditional GET with the validators the store remembers; new ones go to ``listed``, which
        ``poll`` stores when the poll ends well."""
        validators = self._validators.get(url) or await self.store.get_validators(url)
        fetched = await self.http.fetch(
            url,
            etag=validators.etag if validators else None,
            last_modified=validators.last_modified if validators else None,
        )
        if not fetched.not_modified and (fetched.etag or fetched.last_modified):
            listed[url] = Validators(fetched.etag, fetched.last_modified)
        elif validators is not None:
            self._remember(url, validators)
        return fetched

    def _remember(self, url: str, validators: Validators) -> None:
        """Only the validators this process sent or stored: another instance that took the source over
        stored newer ones, and a stale pair only costs one full response, never a missed change."""
        if url not in self._validators and len(self._validators) >= VALIDATORS_CACHED:
            del self._validators[next(iter(self._validators))]
        self._validators[url] = validators

    async def _discover(
        self, source: Source, result: PollResult, listed: dict[str, Validators]
    ) -> list[Candidate]:
        fetched = await self._get(source.url, listed)
        result.not_before = fetched.fresh_until
        if fetched.not_modified:
            result.not_modified = True
            return []
        kind = SOURCE_KINDS[source.kind]
        if source.schedule == "adaptive":
            ttl_until, result.skip_hours = kind.hints(fetched, self.clock.time())
            if ttl_until is not None:
                result.not_before = max(ttl_until, result.not_before or 0.0)
        listing = await _parse(fetched, kind.parse, source)
        candidates = list(listing.candidates)
        for url in listing.more[:MAX_MORE_LISTINGS]:
            try:
                more = await self._get(url, listed)
                if not more.not_modified:
                    # Only one level: an index pointing at indexes (or at itself) stops here.
                    candidates.extend((await _parse(more, kind.parse, source)).candidates)
            except (FetchError, ParseError) as exc:
                result.errors.append(str(exc))
                log.warning("listing_failed", extra={"source": source.name, "url": url, "error": str(exc)})
        return candidates

    # -- articles -------------------------------------------------------------------------------------
    async def _process(self, source: Source, candidates: list[Candidate], result: PollResult) -> None:
        by_url = {c.url: c for c in candidates if c.url not in self._in_progress}
        entries = {url: entry_key(source.name, c) for url, c in by_url.items()}
        known = await self.store.seen([*by_url, *entries.values()])
        todo: dict[str, Revision] = {}  # url -> the entry revision to record once processed
        adopt: dict[str, str] = {}  # entry key -> revision, for URLs already seen elsewhere
        for url, candidate in by_url.items():
            now = listed_digest(candidate)
            recorded = known.get(entries[url])
            if recorded is None:
                if url in known:
                    # Seen through another source (or before entries were tracked): no news, but from
                    # now on this source's listing of it can signal an edit.
                    adopt[entries[url]] = str(Revision(0, now))
                else:
                    todo[url] = Revision(0, now)
                continue
            edited = Revision.parse(recorded).edited(now)
            if edited is not None:
                todo[url] = edited
        if adopt and not self.dry_run:
            await self.store.mark_seen(adopt)
        urls = [url for url in todo if url not in self._in_progress]
        if not urls:
            return
        self._in_progress.update(urls)
        try:
            await self._process_new(source, by_url, entries, {u: todo[u] for u in urls}, result)
        finally:
            self._in_progress.difference_update(urls)

    async def _process_new(
        self,
        source: Source,
        by_url: dict[str, Candidate],
        entries: dict[str, str],
        todo: dict[str, Revision],
        result: PollResult,
    ) -> None:
        state = await self.store.source_state(source.name)
        if state.last_success is None and self.alerts().first_run == "mark-seen" and not self.dry_run:
            # First crawl: what is already there is history, not news.
            await self.store.mark_seen(
                {url: "" for url in todo} | {entries[u]: str(r) for u, r in todo.items()}
            )
            log.info("first_run_marked_seen", extra={"source": source.name, "count": len(todo)})
            return
        semaphore = asyncio.Semaphore(ARTICLE_CONCURRENCY)
        pending: dict[str, str] = {}
        archive: list[ArchivedArticle] = []  # what the rules saw, archived in the same write

        async def flush() -> None:
            marks, records = pending.copy(), archive.copy()
            pending.clear()
            archive.clear()
            if marks:
                await self.store.mark_seen(marks, records)

        async def one(url: str) -> None:
            async with semaphore:
                edited = not todo[url].first
                done = await self._article(source, by_url[url], edited=edited, result=result)
            if done is not None and not self.dry_run:
                marks, record = done
                pending.update(marks)
                pending[entries[url]] = str(todo[url])
                if record is not None:
                    archive.append(record)
                if len(pending) >= SEEN_BATCH:
                    await flush()

        await asyncio.gather(*(one(url) for url in todo))
        await flush()

    async def _article(
        self, source: Source, candidate: Candidate, *, edited: bool, result: PollResult
    ) -> tuple[dict[str, str], ArchivedArticle | None] | None:
        """Fetch, extract, match and claim one article. Returns the seen-marks to record once its
        alerts are claimed, with the article as the rules saw it for the archive; or None when it
        should be tried again next poll."""
        url = candidate.url
        try:
            article = await self._load(source, candidate)
        except FetchError as exc:
            result.errors.append(str(exc))
            log.warning("article_failed", extra={"source": source.name, "url": url, "error": str(exc)})
            return ({url: ""}, None) if _permanent(exc) else None
        except ParseError as exc:
            result.errors.append(str(exc))
            log.warning("article_unparsable", extra={"source": source.name, "url": url, "error": str(exc)})
            return {url: ""}, None
        if article.url != url and not edited and await self.store.seen([article.url]):
            # An AMP page or another spelling of an article we already have under its canonical URL.
            return {url: ""}, None
        detected_at = self.clock.time()
        too_old = self._too_old(article)
        # Outside the try: a matcher that cannot be compiled fails the poll, not this article.
        engine = None if too_old else await self.engine()
        try:
            matches = [] if engine is None else engine.match(article)
        except Exception as exc:  # MatchTimeout, or a matcher bug this article trips
            marks = await self._failed(source, url, f"{type(exc).__name__}: {exc}", result)
            return (marks, None) if marks is not None else None
        result.new_articles += 1
        story_key = None
        if matches:
            story = await self._story(article)
            story_key = story.key
            for match in matches:
                await self._alert(article, story, match, result)
        record = ArchivedArticle.of(
            article, detected_at=detected_at, story_key=story_key, rules=[m.rule_id for m in matches]
        )
        return {url: "", article.url: ""}, record

    async def _failed(
        self, source: Source, url: str, reason: str, result: PollResult
    ) -> dict[str, str] | None:
        """An article that could not be matched: tried again next poll, until the POISON_ATTEMPTS-th
        failure sets it aside for good (quarantined: recorded, shown by ``newsmon status``, marked seen),
        so one hostile article cannot cost every poll, and every restart, forever."""
        result.errors.append(f"{url}: {reason}")
        if self.dry_run:
            return None
        key = f"failed\0{url}"
        attempts = int((await self.store.seen([key])).get(key) or 0) + 1
        if attempts < POISON_ATTEMPTS:
            await self.store.mark_seen({key: str(attempts)})
            log.warning("article_failed", extra={"source": source.name, "url": url, "error": reason})
            return None
        await self.store.quarantine(url, source.name, reason)
        log.error("article_quarantined", extra={"source": source.name, "url": url, "error": reason})
        return {url: ""}

    async def _story(self, article: Article) -> StoryRef:
        """The story a matching article joins (or starts); an edit keeps its story.

        Only articles that match some rule get here: the story lookup is a store write (a transaction
        on SQLite, a script on Redis), and a story no rule cares about needs no identity.
        An article that matches only after an edit starts its story then, which is when it first
        alerts; the price is that ``also_seen_at`` lists only copies that matched some rule."""
        text = article.body or article.title
        fp = fingerprint(text)
        if not fp.size:
            digest = hashlib.blake2b(article.url.encode(), digest_size=8).hexdigest()
            return StoryRef(key=f"url-{digest}", urls=(), new=True)
        if self.dry_run:
            return StoryRef(key=fp.key(), urls=(), new=True)
        window = self.alerts().story_window
        if self._legacy_seen is None:
            self._legacy_seen = await self.store.legacy_stories_seen()
        # A story started before the fingerprint's upgrade is found by its old fingerprint, as long
        # as it can still be joined; found so, it takes the new one.
        legacy = legacy_fingerprint(text) if self.clock.time() < self._legacy_seen + window else None
        return await self.store.resolve_story(fp, article.url, window, legacy)

    async def _load(self, source: Source, candidate: Candidate) -> Article:
        if not source.fetch_articles and SOURCE_KINDS[source.kind].carries_text:
            return Article(
                url=candidate.url,
                source=source.name,
                title=candidate.title or "",
                body=candidate.summary or "",
                summary=candidate.summary or "",
                published=candidate.published,
                fetched_url=candidate.url,
            )
        fetched = await self.http.fetch(candidate.url)
        from monitor.extract import extract  # with the first article, as the listing parsers above

        return await _parse(
            fetched, extract, source=source.name, hint=candidate, off_loop_above=OFF_LOOP_BYTES
        )

    def _too_old(self, article: Article) -> bool:
        if article.published is None or not self.alerts().max_age:
            return False
        return self.clock.time() - article.published.timestamp() > self.alerts().max_age

    async def _alert(self, article: Article, story: StoryRef, match: Match, result: PollResult) -> None:
        now = self.clock.time()
        alert = new_alert(
            match.rule_id, match.rule_title, article, story.key, match.hits, now, also_seen_at=story.urls
        )
        notifiers = addressed(self.notifiers(), match.notify)
        if self.dry_run:
            result.alerts.append(alert)
            return
        claimed = await self.store.claim(alert, notifiers, realert=match.realert)
        if claimed is not None:
            result.alerts.append(claimed)
            log.info(
                "alert_claimed", extra={"rule": match.rule_id, "url": article.url, "alert_id": claimed.id}
            )
            self.on_claim(claimed)
