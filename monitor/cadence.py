"""When to poll each source next: learn its publication rhythm, spend a global request budget where
articles are likely (docs/scheduling.md has the derivation).

A source publishing at rate ``λ`` (articles per second) and polled every ``T`` seconds waits ``T/2`` on
average per article. Minimising the total expected delay ``Σ λ_i T_i / 2`` under the request budget
``Σ 1/T_i = B`` gives the square-root rule ``T_i = c / sqrt(λ_i)``; ``c`` is the one number that makes
the budget hold once every ``T_i`` is clamped into its bounds. ``B`` is what fixed polling would spend
(``Σ 1/interval_i``), so adaptive polling sends the same traffic, only to different sources. A source
expected to publish daily or more is never polled slower than its ``interval`` (the delay tail stays
where fixed polling has it): the busy sources are paid for by the quiet ones.

``Rhythm`` is one source's learned state, O(1) to update and to query and small enough to keep in the
store for every source: a decayed count of new articles per hour of day (day/night), the decayed time
observed (so a quiet source's rate falls), a self-exciting burst term (breaking news comes in runs), and
what the site itself asks for (``Cache-Control: max-age``, ``Expires``, ``Retry-After``, a feed's
``ttl`` and ``skipHours``), which no schedule undercuts.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

HOUR = 3600.0
DAY = 24 * HOUR
MEMORY = 14 * DAY  # time constant of the forgetting: a source that changed its habits is re-learned
PRIOR_ARTICLES = 1.0  # before anything is seen, a source is assumed to publish once a ...
PRIOR_SECONDS = 6 * HOUR  # ... day, a belief worth a quarter of an observed day
HARMONICS = 1  # Fourier terms of the day's profile: a daily peak and trough
PROFILE_FLOOR = 0.15  # no hour's rate is set below this fraction of the day's mean
BURST_GAIN = 0.5  # each new article raises the rate by this many expected follow-ups ...
BURST_TIME = 1800.0  # ... over this time constant (seconds)
MAX_FLOOR = 7 * DAY  # a cache header or ttl beyond this is treated as this (a misconfigured site)
EXPONENT = 0.5  # T = c / rate**EXPONENT: the square-root rule, which minimises the mean delay
ACTIVE_PER_DAY = 1.0  # a source expected to publish at least this often is never polled slower than fixed
LATE_SHARE = 0.05  # the p95 guard: at most this share of articles waits longer than fixed polling's p95, ...
LATE_AT = 0.95  # ... which is this fraction of the interval (fixed polling's wait is uniform up to it)
SLACK_SAMPLE = 2000  # sources the p95 guard is planned on (an even sample of them) ...
SLACK_STEPS = 8  # ... to this many halvings of [1, 2]
CORRECTION_GAIN = 0.2  # how fast measured spending pulls the plan back onto the budget
MIN_RATE = 1e-9  # articles per second: keeps the square root finite for a source never seen to publish

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


# cos and sin of each harmonic k at the middle of each UTC hour h
_COS = [[math.cos(2 * math.pi * k * (h + 0.5) / 24) for h in range(24)] for k in range(HARMONICS + 2)]
_SIN = [[math.sin(2 * math.pi * k * (h + 0.5) / 24) for h in range(24)] for k in range(HARMONICS + 2)]


def _hour(t: float) -> int:
    return int(t // HOUR) % 24


@dataclass(slots=True)
class Rhythm:
    """One source's publication rhythm, as observed by its polls (times are Unix seconds)."""

    since: float  # when observation began
    updated: float  # time the decayed counts below refer to
    hours: list[float] = field(default_factory=lambda: [0.0] * 24)  # decayed new articles per UTC hour
    burst: float = 0.0  # decayed count of recent articles (time constant BURST_TIME), as of burst_at
    burst_at: float = 0.0
    not_before: float = 0.0  # the site asked not to be fetched again before this time
    skip_hours: tuple[int, ...] = ()  # UTC hours a feed's skipHours asks to leave alone

    @classmethod
    def new(cls, now: float) -> Rhythm:
        return cls(since=now, updated=now, burst_at=now)

    def observe(self, now: float, new_articles: int) -> None:
        """A poll at ``now`` found ``new_articles`` (0 is an observation too: time passes)."""
        if now > self.updated:
            keep = math.exp(-(now - self.updated) / MEMORY)
            self.hours = [c * keep for c in self.hours]
            self.updated = now
        if new_articles:
            self.hours[_hour(now)] += new_articles
            self.burst = self.burst * math.exp(-max(0.0, now - self.burst_at) / BURST_TIME) + new_articles
            self.burst_at = now

    def _day(self, t: float) -> tuple[float, float]:
        """(articles per second averaged over the day, the hourly counts' decay factor) as of ``t``."""
        keep = math.exp(-max(0.0, t - self.updated) / MEMORY)
        # Time observed, decayed the same way as the counts: integral of exp(-(t-s)/MEMORY) since `since`.
        exposure = MEMORY * -math.expm1(-max(0.0, t - self.since) / MEMORY)
        return (sum(self.hours) * keep + PRIOR_ARTICLES) / (exposure + PRIOR_SECONDS), keep

    def _shares(self) -> list[float]:
        """Each UTC hour's expected share of the day's articles: the hourly counts' first ``HARMONICS``
        Fourier terms, each shrunk by how much of its measured strength sampling noise alone would give
        (a few articles do not make a profile), floored so no hour is written off."""
        counts = self.hours
        n = sum(counts)
        shape = [1.0] * 24
        if n > 1:
            for k in range(1, HARMONICS + 1):
                a = sum(c * _COS[k][h] for h, c in enumerate(counts)) / n
                b = sum(c * _SIN[k][h] for h, c in enumerate(counts)) / n
                power = a * a + b * b
                # E|mean of n unit phasors|^2 = rho^2 + (1 - rho^2) / n: keep the part noise cannot explain
                signal = max(0.0, (n * power - 1) / (n - 1))
                if signal > 0:
                    gain = 2 * math.sqrt(signal / power)
                    for h in range(24):
                        shape[h] += gain * (a * _COS[k][h] + b * _SIN[k][h])
        shape = [max(PROFILE_FLOOR, v) for v in shape]
        total = sum(shape)
        return [v / total for v in shape]

    def profile(self, t: float) -> list[float]:
        """Expected new articles per second in each UTC hour of the day, as learned by ``t`` (no burst)."""
        base = self._day(t)[0] * 24
        return [max(MIN_RATE, base * share) for share in self._shares()]

    def rate(self, t: float) -> float:
        """Expected new articles per second at time ``t``: the hour's rate plus the burst term."""
        burst = BURST_GAIN / BURST_TIME * self.burst * math.exp(-max(0.0, t - self.burst_at) / BURST_TIME)
        return max(MIN_RATE, self._day(t)[0] * 24 * self._shares()[_hour(t)]) + burst

    def active(self, t: float) -> bool:
        """Expected to publish at least ``ACTIVE_PER_DAY`` articles a day, whatever the hour."""
        return self._day(t)[0] * DAY >= ACTIVE_PER_DAY

    def allowed(self, t: float) -> float:
        """The earliest time at or after ``t`` the site allows a poll (cache headers, skipHours)."""
        t = max(t, self.not_before)
        for _ in range(24):
            if _hour(t) not in self.skip_hours:
                break
            t = (t // HOUR + 1) * HOUR
        return t

    def dumps(self) -> str:
        return json.dumps(
            {
                "since": self.since,
                "updated": self.updated,
                "hours": [round(c, 4) for c in self.hours],
                "burst": round(self.burst, 4),
                "burst_at": self.burst_at,
                "not_before": self.not_before,
                "skip_hours": list(self.skip_hours),
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str) -> Rhythm:
        data: dict[str, Any] = json.loads(text)
        hours = [float(c) for c in data["hours"]]
        if len(hours) != 24:
            raise ValueError(f"expected 24 hourly counts, got {len(hours)}")
        return cls(
            since=float(data["since"]),
            updated=float(data["updated"]),
            hours=hours,
            burst=float(data["burst"]),
            burst_at=float(data["burst_at"]),
            not_before=float(data["not_before"]),
            skip_hours=tuple(int(h) for h in data["skip_hours"]),
        )


def fresh_until(headers: Mapping[str, str], now: float) -> float | None:
    """Until when a response says it stays fresh (``Cache-Control: max-age``, else ``Expires``), capped
    at ``MAX_FLOOR``; None when it says nothing or forbids caching."""
    control = headers.get("Cache-Control", "")
    if re.search(r"no-cache|no-store", control, re.IGNORECASE):
        return None
    found = _MAX_AGE.search(control)
    if found:
        age = _int(headers.get("Age")) or 0
        return now + min(MAX_FLOOR, max(0, int(found.group(1)) - age))
    expires = headers.get("Expires")
    if expires:
        try:
            when = email.utils.parsedate_to_datetime(expires).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None  # "Expires: 0" and other invalid dates mean "already expired"
        date = headers.get("Date")
        if date:  # the server's clock: Expires is relative to its Date, not to ours
            with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
                when += now - email.utils.parsedate_to_datetime(date).timestamp()
        return min(now + MAX_FLOOR, when) if when > now else None
    return None


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


@dataclass(slots=True, frozen=True)
class Bounds:
    """A source's configured schedule: ``interval`` is its share of the budget (what fixed polling
    spends on it) and the first gap before anything is learned; polls stay within [lower, upper]."""

    interval: float
    lower: float
    upper: float


class Planner:
    """The square-root rule over every adaptive source and every hour of the day, under the budget
    their intervals make."""

    def __init__(self, bounds: Mapping[str, Bounds]) -> None:
        self.bounds = dict(bounds)
        self.budget = sum(1.0 / b.interval for b in self.bounds.values())  # requests per second
        self.scale: float | None = None  # c in T = c / rate**EXPONENT; None until the first refresh
        self.slack = 1.0  # active sources' gaps may stretch this far past their fixed share (the p95 guard)
        # Rates read at poll time run above the hour's (a poll that finds articles raises the burst
        # term), so plans overspend slightly; the polls actually made correct for that.
        self.correction = 1.0
        self._polls = 0
        self._planned = 0.0  # requests per second the last plan expected of this instance's sources
        self._since: float | None = None
        self._caps: dict[str, Any] = {}  # source -> its longest gap in each hour of the day

    def polled(self, name: str) -> None:
        self._polls += 1

    def refresh(self, rhythms: Mapping[str, Rhythm], now: float, mine: Set[str] | None = None) -> float:
        """Find ``c`` so that the clamped gaps spend exactly the budget on average over the day at
        the learned hourly rates (bisection on log c: the spend falls as c grows): one ``c`` for the
        whole day moves requests to the hours articles come in, not only to the sources. ``mine``:
        the sources this instance polls (default all), whose polls measure the overspend."""
        import numpy as np

        names = list(self.bounds)
        if not names:
            self.scale = None
            return 0.0
        if self._since is not None and now > self._since and self._polls >= 20 and self._planned > 0:
            # A moving average of planned over actual, not an integral: at times no ``c`` can change
            # the spend (every source at a bound), and an integral would wind up meanwhile.
            ratio = self._planned / (self._polls / (now - self._since))
            self.correction = min(
                2.0, max(0.5, self.correction ** (1 - CORRECTION_GAIN) * ratio**CORRECTION_GAIN)
            )
        if self._since is None or self._polls >= 20:
            self._since, self._polls = now, 0
        prior = [PRIOR_ARTICLES / PRIOR_SECONDS] * 24
        rates = np.maximum(
            MIN_RATE, np.array([rhythms[n].profile(now) if n in rhythms else prior for n in names])
        )
        roots = rates**EXPONENT
        lower = np.array([self.bounds[n].lower for n in names])[:, None]
        top = np.array([self.bounds[n].upper for n in names])[:, None]
        interval = np.array([self.bounds[n].interval for n in names])[:, None]
        # An active source spends at least its fixed share of requests, spread over the day by the same
        # rule: k / sqrt(rate at that hour), k such that the day's polls are those of fixed polling.
        # Planned against the corrected budget like every gap, or a correction below 1 would leave the
        # active sources' floors alone above the budget (no ``c`` then meets it).
        own = np.clip(interval / self.correction * roots.mean(axis=1, keepdims=True) / roots, lower, top)
        active = rates.mean(axis=1, keepdims=True) * DAY >= ACTIVE_PER_DAY
        self.slack = _slack(rates, roots, lower, top, interval, own, active, self.correction)
        upper = np.where(active, np.minimum(own * self.slack, top), top)
        self._caps = dict(zip(names, upper, strict=True))
        self.scale = scale = _scale(roots, lower, upper, self.budget * self.correction)
        hour = _hour(now)
        polled = [i for i, n in enumerate(names) if mine is None or n in mine]
        self._planned = float(
            (1.0 / np.clip(scale / roots[polled, hour], lower[polled, 0], upper[polled, hour])).sum()
        )
        return scale

    def gap(self, name: str, rhythm: Rhythm, now: float) -> float:
        """Seconds from a poll of ``name`` at ``now`` to its next one, at the current rate estimate."""
        b = self.bounds[name]
        if self.scale is None:
            return b.interval
        caps = self._caps.get(name)
        upper = b.upper if caps is None else float(caps[_hour(now)])
        return min(upper, max(b.lower, float(self.scale / rhythm.rate(now) ** EXPONENT)))


def _scale(roots: Any, lower: Any, upper: Any, budget: float) -> float:
    """The ``c`` whose clamped gaps spend ``budget`` requests per second on average over the day
    (bisection on log c: the spend falls as c grows)."""
    import numpy as np

    lo, hi = 1e-6, 1e9
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if (1.0 / np.clip(mid / roots, lower, upper)).sum(axis=0).mean() > budget:
            lo = mid
        else:
            hi = mid
    return hi


def _slack(
    rates: Any, roots: Any, lower: Any, top: Any, interval: Any, own: Any, active: Any, correction: float
) -> float:
    """How far active sources may stretch their gaps past their fixed share (a factor on ``own``) while
    the articles expected to wait longer than fixed polling's p95 stay within its 5%: an article meeting
    a gap ``T`` waits longer than ``x`` with chance ``max(0, 1 - x / T)``. Each candidate is planned in
    full (its own ``c``: what the stretched sources give up goes to the others), on an even sample of
    the sources: the slack is one number for all, and a sample estimates it as well."""
    import numpy as np

    step = max(1, len(rates) // SLACK_SAMPLE)
    rates, roots, lower, top, interval, own, active = (
        x[::step] for x in (rates, roots, lower, top, interval, own, active)
    )
    budget = float((1.0 / interval).sum()) * correction
    late_at = LATE_AT * interval

    def late(slack: float) -> float:
        upper = np.where(active, np.minimum(own * slack, top), top)
        gaps = np.clip(_scale(roots, lower, upper, budget) / roots, lower, upper)
        return float((rates * np.maximum(0.0, 1 - late_at / gaps)).sum() / rates.sum())

    lo, hi = 1.0, 2.0  # no further: past twice its fixed share a source's own tail is most of its articles
    if late(lo) >= LATE_SHARE:
        return lo
    for _ in range(SLACK_STEPS):
        mid = (lo + hi) / 2
        if late(mid) <= LATE_SHARE:
            lo = mid
        else:
            hi = mid
    return lo


def feed_hints(body: bytes, now: float) -> tuple[float | None, tuple[int, ...]]:
    """An RSS 2.0 channel's ``<ttl>`` (minutes) as a not-before time and its ``<skipHours>`` as UTC
    hours; (None, ()) for anything else, including a body lxml cannot read."""
    import lxml.etree

    parser = lxml.etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    try:
        root = lxml.etree.fromstring(body, parser)
    except (lxml.etree.XMLSyntaxError, ValueError):
        return None, ()
    if root is None or root.tag != "rss":
        return None, ()
    until = None
    minutes = _int(root.findtext("channel/ttl"))
    if minutes:
        until = now + min(MAX_FLOOR, 60.0 * minutes)
    found = (_int(h.text) for h in root.iterfind("channel/skipHours/hour"))
    return until, tuple(sorted({h for h in found if h is not None and 0 <= h <= 23}))


MIN_SHARE = 10.0  # by default a source is polled at most this many times as often as its interval says ...
MAX_SHARE = 8.0  # ... and at least once per this many intervals
FLOOR = 60.0  # seconds: the default lower bound never goes below this, however short the interval


def default_bounds(interval: float, lower: float | None = None, upper: float | None = None) -> Bounds:
    """``min_interval``/``max_interval`` as configured, else derived from the interval."""
    low = lower if lower is not None else min(interval, max(FLOOR, interval / MIN_SHARE))
    high = upper if upper is not None else interval * MAX_SHARE
    return Bounds(interval=interval, lower=low, upper=max(low, high))
