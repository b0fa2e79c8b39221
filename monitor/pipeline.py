"""One poll of one source, start to finish: discover -> seen? -> fetch -> extract -> story -> match -> claim.

The order of writes is what makes alerts durable: an article's URL is marked seen only after every alert
it produced is claimed into the outbox, so a crash anywhere re-processes the article, and the atomic
claim makes that replay harmless.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor.config import AlertsConfig
from monitor.crawl.http import HttpClient
from monitor.crawl.sources import parse_feed, parse_listing, parse_sitemap
from monitor.errors import FetchError, ParseError
from monitor.extract import extract
from monitor.fingerprint import simhash
from monitor.matching.engine import Engine
from monitor.model import Alert, Article, Candidate, Clock, Fetched, Match, Source
from monitor.store.base import Store, StoryRef, Validators

log = logging.getLogger("newsmon.pipeline")

MAX_CHILD_SITEMAPS = 20
ARTICLE_CONCURRENCY = 8


def alert_id(rule_id: str, story_key: str) -> str:
    return hashlib.sha256(f"{rule_id}\0{story_key}".encode()).hexdigest()[:32]


@dataclass(slots=True)
class PollResult:
    source: str
    new_articles: int = 0
    alerts: list[Alert] = field(default_factory=list)  # claimed (or, dry run, would be claimed)
    errors: list[str] = field(default_factory=list)
    not_modified: bool = False


def _permanent(exc: FetchError) -> bool:
    """A 4xx page (other than 429) will not get better by asking again next poll."""
    return exc.status is not None and 400 <= exc.status < 500 and exc.status != 429


class Pipeline:
    """Stateless between polls; everything remembered lives in the store."""

    def __init__(
        self,
        *,
        store: Store,
        http: HttpClient,
        engine: Callable[[], Engine],
        alerts: AlertsConfig,
        notifiers: list[str],
        clock: Clock,
        on_claim: Callable[[Alert], None] = lambda alert: None,
        dry_run: bool = False,
    ) -> None:
        self.store = store
        self.http = http
        self.engine = engine  # a getter, so a rule reload takes effect at the next article
        self.alerts = alerts
        self.notifiers = notifiers
        self.clock = clock
        self.on_claim = on_claim
        self.dry_run = dry_run
        # URLs some poll of this process is working on now: a story on the front page and in the feed
        # is fetched once, not by both polls at the same moment.
        self._in_progress: set[str] = set()

    async def poll(self, source: Source) -> PollResult:
        result = PollResult(source.name)
        try:
            candidates = await self._discover(source, result)
            if candidates:
                await self._process(source, candidates, result)
        except (FetchError, ParseError) as exc:
            result.errors.append(str(exc))
            log.warning("poll_failed", extra={"source": source.name, "error": str(exc)})
        if not self.dry_run:
            error = result.errors[0] if result.errors and not result.new_articles else None
            await self.store.record_poll(source.name, error=error, articles=result.new_articles)
        return result

    # -- discovery ------------------------------------------------------------------------------------
    async def _get(self, url: str) -> Fetched:
        """Conditional GET with the validators the store remembers; stores the new ones."""
        validators = await self.store.get_validators(url)
        fetched = await self.http.fetch(
            url,
            etag=validators.etag if validators else None,
            last_modified=validators.last_modified if validators else None,
        )
        if not fetched.not_modified and not self.dry_run and (fetched.etag or fetched.last_modified):
            await self.store.set_validators(url, Validators(fetched.etag, fetched.last_modified))
        return fetched

    async def _discover(self, source: Source, result: PollResult) -> list[Candidate]:
        fetched = await self._get(source.url)
        if fetched.not_modified:
            result.not_modified = True
            return []
        if source.kind == "feed":
            return parse_feed(fetched)
        if source.kind == "html":
            return parse_listing(fetched, source)
        candidates, children = parse_sitemap(fetched)
        for child in children[:MAX_CHILD_SITEMAPS]:
            try:
                child_fetched = await self._get(child)
                if not child_fetched.not_modified:
                    # Only one level: an index pointing at indexes (or at itself) stops here.
                    candidates.extend(parse_sitemap(child_fetched)[0])
            except (FetchError, ParseError) as exc:
                result.errors.append(str(exc))
                log.warning("sitemap_failed", extra={"source": source.name, "url": child, "error": str(exc)})
        return candidates

    # -- articles -------------------------------------------------------------------------------------
    async def _process(self, source: Source, candidates: list[Candidate], result: PollResult) -> None:
        by_url = {c.url: c for c in candidates if c.url not in self._in_progress}
        unseen = await self.store.unseen(list(by_url))
        unseen = [url for url in unseen if url not in self._in_progress]
        if not unseen:
            return
        self._in_progress.update(unseen)
        try:
            await self._process_unseen(source, by_url, unseen, result)
        finally:
            self._in_progress.difference_update(unseen)

    async def _process_unseen(
        self, source: Source, by_url: dict[str, Candidate], unseen: list[str], result: PollResult
    ) -> None:
        state = await self.store.source_state(source.name)
        if state.last_success is None and self.alerts.first_run == "mark-seen" and not self.dry_run:
            # First crawl: what is already there is history, not news.
            await self.store.mark_seen(unseen)
            log.info("first_run_marked_seen", extra={"source": source.name, "count": len(unseen)})
            return
        semaphore = asyncio.Semaphore(ARTICLE_CONCURRENCY)

        async def one(url: str) -> None:
            async with semaphore:
                await self._article(source, by_url[url], result)

        await asyncio.gather(*(one(url) for url in unseen))

    async def _article(self, source: Source, candidate: Candidate, result: PollResult) -> None:
        url = candidate.url
        try:
            article = await self._load(source, candidate)
        except FetchError as exc:
            result.errors.append(str(exc))
            log.warning("article_failed", extra={"source": source.name, "url": url, "error": str(exc)})
            if _permanent(exc) and not self.dry_run:
                await self.store.mark_seen([url])
            return
        except ParseError as exc:
            result.errors.append(str(exc))
            log.warning("article_unparsable", extra={"source": source.name, "url": url, "error": str(exc)})
            if not self.dry_run:
                await self.store.mark_seen([url])
            return
        result.new_articles += 1
        matches = [] if self._too_old(article) else self.engine().match(article)
        if matches:
            story = await self.store.resolve_story(
                simhash(article.body or article.title), article.url, self.alerts.story_window
            )
            for match in matches:
                await self._alert(article, story, match, result)
        if not self.dry_run:
            await self.store.mark_seen(list({url, article.url}))

    async def _load(self, source: Source, candidate: Candidate) -> Article:
        if source.kind == "feed" and not source.fetch_articles:
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
        return extract(fetched, source=source.name, hint=candidate)

    def _too_old(self, article: Article) -> bool:
        if article.published is None or not self.alerts.max_age:
            return False
        return self.clock.time() - article.published.timestamp() > self.alerts.max_age

    async def _alert(self, article: Article, story: StoryRef, match: Match, result: PollResult) -> None:
        alert = Alert(
            id=alert_id(match.rule_id, story.key),
            rule_id=match.rule_id,
            rule_title=match.rule_title,
            story_key=story.key,
            url=article.url,
            title=article.title,
            source=article.source,
            published=article.published,
            detected_at=datetime.fromtimestamp(self.clock.time(), UTC),
            hits=match.hits,
            also_seen_at=story.urls,
        )
        notifiers = [n for n in self.notifiers if not match.notify or n in match.notify]
        if self.dry_run:
            result.alerts.append(alert)
            return
        if await self.store.claim(alert, notifiers):
            result.alerts.append(alert)
            log.info("alert_claimed", extra={"rule": match.rule_id, "url": article.url, "alert_id": alert.id})
            self.on_claim(alert)
