"""The story-resolution algorithm (``Store.resolve_story``) as one contract: SQLite resolves in Python, Redis
in Lua, and both must turn the same inputs into the same story keys, at each threshold's edge too.

Fingerprints here are built by hand, so each case puts the containment, the sizes and the window exactly
where it wants them: ``variant(equal, size)`` shares its first ``equal`` signature values with ``BASE``
(whole bands when ``equal`` is even, so the band index finds the pair).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from monitor.fingerprint import (
    MIN_CONTAINMENT,
    MIN_SHINGLES,
    PERMUTATIONS,
    Fingerprint,
    containment,
    fingerprint,
    legacy_fingerprint,
)
from monitor.store import Store, StoryRef, open_store
from tests.helpers.clock import FakeClock
from tests.helpers.stores import RETENTION

if TYPE_CHECKING:
    from conftest import StoreFactory

WINDOW = 72 * 3600.0
BASE = tuple(1_000 + i for i in range(PERMUTATIONS))


def variant(equal: int, size: int, salt: int = 1) -> Fingerprint:
    """Shares its first ``equal`` values with ``BASE``; the rest are its own (per ``salt``)."""
    own = tuple(10_000_000 * salt + i for i in range(equal, PERMUTATIONS))
    return Fingerprint(BASE[:equal] + own, size)


# (equal values, size of the stored story, size of the newcomer): containment 0.5 needs J (a + b) =
# (1 + J) b / 2 with b the smaller size; J = 16/64 gives it at a = 1.5 b.
AT = (16, 1000, 1500)
JUST_BELOW = (16, 1000, 1499)
JUST_ABOVE = (16, 1000, 1501)


def test_the_edge_cases_sit_where_they_say() -> None:
    def c(case: tuple[int, int, int]) -> float:
        equal, stored, newcomer = case
        return containment(variant(PERMUTATIONS, stored), variant(equal, newcomer, salt=2))

    assert c(JUST_BELOW) < MIN_CONTAINMENT == c(AT) < c(JUST_ABOVE)
    assert c(JUST_ABOVE) - c(JUST_BELOW) < 0.001


@pytest.mark.parametrize(("case", "joins"), [(JUST_BELOW, False), (AT, True), (JUST_ABOVE, True)])
async def test_containment_threshold(store: Store, case: tuple[int, int, int], joins: bool) -> None:
    equal, stored, newcomer = case
    first = await store.resolve_story(variant(PERMUTATIONS, stored), "https://a.example/1", WINDOW)
    second = await store.resolve_story(variant(equal, newcomer, salt=2), "https://b.example/2", WINDOW)
    assert (second.key == first.key, second.new) == (joins, not joins)


@pytest.mark.parametrize(
    ("sizes", "joins"),
    [
        ((MIN_SHINGLES - 1, MIN_SHINGLES - 1), True),  # too short to compare by share: identical only
        ((MIN_SHINGLES - 1, MIN_SHINGLES + 5), False),  # one side short, same signature, other size
        ((MIN_SHINGLES, MIN_SHINGLES + 1), True),  # at the bound: compared by containment (1.0)
        ((MIN_SHINGLES + 1, MIN_SHINGLES + 2), True),
    ],
)
async def test_short_text_bound(store: Store, sizes: tuple[int, int], joins: bool) -> None:
    first = await store.resolve_story(variant(PERMUTATIONS, sizes[0]), "https://a.example/1", WINDOW)
    second = await store.resolve_story(variant(PERMUTATIONS, sizes[1]), "https://b.example/2", WINDOW)
    assert (second.key == first.key, second.new) == (joins, not joins)


@pytest.mark.parametrize(("after", "joins"), [(WINDOW - 1, True), (WINDOW, True), (WINDOW + 1, False)])
async def test_window_bound(store: Store, clock: FakeClock, after: float, joins: bool) -> None:
    first = await store.resolve_story(variant(PERMUTATIONS, 100), "https://a.example/1", WINDOW)
    clock.advance(after)
    copy = await store.resolve_story(variant(40, 100, salt=2), "https://b.example/2", WINDOW)
    assert (copy.key == first.key, copy.new) == (joins, not joins)
    clock.advance(1)  # the URL seen before keeps its story while that story is in the window
    again = await store.resolve_story(variant(PERMUTATIONS, 100), "https://a.example/1", WINDOW)
    assert again.key == (first.key if joins else copy.key)


async def test_equal_containment_goes_to_the_oldest_story(store: Store, clock: FakeClock) -> None:
    # Two stories, each sharing 32 values (other halves) with the newcomer, so equally close to it.
    older = await store.resolve_story(variant(32, 100, salt=2), "https://a.example/1", WINDOW)
    clock.advance(60)
    half = Fingerprint(tuple(20_000_000 + i for i in range(32)) + BASE[32:], 100)
    newer = await store.resolve_story(half, "https://b.example/2", WINDOW)
    assert older.new and newer.new
    both = await store.resolve_story(variant(PERMUTATIONS, 100), "https://c.example/3", WINDOW)
    assert both.key == older.key


async def test_equal_containment_and_age_goes_to_the_smaller_key(store: Store) -> None:
    one = await store.resolve_story(variant(32, 100, salt=2), "https://a.example/1", WINDOW)
    half = Fingerprint(tuple(20_000_000 + i for i in range(32)) + BASE[32:], 100)
    other = await store.resolve_story(half, "https://b.example/2", WINDOW)
    both = await store.resolve_story(variant(PERMUTATIONS, 100), "https://c.example/3", WINDOW)
    assert both.key == min(one.key, other.key)


async def test_a_new_story_whose_key_is_taken_gets_the_clock_second(store: Store, clock: FakeClock) -> None:
    fp = variant(PERMUTATIONS, 100)
    first = await store.resolve_story(fp, "https://a.example/1", WINDOW)
    clock.advance(WINDOW + 1)
    later = await store.resolve_story(fp, "https://b.example/2", WINDOW)
    assert later.new and later.key == f"{fp.key()}-{int(clock.time()):x}" != first.key


# A run of resolutions touching every rule at once: copies and near-copies at the thresholds, short
# texts, edits of a URL already seen, and time passing across the window.
SCRIPT: list[tuple[float, Fingerprint, str]] = [
    (0, variant(PERMUTATIONS, 1000), "a"),
    (10, variant(AT[0], AT[2], salt=2), "b"),  # containment exactly at the threshold: joins a
    (10, variant(JUST_BELOW[0], JUST_BELOW[2], salt=3), "c"),  # just below: a story of its own
    (0, variant(0, MIN_SHINGLES - 1, salt=4), "d"),
    (0, variant(0, MIN_SHINGLES - 1, salt=4), "e"),  # a short text, identical: joins d
    (60, variant(16, 1000, salt=5), "a"),  # an edit: a keeps its story, seen again now
    (WINDOW - 70, variant(40, 1000, salt=6), "f"),  # the edit kept a's story in the window
    (WINDOW, variant(24, 1000, salt=8), "g"),  # a's story last seen exactly one window ago
    (1, variant(0, MIN_SHINGLES - 1, salt=4), "h"),  # d's story is out: its key is taken
    (0, variant(24, 1000, salt=7), "i"),
]


async def resolutions(store: Store, clock: FakeClock) -> list[StoryRef]:
    out = []
    for after, fp, name in SCRIPT:
        clock.advance(after)
        out.append(await store.resolve_story(fp, f"https://{name}.example/", WINDOW))
    return out


async def test_sqlite_and_redis_resolve_the_same_inputs_to_the_same_stories(
    tmp_path: Path, redis_url: str
) -> None:
    found = []
    for url in (f"sqlite://{tmp_path}/store.db", redis_url):
        clock = FakeClock()
        store = open_store(url, retention=RETENTION, clock=clock)
        await store.open()
        try:
            found.append(await resolutions(store, clock))
        finally:
            await store.close()
    sqlite, redis = found
    assert sqlite == redis
    a, _, c, d, _, _, _, _, h, _ = sqlite
    assert [ref.key for ref in sqlite] == [a.key, a.key, c.key, d.key, d.key, *[a.key] * 3, h.key, a.key]
    assert len({a.key, c.key, d.key, h.key}) == 4 and h.key.startswith(d.key + "-")


async def test_every_instance_sees_one_resolution(make_store: StoreFactory, clock: FakeClock) -> None:
    first, second = await make_store(), await make_store()
    story = await first.resolve_story(variant(PERMUTATIONS, 1000), "https://a.example/1", WINDOW)
    copy = await second.resolve_story(variant(AT[0], AT[2], salt=2), "https://b.example/2", WINDOW)
    assert (copy.key, copy.urls, copy.new) == (story.key, ("https://a.example/1",), False)


# -- real texts ---------------------------------------------------------------------------------------------
STORY = " ".join(
    f"Sentence {i} of the wire report says Ukraine fired missiles at a depot in region {i}."
    for i in range(30)
)
COPY = "By Jane Doe, Associated Press. " + STORY + " Copyright 2024. All rights reserved. Read more news."
OTHER = " ".join(
    f"Paragraph {i} covers the central bank, inflation and interest rate {i}." for i in range(30)
)


async def test_resolve_story_groups_copies(make_store: StoreFactory, clock: FakeClock) -> None:
    first, second = await make_store(), await make_store()
    fp = fingerprint(STORY)
    story = await first.resolve_story(fp, "https://a.example/1", WINDOW)
    assert (story.key, story.urls, story.new) == (fp.key(), (), True)

    clock.advance(3600)
    copy = await second.resolve_story(fingerprint(COPY), "https://b.example/2", WINDOW)
    assert (copy.key, copy.urls, copy.new) == (story.key, ("https://a.example/1",), False)
    again = await first.resolve_story(fingerprint(COPY), "https://b.example/2", WINDOW)
    assert (again.key, again.urls, again.new) == (story.key, ("https://a.example/1",), False)
    third = await first.resolve_story(fingerprint(STORY[:-40]), "https://c.example/3", WINDOW)
    assert third.urls == ("https://a.example/1", "https://b.example/2")
    assert await second.story_urls(story.key) == [f"https://{c}.example/{i}" for i, c in enumerate("abc", 1)]
    assert await second.story_urls("unknown") == []


async def test_a_story_from_before_the_fingerprint_upgrade_is_found_and_upgraded(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    first, second = await make_store(), await make_store()
    # What the previous version left: a story under its fingerprint's bands.
    before = await first.resolve_story(legacy_fingerprint(STORY), "https://a.example/1", WINDOW)
    clock.advance(3600)
    assert await second.legacy_stories_seen() >= clock.time() - 3600
    copy = await second.resolve_story(
        fingerprint(COPY), "https://b.example/2", WINDOW, legacy_fingerprint(COPY)
    )
    assert (copy.key, copy.urls, copy.new) == (before.key, ("https://a.example/1",), False)
    # From then on it is the new algorithm's story: found without the old fingerprint, by any instance.
    later = await first.resolve_story(fingerprint(STORY[:-40]), "https://c.example/3", WINDOW)
    assert (later.key, later.new) == (before.key, False)


async def test_without_its_old_fingerprint_a_copy_misses_a_story_from_before(store: Store) -> None:
    assert await store.legacy_stories_seen() == 0.0  # a store with no such story: no lookups
    await store.resolve_story(legacy_fingerprint(STORY), "https://a.example/1", WINDOW)
    assert (await store.resolve_story(fingerprint(COPY), "https://b.example/2", WINDOW)).new


async def test_resolve_story_different_text_is_a_new_story(store: Store) -> None:
    await store.resolve_story(fingerprint(STORY), "https://a.example/1", WINDOW)
    other = await store.resolve_story(fingerprint(OTHER), "https://b.example/2", WINDOW)
    assert (other.key, other.urls, other.new) == (fingerprint(OTHER).key(), (), True)
    short = fingerprint("Breaking: missiles hit depot")
    assert (await store.resolve_story(short, "https://e.example/5", WINDOW)).new
    assert not (await store.resolve_story(short, "https://f.example/6", WINDOW)).new  # identical text
    shorter = fingerprint("Breaking: missiles hit a depot")
    assert (await store.resolve_story(shorter, "https://g.example/7", WINDOW)).new


async def test_resolve_story_prefers_the_closest_story(store: Store, clock: FakeClock) -> None:
    # A third of the story's words: its shingles are 0.37 of the shorter text's (half would be 0.53,
    # too near the 0.5 threshold for a 64-value estimate).
    third = " ".join(STORY.split()[: len(STORY.split()) // 3])
    older = await store.resolve_story(fingerprint(third + " " + OTHER), "https://a.example/1", WINDOW)
    clock.advance(60)
    closer = await store.resolve_story(fingerprint(STORY), "https://b.example/2", WINDOW)
    assert older.new and closer.new  # a third's overlap is not one story...
    copy = await store.resolve_story(fingerprint(COPY), "https://c.example/3", WINDOW)
    assert copy.key == closer.key  # ...and the copy joins the story it overlaps most


async def test_an_edited_article_keeps_its_story(store: Store, clock: FakeClock) -> None:
    story = await store.resolve_story(fingerprint(STORY), "https://a.example/1", WINDOW)
    clock.advance(600)
    edited = await store.resolve_story(fingerprint(OTHER), "https://a.example/1", WINDOW)
    assert (edited.key, edited.urls, edited.new) == (story.key, (), False)
    clock.advance(WINDOW + 1)  # out of the window, the URL starts afresh
    assert (await store.resolve_story(fingerprint(OTHER), "https://a.example/1", WINDOW)).new


async def test_resolve_story_window_slides_and_expires(store: Store, clock: FakeClock) -> None:
    first = await store.resolve_story(fingerprint(STORY), "https://a.example/1", WINDOW)
    clock.advance(WINDOW - 1)
    # Seen again just inside the window: the window now runs from here.
    assert (await store.resolve_story(fingerprint(COPY), "https://b.example/2", WINDOW)).key == first.key
    clock.advance(WINDOW - 1)
    assert (await store.resolve_story(fingerprint(STORY), "https://c.example/3", WINDOW)).key == first.key

    clock.advance(WINDOW + 1)
    late = await store.resolve_story(fingerprint(COPY), "https://d.example/4", WINDOW)
    assert (late.key, late.urls, late.new) == (fingerprint(COPY).key(), (), True)

    clock.advance(WINDOW + 1)
    same = await store.resolve_story(fingerprint(STORY), "https://e.example/5", WINDOW)
    assert same.new is True
    assert same.key not in (first.key, late.key)
    assert same.key.startswith(first.key)


async def test_resolve_story_keeps_a_bounded_url_list(store: Store) -> None:
    urls = [f"https://site{i}.example/story" for i in range(60)]
    fp = fingerprint(STORY)
    for url in urls:
        ref = await store.resolve_story(fp, url, WINDOW)
    assert ref.urls == tuple(urls[:50])
    assert len((await store.resolve_story(fp, urls[0], WINDOW)).urls) == 49
