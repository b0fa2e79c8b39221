"""The exception tree. Library errors are translated where they enter, with ``raise ... from exc``.

NewsmonError
 +-- ConfigError          bad config file (names file, key path, reason)
 +-- RuleError            bad rule file(s); carries every problem found
 +-- FetchError           a URL could not be fetched (timeout, size cap, HTTP status, refused URL)
 |    +-- TooLarge
 |    +-- Refused         scheme not allowed, private address, robots.txt
 +-- ParseError           a feed / sitemap / listing / page could not be understood
 +-- StoreError           the store is unreachable or failed an operation
 +-- DeliveryError        a notifier could not deliver (retryable unless ``permanent``)
"""

from __future__ import annotations

from dataclasses import dataclass


class NewsmonError(Exception):
    """Base of every error newsmon raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem in an input file, printed as ``path:line:col: message``."""

    path: str
    line: int
    col: int
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}:{self.col}: {prefix}{self.message}"


class ConfigError(NewsmonError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class MatchTimeout(NewsmonError):
    """An article on which a regular-expression term ran past the matching budget."""

    def __init__(self, pattern: str, budget: float) -> None:
        self.pattern = pattern
        super().__init__(f"regular expression {pattern!r} ran past the {budget:g}s matching budget")


class RuleError(NewsmonError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class FetchError(NewsmonError):
    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        self.url = url
        self.reason = reason
        self.status = status
        super().__init__(f"{url}: {reason}")


class TooLarge(FetchError):
    pass


class Refused(FetchError):
    pass


class ParseError(NewsmonError):
    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class StoreError(NewsmonError):
    pass


class DeliveryError(NewsmonError):
    def __init__(self, reason: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent
        super().__init__(reason)
