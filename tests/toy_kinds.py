"""A source kind and a notifier kind that newsmon does not ship, each written as a new kind would be: one
module like this one, and one line in its registry (``tests/test_kind_registries.py`` adds that line).

- ``kind = "lines"``: a plain-text list of links, one ``URL headline`` per line, at ``/links.txt``.
- ``kind = "memo"``: appends each alert's title to the file named by its ``path`` option.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.crawl.sources import How, Listing, Offer, Site, SourceKind
from monitor.crawl.sources.helpers import body_of, decode_text, dedupe
from monitor.crawl.urls import canonicalize
from monitor.errors import DeliveryError, ParseError
from monitor.model import Alert, Candidate, Fetched, Source
from monitor.notify import Notifier
from monitor.notify.base import DeliveryPolicy


class LinesKind(SourceKind):
    kind = "lines"
    rank = 1  # between feeds and sitemaps: headlines, but no summaries or dates
    counts = ("line", "lines")
    label = "list of links"

    def parse(self, fetched: Fetched, source: Source) -> Listing:
        candidates = []
        for line in decode_text(body_of(fetched, "a list of links"), fetched.charset).splitlines():
            url, _, title = line.strip().partition(" ")
            link = canonicalize(url, base=fetched.url) if url else None
            if link is not None:
                candidates.append(Candidate(url=link, title=title.strip() or None))
        if not candidates and fetched.body.strip():
            raise ParseError(fetched.url, "not a list of links: no line starts with a URL")
        return Listing(dedupe(candidates))

    async def offers(self, site: Site) -> list[Offer]:
        return [Offer(self, site.origin + "/links.txt", How.GUESSED)]


@dataclass(frozen=True, slots=True)
class MemoOptions(DeliveryPolicy):
    path: str = "memo.txt"


class MemoNotifier(Notifier):
    kind = "memo"
    Options = MemoOptions
    options: MemoOptions

    async def send(self, alert: Alert) -> str:
        return self._write([alert])

    async def send_digest(self, alerts: list[Alert]) -> str:
        return self._write(alerts)

    def _write(self, alerts: list[Alert]) -> str:
        try:
            with Path(self.options.path).open("a", encoding="utf-8") as memo:
                memo.writelines(f"{alert.title}\n" for alert in alerts)
        except OSError as exc:
            raise DeliveryError(f"memo: cannot write {self.options.path}: {exc.strerror}") from exc
        return "noted"
