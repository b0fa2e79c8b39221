import re
from pathlib import Path
from typing import Any

import pytest

from monitor.matching import engine as engine_module
from monitor.matching.compiled import required_literal
from monitor.matching.engine import HITS_PER_TERM, Engine
from monitor.matching.rules import load_rules, rules_from_text
from monitor.matching.text import inflections
from monitor.model import Article

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
SEED = Path(__file__).resolve().parent.parent.parent / "shared" / "examples" / "seed-article.txt"


def engine(yaml_text: str) -> Engine:
    return Engine(rules_from_text(yaml_text).rules)


def term_matches(term: str, text: str) -> bool:
    """Does a rule with this one term (YAML flow syntax) fire on ``text`` as the body?"""
    return bool(engine(f"rules: [{{id: r, any: [{term}]}}]").match_text({"body": text}))


# -- term semantics: each promise docs/rules.md makes about terms -------------------------------------------
@pytest.mark.parametrize(
    ("term", "text", "hit"),
    [
        ("ISIS", "a deepening crisis", False),
        ("isis", "a deepening crisis", False),
        ("ISIS", "ISIS claimed the attack", True),
        ("Kursk", "the Kurskaya station", False),
        ("Kurskaya", "the Kurskaya station", True),
        ("Kursk", "Kursk-based units", True),
        ("troop", "trooper Smith", False),
    ],
)
def test_whole_words_only(term: str, text: str, hit: bool) -> None:
    assert term_matches(term, text) is hit


@pytest.mark.parametrize(
    ("term", "text", "hit"),
    [
        ("russia", "RUSSIA said", True),
        ("Army Tactical Missile System", "army tactical missile system", True),
        ("US", "the US said", True),
        ("US", "let us go", False),
        ("US", "the Us said", False),
        ("UN", "the UN said", True),
        ("UN", "un jour", False),
        ("IS", "it IS group", True),
        ("IS", "this is it", False),
        ("US", "the US's position", True),
        ("US", "it uses", False),
        ("ATACMS", "the Atacms arrived", True),
        ("{term: Apple, case: sensitive}", "an apple a day", False),
        ("{term: Apple, case: sensitive}", "Apple shares", True),
        ("{term: US, case: insensitive}", "let us go", True),
    ],
)
def test_case(term: str, text: str, hit: bool) -> None:
    assert term_matches(term, text) is hit


@pytest.mark.parametrize(
    ("term", "text", "hit"),
    [
        ("ATACM", "the ATACMs arrived", True),
        ("ATACMS", "the ATACMs arrived", True),
        ("Army Tactical Missile System", "Army Tactical Missile Systems (ATACMs)", True),
        ("Russia", "Russia's army", True),
        ("Russia", "Russia’s army", True),
        ("North Korean troop", "North Korean troops'  positions", True),
        ("country", "several countries", True),
        ("bus", "two buses", True),
        ("{term: Russia, exact: true}", "Russia's army", False),
        ("{term: Russia, exact: true}", "Russia’s army", False),
        ("{term: ATACM, exact: true}", "the ATACMs arrived", False),
        ("{term: Russia, exact: true}", "in Russia.", True),
        ("North Korean", "North Koreans", True),
        ("North Korea", "North Koreans", False),  # a demonym is a different word, not a plural
        ("North Korea", "North's Korea", False),  # only the last word is inflected
    ],
)
def test_plural_and_possessive_of_the_last_word(term: str, text: str, hit: bool) -> None:
    assert term_matches(term, text) is hit


def test_inflections() -> None:
    assert [k for k, _ in inflections("country", exact=False)] == [
        "country",
        "countrys",
        "country's",
        "countries",
    ]
    assert inflections("atacm", exact=True) == [("atacm", 5)]


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("North Korean troops", "North\nKorean\u00a0 troops"),
        ("North Korean troops", "North-Korean troops"),
        ("North-Korean troops", "North Korean troops"),
        ("F-16", "F\u201116 jets"),  # non-breaking hyphen
        ("F-16", "F\u201416 jets"),  # em dash
        ("ATACMS", "ＡＴＡＣＭＳ"),  # fullwidth, NFKC
        ('"Russia\'s war"', "Russia’s war"),
        ("'Russia’s war'", "Russia's war"),
        ("café", "cafe\u0301"),
        ("Kazakhstan", "Ka\u00adzakh\u200bstan"),  # soft hyphen and zero-width space are invisible
    ],
)
def test_normalization_on_both_sides(term: str, text: str) -> None:
    assert term_matches(term, text)


def test_regex_terms() -> None:
    assert term_matches("{re: 'F-?16s?'}", "two F16s")
    assert term_matches("{re: 'f-?16'}", "an F-16")  # case-insensitive by default
    assert not term_matches("{re: 'f-?16', case: sensitive}", "an F-16")


# -- hits ---------------------------------------------------------------------------------------------------
def test_hit_offsets_refer_to_the_original_text_and_name_the_alias() -> None:
    rules = "entities: {atacms: [ATACMS, Army Tactical Missile System]}\nrules: [{id: r, any: ['@atacms']}]"
    body = "Kyiv\u00a0\u00a0— “long-range” Army Tactical\nMissile Systems (ATACMs)\u00a0hit Russia’s Kursk."
    (match,) = engine(rules).match_text({"body": body})
    assert [(h.term, h.entity, h.field, body[h.start : h.end]) for h in match.hits] == [
        ("Army Tactical Missile System", "atacms", "body", "Army Tactical\nMissile Systems"),
        ("ATACMS", "atacms", "body", "ATACMs"),
    ]
    assert match.hits[0].snippet == body.replace("\n", " ").replace("\u00a0\u00a0", " ").replace(
        "\u00a0", " "
    )


def test_regex_hit_offsets_refer_to_the_original_text() -> None:
    body = "“Quoted”\n\n text: F\u201116s"
    (match,) = engine("rules: [{id: r, any: [{re: 'F-16s'}]}]").match_text({"body": body})
    assert body[match.hits[0].start : match.hits[0].end] == "F\u201116s"
    assert match.hits[0].term == "F-16s" and match.hits[0].entity is None


def test_hits_are_capped_per_term_and_field() -> None:
    text = "Russia. " * 10
    (match,) = engine("rules: [{id: r, any: [Russia]}]").match_text({"title": "Russia", "body": text})
    assert [h.field for h in match.hits] == ["title"] + ["body"] * HITS_PER_TERM


def test_hits_are_worked_out_once_and_only_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real = engine_module.snippet

    def counted_snippet(*args: Any, **kwargs: Any) -> str:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(engine_module, "snippet", counted_snippet)
    matches = engine("rules: [{id: a, any: [Kursk]}, {id: b, any: [Russia]}]").match_text(
        {"body": "Troops left Kursk. Russia said so."}
    )
    assert [m.rule_id for m in matches] == ["a", "b"] and not made
    assert [h.snippet for h in matches[0].hits] == ["Troops left Kursk."]
    assert matches[0].hits is matches[0].hits and len(made) == 1


def test_match_carries_rule_title_and_notifiers() -> None:
    (match,) = engine("rules: [{id: r, title: T, any: [Kursk], notify: [ops, desk]}]").match_text(
        {"body": "Kursk"}
    )
    assert (match.rule_id, match.rule_title, match.notify) == ("r", "T", ("ops", "desk"))


# -- rule logic --------------------------------------------------------------------------------------------
LOGIC = """
rules:
  - {id: all, all: [ATACMS, [Russia, Kursk]]}
  - {id: any, any: [ATACMS, Kursk]}
  - {id: both, all: [ATACMS], any: [Kursk, Belgorod]}
  - {id: veto, any: [ATACMS], none: [video game, [exercise, drill]]}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ATACMS hit Kursk", ["all", "any", "both", "veto"]),
        ("ATACMS hit Russia", ["all", "any", "veto"]),
        ("ATACMS hit a depot", ["any", "veto"]),
        ("Kursk is quiet", ["any"]),
        ("ATACMS in a video game about Kursk", ["all", "any", "both"]),
        ("ATACMS drills", ["any"]),
        ("nothing here", []),
    ],
)
def test_all_any_none(text: str, expected: list[str]) -> None:
    assert [m.rule_id for m in engine(LOGIC).match_text({"body": text})] == expected


def test_fields_limit_where_terms_count() -> None:
    e = engine("rules: [{id: r, all: [ATACMS, Russia], fields: [title]}]")
    assert not e.match_text({"title": "ATACMS launched", "body": "in Russia"})
    (match,) = e.match_text({"title": "ATACMS hit Russia", "body": "ATACMS again"})
    assert {h.field for h in match.hits} == {"title"}


def test_none_only_vetoes_within_the_rule_fields() -> None:
    e = engine("rules: [{id: r, any: [ATACMS], none: [video game], fields: [title]}]")
    assert e.match_text({"title": "ATACMS used", "body": "unlike the video game"})


def test_sources_limit_which_articles_a_rule_sees() -> None:
    e = engine("rules: [{id: r, any: [Kursk], sources: [reuters, ap]}]")
    assert e.match_text({"body": "Kursk"}, source="ap")
    assert not e.match_text({"body": "Kursk"}, source="blog")


def test_match_uses_title_summary_and_body() -> None:
    e = engine("rules: [{id: r, all: [Kursk, ATACMS, Belgorod]}]")
    article = Article(url="u", source="s", title="Kursk", summary="ATACMS", body="Belgorod")
    (match,) = e.match(article)
    assert [h.field for h in match.hits] == ["title", "summary", "body"]


NEAR = """
entities: {atacms: [ATACMS, Army Tactical Missile System]}
rules:
  - {id: words, all: ['@atacms'], near: {terms: ['@atacms', Russia], words: 3}}
  - {id: sentence, all: ['@atacms'], near: {terms: ['@atacms', Russia], sentence: true}}
  - {id: three, all: [ATACMS], near: {terms: [ATACMS, Russia, [Kursk, Belgorod]], words: 4}}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ATACMS struck Russia", ["words", "sentence"]),
        ("Russia was struck by ATACMS", ["words", "sentence"]),
        ("Army Tactical Missile Systems struck one two Russia", ["words", "sentence"]),
        ("ATACMS struck one two three four Russia", ["sentence"]),
        ("ATACMS struck. Russia said so.", ["words"]),
        ("ATACMS landed in the U.S. Army depot, Russia said", ["sentence"]),
        ("ATACMS hit Kursk in Russia", ["words", "sentence", "three"]),
        ("ATACMS hit Kursk after a long long long day in Russia", ["sentence"]),
        ("ATACMS. Later, far away, much later: Russia. Kursk and ATACMS again", ["words", "three"]),
    ],
)
def test_near(text: str, expected: list[str]) -> None:
    assert [m.rule_id for m in engine(NEAR).match_text({"body": text})] == expected


def test_near_needs_both_terms_in_one_field() -> None:
    assert not engine(NEAR).match_text({"title": "ATACMS", "body": "Russia"})


# -- the seed article -------------------------------------------------------------------------------------
SEED_EXCERPT = (
    "Biden Approves Ukraine’s Use of Long-Range Missiles for Strikes in Russia\n\n"
    "President Joe Biden has authorized Ukraine to use U.S.-supplied long-range missiles, known as Army "
    "Tactical Missile Systems (ATACMs), to strike deeper into Russian territory, marking a significant shift "
    "in U.S. policy.\n\n"
    "The move comes amid reports that thousands of North Korean troops have been deployed near Ukraine’s "
    "northern border to support Russia in retaking territory."
)


def seed_matches(body: str) -> dict[str, list[str]]:
    rules = load_rules([RULES_DIR])
    title = "Biden Approves Ukraine’s Use of Long-Range Missiles for Strikes in Russia"
    article = Article(url="https://example.org/seed", source="seed", title=title, body=body)
    return {
        m.rule_id: [f"{h.field}:{h.term}:{h.snippet}" for h in m.hits]
        for m in Engine(rules.rules).match(article)
    }


def check_seed(matches: dict[str, list[str]]) -> None:
    assert {"atacms-strikes-in-russia", "north-korean-troops"} <= matches.keys()
    atacms = matches["atacms-strikes-in-russia"]
    assert any("body:Army Tactical Missile System:President Joe Biden has authorized" in h for h in atacms)
    assert any(h.startswith("body:ATACMS:") and "(ATACMs)" in h for h in atacms)
    assert any(h.startswith("body:Russian territory:") for h in atacms)
    nk = matches["north-korean-troops"]
    assert any(h.startswith("body:North Korean troop:The move comes amid reports") for h in nk)
    assert all(len(h.split(":", 2)[2]) <= 240 for hits in matches.values() for h in hits)


def test_seed_excerpt_matches() -> None:
    check_seed(seed_matches(SEED_EXCERPT))


@pytest.mark.skipif(not SEED.exists(), reason="../shared/examples/seed-article.txt is absent")
def test_seed_article_matches() -> None:
    matches = seed_matches(SEED.read_text(encoding="utf-8"))
    check_seed(matches)
    assert "us-aid-to-ukraine" in matches  # "$56.2 billion in security assistance to Ukraine"


# -- punctuation, and scripts written without spaces --------------------------------------------------------
@pytest.mark.parametrize(
    ("term", "text", "hit"),
    [
        ("U.S.", "the U.S. Army said", True),
        ("U.S.", "U.S.-supplied missiles", True),
        ("U.S.", "the U.S.S.R. collapsed", False),
        ("U.S.", "the u.s. army", False),  # all caps, at most 4 letters: case-sensitive
        ("AT&T", "AT&T's network", True),
        ("AT&T", "at&t", False),
        ("AT&T", "BAT&T", False),
        ("C++", "written in C++ and Rust", True),
        ("C++", "written in C++11", False),
        ("C++", "written in C and Rust", False),
        (".NET", "the .NET runtime", True),
        (".NET", "ASP.NET", False),
        ("中国", "中国人民解放军", True),  # no spaces between words: a term matches as a substring
        ("解放军", "中国人民解放军发表声明", True),
        ("中国", "美国和日本", False),
        ("ミサイル", "北朝鮮がミサイルを発射", True),
        ("ATACMS", "美国ATACMS导弹", True),  # a script change is a word boundary
        ("ATACM", "美国ATACMS导弹", True),
        ("Kursk", "库尔斯克Kurskaya", False),  # ... but a Latin word still needs its whole word
        ("서울", "서울에서", False),  # Korean is written with spaces: whole words, like Latin
        ("서울", "서울 시내", True),
    ],
)
def test_punctuated_terms_and_unspaced_scripts(term: str, text: str, hit: bool) -> None:
    assert term_matches(f"'{term}'", text) is hit


def test_a_term_that_can_never_match_keeps_all_from_holding() -> None:
    e = engine("rules: [{id: r, all: ['--', Kursk]}, {id: s, any: ['--', Kursk]}]")
    assert [m.rule_id for m in e.match_text({"body": "Kursk -- again"})] == ["s"]


def test_match_carries_realert() -> None:
    e = engine("rules: [{id: r, any: [Kursk], realert: 6h}, {id: s, any: [Kursk]}]")
    assert [m.realert for m in e.match_text({"body": "Kursk"})] == [6 * 3600.0, None]


# -- explain: why a rule fired, or nearly did ----------------------------------------------------------------
EXPLAIN = """
entities: {atacms: [ATACMS], russia: [Russia, Kursk]}
rules:
  - {id: all, all: ['@atacms', [Russia, Kursk]]}
  - {id: all-entity, all: ['@atacms', '@russia']}
  - {id: any, all: [ATACMS], any: [Belgorod, [Bryansk, Oryol]]}
  - {id: veto, any: [ATACMS], none: [video game, [exercise, drill]]}
  - {id: near, all: [ATACMS], near: {terms: ['@atacms', Moscow, Kyiv], words: 3}}
  - {id: sentence, all: [ATACMS], near: {terms: [ATACMS, Moscow], sentence: true}}
  - {id: scoped, any: [ATACMS], sources: [reuters, ap]}
  - {id: unrelated, any: [Zaporizhzhia]}
"""


def test_explain_says_which_clause_failed() -> None:
    body = "ATACMS appeared in a video game and a drill. Moscow said so, and then Kyiv, later."
    explained = {x.rule.id: x for x in engine(EXPLAIN).explain_text({"body": body}, source="blog")}
    assert "unrelated" not in explained  # none of its terms occurred: not worth a line
    assert {rule: x.failed for rule, x in explained.items()} == {
        "all": ("all: missing any of [Russia, Kursk]",),
        "all-entity": ("all: missing @russia",),
        "any": ('any: none of ["Belgorod", any of [Bryansk, Oryol]] found',),
        "veto": ('none: vetoed by "drill", "video game"',),
        "near": ('near: @atacms, "Moscow" and "Kyiv" never within 3 words',),
        "sentence": ('near: "ATACMS" and "Moscow" never in one sentence',),
        "scoped": ("sources: article is from 'blog', not one of [reuters, ap]",),
    }
    assert all(x.match is None for x in explained.values())
    assert [h.term for h in explained["veto"].hits] == ["ATACMS"]


def test_explain_includes_the_matches() -> None:
    (fired,) = [x for x in engine(EXPLAIN).explain_text({"body": "ATACMS hit Kursk."}) if x.rule.id == "all"]
    assert fired.failed == () and fired.match is not None
    assert fired.match == engine(EXPLAIN).match_text({"body": "ATACMS hit Kursk."})[0]


@pytest.mark.parametrize(
    ("pattern", "flags", "literal"),
    [
        (r"\bKX-\d{2,3}\b", re.IGNORECASE, "kx-"),
        (r"ATACMS?", 0, "ATACM"),
        (r"^Breaking:", 0, "Breaking:"),
        (r"(a|b)c", 0, "c"),
        (r"[0-9]+", 0, None),
        (r"Kyiv|Kiev", 0, "K"),  # re factors the common prefix out of the branch
        (r"caf\u00e9s?", 0, "caf"),  # non-ASCII ends the run: str.lower and re's folding may disagree
    ],
)
def test_required_literal_of_regex_terms(pattern: str, flags: int, literal: str | None) -> None:
    assert required_literal(re.compile(pattern, flags)) == literal


def test_regex_prefilter_keeps_semantics() -> None:
    assert term_matches(r"{re: '\bKX-\d{2,3}\b'}", "the kx-55 missile")  # IGNORECASE: literal lowered
    assert not term_matches(r"{re: '\bKX-\d{2,3}\b'}", "the KX-5 missile")  # literal there, no match
    assert not term_matches(r"{re: '\bKX-\d{2,3}\b', case: sensitive}", "the kx-55 missile")
    assert term_matches(r"{re: '\bKX-\d{2,3}\b', case: sensitive}", "the KX-555 missile")
