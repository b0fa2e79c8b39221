"""robots.txt as RFC 9309 reads it, through protego (Scrapy's parser).

The standard library's ``urllib.robotparser`` ignores ``*`` and ``$`` wildcards and lets the first
matching rule win instead of the most specific one, so it allows URLs that sites forbid. protego
implements the RFC: longest match wins, ``Allow`` wins a tie, wildcards, plus the ``Crawl-delay`` and
``Sitemap`` extensions that the daemon and ``sources discover`` use.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from protego import Protego

__all__ = ["MAX_CRAWL_DELAY", "RobotsTxt", "parse_robots"]

# A Crawl-delay above this is treated as this: one slow site must not hold a poll for minutes, and a
# larger per-request delay than the polling interval would make the source unusable anyway.
MAX_CRAWL_DELAY = 30.0
# RFC 9309 2.5: crawlers must parse at least the first 500 KiB; what follows may be ignored.
MAX_ROBOTS_BYTES = 500 * 1024


@dataclass(frozen=True, slots=True)
class RobotsTxt:
    """One site's parsed robots.txt."""

    rules: Protego
    origin: str  # scheme://host[:port] the file was read from: relative Sitemap lines resolve against it

    def allowed(self, url: str, user_agent: str) -> bool:
        return bool(self.rules.can_fetch(url, user_agent))

    def crawl_delay(self, user_agent: str) -> float:
        """Seconds between requests the site asks of this agent (0 when it asks nothing), capped."""
        delay = self.rules.crawl_delay(user_agent)
        return min(float(delay), MAX_CRAWL_DELAY) if delay and delay > 0 else 0.0

    def sitemaps(self) -> list[str]:
        """Absolute http(s) URLs of the ``Sitemap:`` lines, first occurrence of each, in file order."""
        urls = (urljoin(self.origin + "/", url.strip()) for url in self.rules.sitemaps)
        return [u for u in dict.fromkeys(urls) if urlsplit(u).scheme in ("http", "https")]


def parse_robots(body: bytes, origin: str) -> RobotsTxt:
    """Parse robots.txt bytes (UTF-8 per the RFC; undecodable bytes cannot match a rule anyway)."""
    text = body[:MAX_ROBOTS_BYTES].decode("utf-8", "replace")
    return RobotsTxt(Protego.parse(text), origin.rstrip("/"))
