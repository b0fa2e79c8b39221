"""Dates as the web writes them: one parser for pages, feeds and sitemaps, one for Retry-After.

Every result is an aware datetime in UTC. A value without an offset is read as UTC: pages, feeds and
sitemaps rarely mean the server's local time, and a consistent rule beats a guess.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

__all__ = ["parse_date", "parse_retry_after"]

# Forms datetime.fromisoformat refuses: "2024-05-03T15:47+0200", lower-case "t"/"z", 1-digit parts.
_ISO_LOOSE = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?\s*"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)
# Month abbreviations of the languages whose feeds put localized names in RFC 822 dates (pt, es, fr,
# de, it, nl), which the e-mail date parser rejects: "Seg, 24 Set 2018 19:42:40 -0300".
_MONTH_ROWS = (
    "jan feb mar apr may jun jul aug sep oct nov dec",
    "jan fev mar abr mai jun jul ago set out nov dez",
    "ene feb mar abr may jun jul ago sep oct nov dic",
    "jan fév mar avr mai jui jul aoû sep oct nov déc",
    "jan feb mär apr mai jun jul aug sep okt nov dez",
    "gen feb mar apr mag giu lug ago set ott nov dic",
    "jan feb maa apr mei jun jul aug sep okt nov dec",
)
_MONTHS = {name: i for row in _MONTH_ROWS for i, name in enumerate(row.split(), 1)}
_MONTHS.update({"mrz": 3, "juin": 6, "juil": 7, "sept": 9})
_RFC822_LOOSE = re.compile(
    r"(\d{1,2})\.?\s+([^\W\d_]{3,4})\w*\.?\s+(\d{2,4})\s+(\d{1,2}):?(\d{2})(?::(\d{2}))?"
    r"\s*(?:([+-])(\d{2}):?(\d{2}))?",
)


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _offset(sign: str | None, hours: str | None, minutes: str | None) -> timedelta:
    if not sign or hours is None or minutes is None:
        return timedelta(0)
    return timedelta(minutes=(int(hours) * 60 + int(minutes)) * (1 if sign == "+" else -1))


def _iso(text: str) -> datetime | None:
    """W3C datetime / RFC 3339 / ISO 8601 (``2024-05-03``, ``2024-05-03T15:47Z``, ``...+02:00``)."""
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        pass
    m = _ISO_LOOSE.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, _z, sign, oh, om = m.groups()
    try:
        dt = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) - _offset(sign, oh, om)


def _rfc822(text: str) -> datetime | None:
    """RFC 822 / RFC 5322 / HTTP-date (``Tue, 01 Oct 2024 10:00:00 GMT``)."""
    try:
        return _utc(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _rfc822_loose(text: str) -> datetime | None:
    """RFC 822-ish dates with localized month names or ``1500`` times; a named zone reads as UTC."""
    m = _RFC822_LOOSE.search(text)
    if m is None:
        return None
    day, mon, year, hour, minute, second, sign, oh, om = m.groups()
    month = _MONTHS.get(mon.lower()[:4]) or _MONTHS.get(mon.lower()[:3])
    if month is None:
        return None
    y = int(year)
    y = y + 2000 if y < 70 else y + 1900 if y < 100 else y
    try:
        dt = datetime(y, month, int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC)
    except ValueError:
        return None
    return dt - _offset(sign, oh, om)


def parse_date(text: str | None) -> datetime | None:
    """ISO 8601 (what nearly every page, JSON feed and sitemap uses), RFC 822, then RFC 822 with
    localized month names; None for anything else."""
    if not text:
        return None
    text = " ".join(text.split())
    if not text:
        return None
    return _iso(text) or _rfc822(text) or _rfc822_loose(text)


def parse_retry_after(value: str | None, now: float, date: str | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110 10.2.3), or None when it says nothing usable.

    delay-seconds is digits only (no sign, fraction or "inf"). An HTTP-date is measured against the
    response's own Date header when there is one, so a server with a skewed clock still means what it
    says; against ``now`` (epoch seconds) otherwise.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    when = _rfc822(value)
    if when is None:
        return None
    reference = _rfc822(date) if date else None
    base = reference.timestamp() if reference is not None else now
    return max(0.0, when.timestamp() - base)
