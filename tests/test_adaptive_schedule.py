"""Adaptive schedules in the running scheduler: the next poll follows the learned rhythm within the
source's bounds and the site's cache headers, and what one instance learns the next one polls from."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.cadence import DAY, Rhythm
from monitor.leases import SourceLeases
from monitor.model import Source, SystemClock
from monitor.pipeline import PollResult
from monitor.planning import AdaptivePlan
from monitor.scheduler import Scheduler
from monitor.store import open_store
from monitor.store.base import Store

DEADLINE = 15.0


def adaptive(name: str, **bounds: float) -> Source:
    return Source(
        name=name,
        kind="feed",
        url=f"https://{name}.example/feed",
        interval=600.0,
        schedule="adaptive",
        **bounds,
    )


def learned(per_day: float, now: float) -> str:
    """A rhythm that saw ``per_day`` articles a day, spread evenly, for a week."""
    rhythm = Rhythm.new(now - 7 * DAY)
    for k in range(7 * 24):
        rhythm.observe(now - 7 * DAY + k * 3600.0, round(per_day / 24 * (k + 1)) - round(per_day / 24 * k))
    return rhythm.dumps()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = open_store(f"sqlite://{tmp_path}/s.db", retention=DAY, clock=SystemClock())
    await s.open()
    yield s
    await s.close()


async def run_once(store: Store, sources: tuple[Source, ...], results: dict[str, PollResult]) -> Scheduler:
    """Start a scheduler (with leases, as the daemon runs it) and wait until every source polled once."""
    polled: set[str] = set()
    done = asyncio.Event()

    async def poll(source: Source) -> PollResult:
        polled.add(source.name)
        if polled >= {s.name for s in sources}:
            done.set()
        return results.get(source.name, PollResult(source.name))

    leases = SourceLeases(store)
    await leases.start()
    plan = AdaptivePlan(store)
    scheduler = Scheduler(poll, leases=leases, plan=plan)
    scheduler.start(sources)
    await plan.load(time.time())
    async with asyncio.timeout(DEADLINE):
        await done.wait()
        # The next run is planned after the poll returns: wait for the last one.
        while len(scheduler.planned) < len(sources):  # noqa: ASYNC110 - set by the scheduler's job
            await asyncio.sleep(0.01)
    scheduler.pause()
    await leases.close()
    return scheduler


def next_gap(scheduler: Scheduler, name: str) -> float:
    return scheduler.planned[name] - time.time()


async def test_busy_sources_are_polled_sooner_than_quiet_ones_within_their_bounds(store: Store) -> None:
    now = time.time()
    await store.set_rhythm("busy", learned(300, now))
    # At every hour of the day: its gap may stretch past the interval only as far as the p95 guard lets
    # it (at most twice), as the busy source's articles wait little.
    await store.set_rhythm("daily", learned(24, now))
    await store.set_rhythm("quiet", learned(0.1, now))
    sources = (adaptive("busy"), adaptive("daily"), adaptive("quiet", max_interval=3000.0))
    scheduler = await run_once(store, sources, {})
    try:
        gaps = {s.name: next_gap(scheduler, s.name) for s in sources}
    finally:
        scheduler.shutdown()
    assert 60 - 2 <= gaps["busy"] < gaps["daily"] <= 2 * 600 < gaps["quiet"] <= 3000
    assert Rhythm.loads(await store.get_rhythm("busy") or "").rate(now) * DAY == pytest.approx(300, rel=0.2)


async def test_cache_headers_hold_the_next_poll_back_and_the_rhythm_is_stored(store: Store) -> None:
    now = time.time()
    await store.set_rhythm("busy", learned(300, now))
    results = {"busy": PollResult("busy", new_articles=2, not_before=now + 1800)}
    scheduler = await run_once(store, (adaptive("busy"),), results)
    try:
        assert next_gap(scheduler, "busy") > 1790  # max-age 1800 beats the learned ~1-minute gap
    finally:
        scheduler.shutdown()
    stored = Rhythm.loads(await store.get_rhythm("busy") or "")
    assert stored.not_before == now + 1800


async def test_another_instance_polls_on_from_what_the_first_learned(redis_url: str) -> None:
    clock = SystemClock()
    first = open_store(redis_url, retention=DAY, clock=clock)
    second = open_store(redis_url, retention=DAY, clock=clock)
    await first.open()
    await second.open()
    try:
        source = adaptive("wire")
        a, b = AdaptivePlan(first), AdaptivePlan(second)
        now = time.time()
        for plan in (a, b):
            plan.sync((source,), now)
        await a.observe(source, PollResult("wire", new_articles=5), now)
        learned_rate = a.rhythms["wire"].rate(now + 1)
        # b never polled "wire": its first poll reads the store, so it continues a's learning.
        await b.observe(source, PollResult("wire"), now + 1)
        assert b.rhythms["wire"].rate(now + 1) == pytest.approx(learned_rate, rel=1e-3)
    finally:
        await first.close()
        await second.close()


def test_the_documented_adaptive_source_is_a_valid_config(tmp_path: Path) -> None:
    """Adaptive is the default: the example does not say ``schedule``."""
    from monitor.config import parse_config

    doc = (Path(__file__).resolve().parents[1] / "docs" / "scheduling.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "rules").mkdir()
    config = parse_config(f'[rules]\npaths = ["{tmp_path / "rules"}"]\n{example}', tmp_path / "c.toml")
    (source,) = config.sources
    assert (source.schedule, source.interval, source.min_interval, source.max_interval) == (
        "adaptive",
        600.0,
        60.0,
        7200.0,
    )


def test_bounds_on_a_fixed_source_are_refused_naming_the_place(tmp_path: Path) -> None:
    from monitor.config import parse_config
    from monitor.errors import ConfigError

    (tmp_path / "rules").mkdir()
    source = (
        '[[sources]]\nname = "a"\nurl = "https://a.example/feed"\nschedule = "fixed"\nmin_interval = "1m"\n'
    )
    with pytest.raises(
        ConfigError, match=r"sources\[0\]\.min_interval.*schedule = \"adaptive\" \(the default\) only"
    ):
        parse_config(f'[rules]\npaths = ["{tmp_path / "rules"}"]\n{source}', tmp_path / "c.toml")
