"""Backtests and backfills over the article archive, against what the live daemon does with the same
articles and rules: a real news site, the real pipeline, SQLite and a real redis-server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import re2
import redis.asyncio as aioredis
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor import backtest as backtest_module
from monitor.archive import ArchivedArticle, _payload, decode_payload, payload_language
from monitor.backfill import Backfiller
from monitor.backtest import BacktestResult, backtest
from monitor.config import AlertsConfig, ArchiveConfig
from monitor.matching import prefilter as prefilter_module
from monitor.matching.engine import Engine
from monitor.matching.prefilter import Prefilter, probe_text
from monitor.matching.rules import Rule, rules_from_text
from monitor.model import Hit
from monitor.pipeline import alert_id
from monitor.service import Service
from monitor.store import ArchivePolicy, open_store
from monitor.store.base import Store
from monitor.store.redis import archive as redis_archive
from monitor.store.sqlite import archive as sqlite_archive
from tests.helpers.clock import FakeClock
from tests.helpers.e2e_world import ATACMS, HARVEST, NK, RULES, World, poll_all, world

__all__ = ["world"]  # a fixture, imported for pytest

DAY = 86400.0
ATACMS_COPY = ("Kursk depot hit by ATACMS, officials say", ATACMS[1])  # the same story, another page


async def live_alert_ids(store: Store) -> set[str]:
    return {d.alert_id for d in await store.deliveries()}


async def test_backtest_equals_what_the_live_daemon_alerted(world: World) -> None:
    config = dataclasses.replace(
        world.config,
        alerts=dataclasses.replace(world.config.alerts, first_run="alert"),
        archive=ArchiveConfig(enabled=True),
    )
    old = datetime.now(UTC) - timedelta(days=3)
    world.site.publish("atacms-kursk", ATACMS)
    world.site.publish("harvest", HARVEST)
    world.site.articles["stale-nk"] = (*NK, old)  # older than max_age when found: the daemon skips it
    service = Service(config, clock=world.clock)
    await service.start()
    try:
        assert await poll_all(service) == 1
        world.clock.now += 3600
        world.site.publish("atacms-copy", ATACMS_COPY)  # joins the story already alerted
        world.site.publish("nk-soldiers", NK)
        assert await poll_all(service) == 1
        assert service.store is not None
        live = await live_alert_ids(service.store)
        rules = rules_from_text(RULES).rules
        result = await backtest(
            service.store, rules, world.clock.now - DAY, world.clock.now + 1, alerts=config.alerts
        )
    finally:
        await service.stop()
    assert result.articles == 5  # every article the rules saw, the stale one included
    assert {alert_id(a.rule_id, a.story_key) for a in result.alerts} == live
    assert len(live) == 2
    atacms = result.rules["atacms-in-russia"]
    assert (atacms.alerts, atacms.matched) == (1, 2)  # the copy is deduplicated by story
    assert result.never_fired == []


def record(
    n: int, at: float, body: str, *, source: str = "wire", story: str | None = None
) -> ArchivedArticle:
    return ArchivedArticle(
        url=f"https://news.example/{n}",
        source=source,
        title=f"Article {n}",
        body=body,
        detected_at=at,
        story_key=story,
    )


async def archive(store: Store, records: list[ArchivedArticle]) -> None:
    await store.mark_seen({r.url: "" for r in records}, records)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> Store:
    store = open_store(f"sqlite://{tmp_path}/s.db", retention=30 * DAY, clock=FakeClock(NOW))
    await store.open()
    yield store  # type: ignore[misc]
    await store.close()


NOW = 1_800_000_000.0


async def test_backtest_applies_realert_and_counts_per_day_and_source(sqlite_store: Store) -> None:
    start = NOW - 6 * DAY
    text = "Zaporizhzhia nuclear plant lost external power again, the IAEA said on {}."
    records = [
        record(i, start + i * DAY / 2, text.format(i), source="wire" if i % 2 else "local", story="zpp")
        for i in range(10)
    ]
    await archive(sqlite_store, records)
    rules = rules_from_text(
        "rules:\n  - {id: zpp, all: [Zaporizhzhia, IAEA], realert: 2d}\n  - {id: never, any: [Atlantis]}\n"
    ).rules
    result = await backtest(sqlite_store, rules, start, NOW, examples=2)
    report = result.rules["zpp"]
    # One story: the first match alerts, then again each time two days have passed since the last alert.
    assert [a.article.url for a in result.alerts] == [records[i].url for i in (0, 4, 8)]
    assert (report.alerts, report.matched) == (3, 10)
    assert sum(report.per_day.values()) == 3 and len(report.per_day) == 3
    assert report.by_source == {"local": 3}
    assert [e.hits is not None for e in report.examples] == [True, True]
    assert result.alerts[2].hits is None  # beyond the examples, no snippets were worked out
    assert result.never_fired == ["never"]
    # Its repr names the alerts' count, not each alert: asyncio.run reprs the finished task.
    assert repr(result).endswith(f"alerts=3, seconds={result.seconds:.2f})") and len(repr(result)) < 200


async def test_backtest_window_and_source_filter(sqlite_store: Store) -> None:
    now = NOW
    await archive(
        sqlite_store,
        [
            record(1, now - 10 * DAY, "Kursk offensive"),
            record(2, now - DAY, "Kursk offensive continues", source="blog"),
            record(3, now - DAY / 2, "Kursk offensive stalls"),
        ],
    )
    rules = rules_from_text("rules:\n  - {id: k, all: [Kursk, offensive]}\n").rules
    result = await backtest(sqlite_store, rules, now - 7 * DAY, now)
    assert result.articles == 2 and [a.article.url for a in result.alerts] == [
        "https://news.example/2",
        "https://news.example/3",
    ]
    only_wire = await backtest(sqlite_store, rules, now - 7 * DAY, now, source="wire")
    assert [a.article.url for a in only_wire.alerts] == ["https://news.example/3"]


# Texts where what ``normalize`` does to letters decides whether a term occurs.
TRICKY = [
    "Ka\u00adzakh troops",  # a soft hyphen inside the word
    "\uff2b\uff35\uff32\uff33\uff2b attack",  # fullwidth KURSK
    "KURSK's defences",
    "two cities fell",
    "The U.S. said",
    "中国人民",
    "Straße closed",
    "drone-attack on Kyiv",
    "NATO",
    "sanctions\u2019 effect",
    "North-Korean troops crossed",  # a phrase's words apart by other than one space
    "north korean\n\ntroops",
    "Public Health: “Dragonflies’” ­season",
    "中国北京",
    "KURSK’s",
]
TRICKY_RULES = """
rules:
  - {id: kazakh, any: [Kazakh]}
  - {id: kursk, any: [Kursk]}
  - {id: city, any: [city]}
  - {id: us, any: [U.S.]}
  - {id: china, any: [中国]}
  - {id: strasse, any: [straße]}
  - {id: drone, any: [drone attack]}
  - {id: nato, any: [NATO]}
  - {id: sanction, all: [sanction, {re: 'eff\\w+'}]}
  - {id: nk, any: [North Korean troops]}
  - {id: health, all: [public health, dragonfly]}
  - {id: cafe, any: [café, İzmir]}
  - {id: qj, any: [qj wave]}
"""


@pytest.mark.parametrize("text", TRICKY)
def test_prefilter_never_drops_what_the_engine_matches(text: str) -> None:
    rules = rules_from_text(TRICKY_RULES).rules
    matched = {m.rule_id for m in Engine(rules).match_text({"body": text})}
    assert matched  # each text is there to be matched by something
    assert matched <= Prefilter(rules).candidates(text)


@pytest.mark.parametrize("text", TRICKY)
def test_prefilter_never_drops_what_the_engine_matches_in_a_packed_record(text: str) -> None:
    """The prefilter reads records as packed (JSON, where a newline is an escape), the engine the fields."""
    rules = rules_from_text(TRICKY_RULES).rules
    article = record(1, 0.0, f"Before.\n{text}\nAfter.")
    matched = {m.rule_id for m in Engine(rules).match(article)}
    assert matched
    assert matched <= Prefilter(rules).candidates(_payload(article).decode())


@pytest.mark.parametrize(
    "text",
    [
        "Ein Bericht … über ½ der Stadt",  # a few characters NFKC changes, among many it keeps
        "cafe\u0301 and ﬁnal ＫＵＲＳＫ",  # a combining mark joins the letter before it
        "\u1100\u1161\u11a8 한국",  # Hangul jamo that compose into a syllable
        "\u0b95\u0bc6\u0bbe \U0001d400\u00a0x",  # a Tamil vowel sign that composes; beyond the BMP
        "… " * 100 + "ǅ",  # many: the whole text at once
    ],
)
def test_probe_text_is_nfkc_of_the_whole_text(text: str) -> None:
    assert probe_text(text) == unicodedata.normalize("NFKC", text).casefold()


def test_prefilter_skips_texts_without_the_rules_words() -> None:
    rules = rules_from_text(TRICKY_RULES).rules
    assert Prefilter(rules).candidates("Harvest festival draws crowds") == set()


def test_prefilter_wants_terms_as_whole_words_and_phrases_whole() -> None:
    rules = rules_from_text(TRICKY_RULES).rules
    prefilter = Prefilter(rules)
    assert prefilter.candidates("The republic of Kazakhstan") == set()  # "Kazakh" inside a word
    assert prefilter.candidates("Korean troops left North Macedonia") == set()  # not the phrase
    assert prefilter.candidates("Korean troops left, North Korean troops came") == {"nk"}
    assert prefilter.candidates("The effect of sanctions") == {"sanction"}  # a regex literal: anywhere


BACKFILL_RULES = """
rules:
  - id: nk-troops
    title: North Korean troops
    any: ["North Korean troops", "North Korean soldiers"]
    backfill: 24h
"""


async def test_backfill_alerts_once_across_instances_sharing_redis(redis_url: str) -> None:
    clock = FakeClock(NOW)
    policy = ArchivePolicy(enabled=True)
    stores = [open_store(redis_url, retention=30 * DAY, clock=clock, archive=policy) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        nk = "Thousands of North Korean soldiers moved closer to the front line, officials said on {}."
        await archive(
            stores[0],
            [
                record(1, clock.now - 2 * DAY, nk.format("Monday")),  # outside the 24h window
                record(2, clock.now - 3600, nk.format("Tuesday"), story="nk"),
                record(3, clock.now - 1800, nk.format("Tuesday"), story="nk"),  # the same story
                record(4, clock.now - 600, "Harvest festival draws crowds"),
            ],
        )
        rule = rules_from_text(BACKFILL_RULES).rules[0]
        claimed: list[str] = []
        backfillers = [
            Backfiller(
                store,
                clock,
                alerts=AlertsConfig,
                notifiers=lambda: ["hook"],
                on_claim=lambda alert: claimed.append(alert.url),
            )
            for store in stores
        ]
        for backfiller in backfillers:
            backfiller.start([rule])
        counts = await asyncio.gather(*(b.wait() for b in backfillers))
        assert sorted(sum(c) for c in counts) == [0, 1]
        assert claimed == ["https://news.example/2"]
        assert len(await stores[1].deliveries()) == 1

        again = Backfiller(stores[1], clock, alerts=AlertsConfig, notifiers=lambda: ["hook"], on_claim=print)
        again.start([rule])  # a restart, or a reload that re-reads the same rule
        assert await again.wait() == [0]
        assert len(await stores[0].deliveries()) == 1
    finally:
        for store in stores:
            await store.close()


async def test_rules_without_backfill_start_nothing(sqlite_store: Store) -> None:
    backfiller = Backfiller(
        sqlite_store, FakeClock(NOW), alerts=AlertsConfig, notifiers=list, on_claim=lambda alert: None
    )
    backfiller.start(rules_from_text(TRICKY_RULES).rules)
    assert await backfiller.wait() == []


async def test_a_backfill_stopped_midway_runs_again_at_the_next_start(sqlite_store: Store) -> None:
    clock = FakeClock(NOW)
    nk = "Thousands of North Korean soldiers moved closer to the front line, officials said on Monday."
    await archive(sqlite_store, [record(1, clock.now - 3600, nk)])
    rule = rules_from_text(BACKFILL_RULES).rules[0]
    started = asyncio.Event()

    def claimed(alert: object) -> None:
        started.set()

    stopped = Backfiller(sqlite_store, clock, alerts=AlertsConfig, notifiers=list, on_claim=claimed)
    real_claim = sqlite_store.claim

    async def stuck_claim(*args: object, **kwargs: object) -> None:
        started.set()
        await asyncio.Event().wait()  # until cancelled

    sqlite_store.claim = stuck_claim  # type: ignore[method-assign]
    stopped.start([rule])
    await asyncio.wait_for(started.wait(), 10)
    await stopped.close()
    sqlite_store.claim = real_claim  # type: ignore[method-assign]

    restarted = Backfiller(sqlite_store, clock, alerts=AlertsConfig, notifiers=list, on_claim=claimed)
    restarted.start([rule])
    assert await restarted.wait() == [1]


async def test_backtest_finds_inflected_forms_the_prefilter_cannot_see(sqlite_store: Store) -> None:
    now = NOW
    shelling = "Обстрел в Курской области."
    await archive(sqlite_store, [replace(record(1, now - 60, shelling), language="ru")])
    rules = rules_from_text("rules:\n  - {id: kursk-ru, any: [Курская область]}\n").rules
    assert not Prefilter(rules).candidates(shelling)  # no substring of the term is in the text
    result = await backtest(sqlite_store, rules, now - DAY, now)
    assert [a.article.url for a in result.alerts] == ["https://news.example/1"]


async def test_backtest_reads_inflected_forms_in_articles_without_a_language_tag(
    sqlite_store: Store,
) -> None:
    now = NOW
    shelling = (
        "Вечером в понедельник противник снова обстрелял приграничные сёла. По данным губернатора, "
        "в Курской области повреждены несколько домов и линия электропередачи."
    )
    await archive(sqlite_store, [record(1, now - 60, shelling)])  # the engine detects the language
    rules = rules_from_text("rules:\n  - {id: kursk-ru, any: [Курская область]}\n").rules
    result = await backtest(sqlite_store, rules, now - DAY, now)
    assert [a.article.url for a in result.alerts] == ["https://news.example/1"]


def test_records_packed_before_the_language_came_first_still_read() -> None:
    packed = json.dumps(
        [1, "https://a.example/1", "wire", "T", "S", "B", None, "de", "", 5.0, "k", ["r"]]
    ).encode()
    assert decode_payload(packed) == ArchivedArticle(
        url="https://a.example/1",
        source="wire",
        title="T",
        summary="S",
        body="B",
        language="de",
        detected_at=5.0,
        story_key="k",
        rules=("r",),
    )
    assert payload_language(packed) is None  # not read from the front: the record is decoded
    assert payload_language(_payload(decode_payload(packed))) == "de"


def test_prefilter_wants_some_word_of_every_required_element() -> None:
    rules = rules_from_text(
        "rules:\n  - {id: k, all: [Kursk, [offensive, incursion]], any: [Ukraine]}\n"
    ).rules
    prefilter = Prefilter(rules)
    assert prefilter.candidates("Ukraine: the Kursk incursion goes on") == {"k"}
    assert prefilter.candidates("Ukraine: the Kursk harvest is in") == set()  # no word of one element


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_backtest_in_worker_processes_equals_one_process(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite hands the workers its blobs packed; Redis its records unpacked (``Store.archive_pages``)."""
    monkeypatch.setattr(backtest_module, "ARTICLES_PER_WORKER", 1)
    monkeypatch.setattr(sqlite_archive, "ARCHIVE_PAGE", 3)  # many batches, to be put back in order
    monkeypatch.setattr(redis_archive, "ARCHIVE_PAGE", 3)
    url = f"sqlite://{tmp_path}/s.db"
    if kind == "redis":
        url = request.getfixturevalue("redis_server")
        client = aioredis.from_url(url)
        await client.flushdb()
        await client.aclose()
    store = open_store(url, retention=30 * DAY, clock=FakeClock(NOW), archive=ArchivePolicy(enabled=True))
    await store.open()
    start = NOW - DAY
    texts = [ATACMS[1], "By Jane Doe. " + ATACMS[1], HARVEST[1], NK[1], ATACMS[1] + " Read more."]
    try:
        await archive(store, [record(i, start + i * 60, texts[i % len(texts)]) for i in range(20)])
        rules = rules_from_text(RULES).rules
        one = await backtest(store, rules, start, NOW, all_hits=True)
        two = await backtest(store, rules, start, NOW, all_hits=True, workers=2)
    finally:
        await store.close()

    def alerts(result: BacktestResult) -> list[tuple[str, str, str, tuple[Hit, ...] | None]]:
        return [(a.rule_id, a.article.url, a.story_key, a.hits) for a in result.alerts]

    assert alerts(two) == alerts(one) and two.articles == one.articles == 20
    assert 0 < len(one.alerts) < sum(r.matched for r in one.rules.values())  # copies joined their story


PIECES = [
    "Kursk",
    "kursk’s",
    "Kazakhstan",
    "Kazakh",
    "U.S.",
    "u",
    "s",
    "中国",
    "a",
    "\\n",
    "\\",
    "\n",
    " ",
    "-",
]
PIECES += [
    "straße",
    "Strasse",
    "drone",
    "attack",
    "sanctions",
    "effect",
    "North",
    "Korean",
    "troops",
    "NATO",
    "é",
    # What NFKC or case folding changes, which the first pass over a text as written must notice.
    "\uff2b\uff35\uff32\uff33\uff2b",
    "\u00ad",
    "\u0301",
    "\u2026",
    "\u00bd",
    "\u1e9e",
    "\u0130",
    "\ufb01",
    "\u00a0",
    "\u212a",
    "\u200b",
    "\u0651",
    "cafe",
    "izmir",
    "\u0307",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=16))
@example(["cafe", "\u0301"])  # NFKC joins the mark to the letter: "café"
@example(["\u0130", "zmir"])  # case folding writes "İ" as "i" and a combining dot
@example(["Stra", "\u1e9e", "e"])  # and "ẞ" as "ss"
@example(["Ka", "\u00ad", "zakh"])  # a soft hyphen is dropped
@example(["\uff2b\uff35\uff32\uff33\uff2b"])  # fullwidth letters are ASCII ones after NFKC
@example(["\uff51\uff4a", " wave"])  # in a phrase's word that is not its probe too
def test_the_first_pass_over_a_text_drops_only_what_the_prefilter_drops(parts: list[str]) -> None:
    """RE2's pass (which probes occur, as far as ASCII tells they stand as words), over the text as
    written or as ``probe_text`` makes it, only ever says no where the exact pass, which finds where
    each probe stands, says no too; and it answers the same for a text and for its UTF-8. Also for
    rules none of whose words holds "ss", for which "ß" is left as written."""
    for text_of_rules in (TRICKY_RULES, TRICKY_RULES.replace("[straße]", "[street]")):
        _first_pass_agrees(rules_from_text(text_of_rules).rules, parts)


def _first_pass_agrees(rules: Sequence[Rule], parts: list[str]) -> None:
    exact = Prefilter(rules)
    exact._occurring = None
    text = "".join(parts)
    packed = _payload(record(1, 0.0, text))
    for written in (text, packed.decode()):
        found = Prefilter(rules).candidates(written)
        assert exact.candidates(written) <= found == Prefilter(rules).candidates(written.encode())


def test_when_the_first_pass_cannot_tell_every_probe_is_looked_for_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = rules_from_text(TRICKY_RULES).rules
    monkeypatch.setattr(prefilter_module, "_RE2_MEMORY", 1024)  # too little to build RE2's automaton
    starved = Prefilter(rules)
    assert starved._occurring is None
    assert starved.candidates("Kursk's drone attack") == {"kursk", "drone"}
    monkeypatch.undo()
    # A search that ran out of memory answers without the pattern that occurs everywhere.
    blind = re2.Set.SearchSet()
    blind.Add("kursk")
    blind.Compile()
    unsure = Prefilter(rules)
    unsure._occurring = prefilter_module._Occurring(["kursk"], blind, blind)
    assert unsure._occurring.find("kursk") is None and unsure._occurring.find_raw(b"kursk") is None
    assert unsure.candidates("Kursk's drone attack") == {"kursk", "drone"}
