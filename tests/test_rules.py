from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.matching.lemmas import LANGUAGES
from monitor.matching.rules import Near, RuleSet, Term, load_rules, rules_from_text
from monitor.model import FIELDS

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"


def problems(text: str) -> list[str]:
    with pytest.raises(RuleError) as info:
        rules_from_text(text, "r.yaml")
    return [str(p) for p in info.value.problems]


def test_full_rule_is_parsed() -> None:
    rules = rules_from_text(
        """
entities:
  atacms: ["ATACMS", "Army Tactical Missile System"]
rules:
  - id: atacms-strikes-in-russia
    title: "ATACMS used inside Russia"
    description: strikes
    all: ["@atacms", ["Russia", "Kursk"]]
    any: [{term: Apple, case: sensitive}, {term: Kursk, exact: true}, {re: "F-?16s?"}]
    none: ["video game"]
    near: {terms: ["@atacms", "Russia"], words: 30}
    fields: [title, body]
    sources: [reuters]
    notify: ops
    tags: [ukraine]
"""
    )
    (rule,) = rules.rules
    atacms = (Term("ATACMS", "atacms"), Term("Army Tactical Missile System", "atacms"))
    assert rule.id == "atacms-strikes-in-russia" and rule.title == "ATACMS used inside Russia"
    assert rule.all == (atacms, (Term("Russia"), Term("Kursk")))
    assert rule.any[0] == (Term("Apple", case_sensitive=True),)
    assert rule.any[1] == (Term("Kursk", exact=True),)
    assert rule.any[2][0].pattern is not None and rule.any[2][0].pattern.search("two f16s")
    assert rule.none == ((Term("video game"),),)
    assert rule.near == Near((atacms, (Term("Russia"),)), words=30)
    assert (rule.fields, rule.sources, rule.notify, rule.tags) == (
        ("title", "body"),
        ("reuters",),
        ("ops",),
        ("ukraine",),
    )
    assert (rule.path, rule.line) == ("<rules>", 5)
    assert rules.entities["atacms"] == atacms


def test_defaults() -> None:
    (rule,) = rules_from_text("rules: [{id: r1, any: [Kursk]}]").rules
    assert rule.title == "r1" and rule.fields == FIELDS
    assert rule.sources == rule.notify == rule.tags == () and rule.near is None


@pytest.mark.parametrize(
    ("text", "sensitive"),
    [
        ("US", True),
        ("UN", True),
        ("IS", True),
        ("NATO", True),
        ("U.S.", True),
        ("ATACMS", False),
        ("Us", False),
    ],
)
def test_short_all_caps_terms_are_case_sensitive(text: str, sensitive: bool) -> None:
    (rule,) = rules_from_text(f"rules: [{{id: r, any: ['{text}']}}]").rules
    assert rule.any[0][0].case_sensitive is sensitive


def test_case_option_overrides_the_all_caps_default() -> None:
    (rule,) = rules_from_text("rules: [{id: r, any: [{term: US, case: insensitive}]}]").rules
    assert rule.any[0][0].case_sensitive is False


def test_near_sentence() -> None:
    (rule,) = rules_from_text("rules: [{id: r, all: [a], near: {terms: [a, b], sentence: true}}]").rules
    assert rule.near == Near(((Term("a"),), (Term("b"),)), sentence=True)


def test_entities_are_shared_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("entities:\n  kursk: [Kursk, Kursk oblast]\n")
    (tmp_path / "b.yml").write_text("rules:\n  - id: r\n    any: ['@kursk']\n")
    (tmp_path / "notes.txt").write_text("not a rule file")
    rules = load_rules([tmp_path])
    assert rules.files == (tmp_path / "a.yaml", tmp_path / "b.yml")
    assert [t.text for t in rules.rules[0].any[0]] == ["Kursk", "Kursk oblast"]


def test_empty_file_is_no_rules(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    assert load_rules([tmp_path]).rules == ()


# -- errors: each names file:line:col ------------------------------------------------------------------------
def test_yaml_syntax_error_has_its_position() -> None:
    (message,) = problems("rules:\n  - id: r\n    any: [a\n  - id: s\n")
    assert message.startswith("r.yaml:4:7: YAML syntax error")


def test_unknown_keys_suggest_the_right_one() -> None:
    got = problems("rulez: []\nrules:\n  - id: r\n    al: [a]\n    any: [{term: a, exakt: true}]\n")
    assert got == [
        "r.yaml:1:1: unknown key 'rulez' in a rule file (did you mean 'rules'?)",
        "r.yaml:4:5: unknown key 'al' in a rule (did you mean 'all'?)",
        "r.yaml:5:21: unknown key 'exakt' in a term (did you mean 'exact'?)",
    ]


def test_every_problem_in_every_file_is_reported_together(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("rules:\n  - id: dup\n    any: [x]\n  - title: no id\n    any: [x]\n")
    (tmp_path / "b.yaml").write_text("rules: [{id: dup, any: ['@nope']}]\n")
    (tmp_path / "c.yaml").write_text("rules: [{id: c, any: [{re: '(unclosed'}]}]\n")
    (tmp_path / "d.yaml").write_text("rules: [\n")
    with pytest.raises(RuleError) as info:
        load_rules([tmp_path, tmp_path / "missing.yaml"])
    got = [str(p) for p in info.value.problems]
    a, b, c, d = (str(tmp_path / name) for name in ("a.yaml", "b.yaml", "c.yaml", "d.yaml"))
    assert f"{a}:4:5: rule has no 'id'" in got
    assert f"{b}:1:14: duplicate rule id 'dup' (first defined at {a}:2:9)" in got
    assert f"{b}:1:25: unknown entity '@nope'" in got
    assert any(
        p.startswith(f"{c}:1:28: bad regular expression '(unclosed': missing ), unterminated") for p in got
    )
    assert any(p.startswith(f"{d}:2:1: YAML syntax error") for p in got)
    assert any(p.startswith(f"{tmp_path / 'missing.yaml'}:1:1: cannot read rule file") for p in got)
    assert len(got) == 6


REALERT_ERROR = 'r.yaml:1:{col}: \'realert\' must be a duration like "6h" or "2d", or "never"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: [{id: r}]", "r.yaml:1:9: rule 'r' needs 'all' or 'any' (or both)"),
        ("rules: [{id: r, all: []}]", "r.yaml:1:22: 'all' is an empty list"),
        ("rules: [{id: r, all: [a, []]}]", "r.yaml:1:26: empty any-of list in 'all'"),
        (
            "rules: [{id: r, all: [[a, [b]]]}]",
            "r.yaml:1:27: lists inside an any-of list are not allowed; flatten them",
        ),
        (
            "rules: [{id: r, any: [{re: 'x*'}]}]",
            "r.yaml:1:28: regular expression 'x*' matches empty text, so it would match everywhere",
        ),
        (
            "rules: [{id: r, any: [{term: a, re: b}]}]",
            "r.yaml:1:23: a term mapping needs exactly one of 'term' or 're'",
        ),
        (
            "rules: [{id: r, any: [{term: a, case: upper}]}]",
            "r.yaml:1:39: 'case' must be 'sensitive' or 'insensitive'",
        ),
        ("rules: [{id: r, any: [{term: a, exact: maybe}]}]", "r.yaml:1:40: 'exact' must be true or false"),
        (
            "rules: [{id: r, any: [{term: '@e', exact: true}]}]\nentities: {e: [x]}",
            "r.yaml:1:30: options cannot apply to an '@entity'; put them on its aliases",
        ),
        (
            "entities: {e: [x]}\nrules: [{id: r, any: ['@ee']}]",
            "r.yaml:2:23: unknown entity '@ee' (did you mean '@e'?)",
        ),
        ("entities: {e: ['@e']}", "r.yaml:1:16: entity cycle: @e -> @e"),
        ("entities: {e: ['@f'], f: [x, '@e']}", "r.yaml:1:30: entity cycle: @e -> @f -> @e"),
        ("entities: {e: [x, '@ff'], f: [y]}", "r.yaml:1:19: unknown entity '@ff' (did you mean '@f'?)"),
        ("rules: [{id: r, any: [a], realert: soon}]", REALERT_ERROR.format(col=36)),
        ("rules: [{id: r, any: [a], realert: 0s}]", REALERT_ERROR.format(col=36)),
        ("rules: [{id: r, any: [a], realert: 3600}]", REALERT_ERROR.format(col=36)),
        ("entities: {e: [x], e: [y]}", "r.yaml:1:20: duplicate entity 'e' (first defined at r.yaml:1:12)"),
        (
            "rules: [{id: r, any: [a], fields: [body, tittle]}]",
            "r.yaml:1:42: unknown field 'tittle' (did you mean 'title'?); fields are title, summary, body",
        ),
        (
            "rules: [{id: r, any: [a], near: {terms: [a], words: 3}}]",
            "r.yaml:1:41: 'near: terms' needs at least two terms to be near each other",
        ),
        (
            "rules: [{id: r, any: [a], near: {terms: [a, b]}}]",
            "r.yaml:1:33: 'near' needs exactly one of 'words: N' or 'sentence: true'",
        ),
        (
            "rules: [{id: r, any: [a], near: {terms: [a, b], words: -1}}]",
            "r.yaml:1:56: 'near: words' must be a whole number >= 0",
        ),
        (
            "rules: [{id: 'has space', any: [a]}]",
            "r.yaml:1:14: a rule id must be letters, digits, '.', '_' or '-'",
        ),
        ("rules: [{id: r, id: s, any: [a]}]", "r.yaml:1:17: duplicate key 'id' in a rule"),
        ("rules: {id: r}", "r.yaml:1:8: 'rules' must be a list of rules"),
        ("- a list", "r.yaml:1:1: a rule file must be a mapping with 'entities' and/or 'rules'"),
    ],
)
def test_rule_errors(text: str, expected: str) -> None:
    assert expected in problems(text)


def test_a_broken_entity_is_reported_once_not_at_every_use() -> None:
    got = problems("entities: {e: ['']}\nrules: [{id: r, any: ['@e']}]")
    assert got == ["r.yaml:1:16: a term must be a non-empty string"]


def test_example_rules_load() -> None:
    rules = load_rules([RULES_DIR])
    assert isinstance(rules, RuleSet)
    ids = {r.id for r in rules.rules}
    assert {"atacms-strikes-in-russia", "north-korean-troops", "us-aid-to-ukraine"} <= ids


# -- entities referring to entities ------------------------------------------------------------------------
def test_entities_can_refer_to_other_entities_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("entities:\n  weapons: ['@atacms', Taurus, '@missiles']\n")
    (tmp_path / "b.yaml").write_text(
        "entities:\n  atacms: [ATACMS]\n  missiles: ['@atacms', Storm Shadow]\n"
        "rules: [{id: r, any: ['@weapons']}]\n"
    )
    rules = load_rules([tmp_path])
    # Each alias keeps the entity it is written under; one reached twice ("@atacms") is one term.
    assert rules.rules[0].any == (
        (Term("ATACMS", "atacms"), Term("Taurus", "weapons"), Term("Storm Shadow", "missiles")),
    )


def test_an_entity_cycle_is_reported_once_where_it_closes() -> None:
    got = problems("entities:\n  a: ['@b']\n  b: ['@c']\n  c: [x, '@a']\nrules: [{id: r, any: ['@b']}]\n")
    assert got == ["r.yaml:4:10: entity cycle: @a -> @b -> @c -> @a"]


# -- realert -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "seconds"), [("6h", 6 * 3600.0), ("2d", 2 * 86400.0), ("1h30m", 5400.0), ("never", None)]
)
def test_realert(value: str, seconds: float | None) -> None:
    (rule,) = rules_from_text(f"rules: [{{id: r, any: [a], realert: '{value}'}}]").rules
    assert rule.realert == seconds


def test_realert_defaults_to_never() -> None:
    (rule,) = rules_from_text("rules: [{id: r, any: [a]}]").rules
    assert rule.realert is None


# -- warnings: the rules load, but part of them can never match ----------------------------------------------
def warnings(text: str) -> list[str]:
    return [str(w) for w in rules_from_text(text, "r.yaml").warnings]


def test_a_term_without_letters_or_digits_is_a_warning_and_dropped() -> None:
    text = "entities: {e: [x, '--']}\nrules: [{id: r, any: ['...', Kursk, '@e']}]"
    assert warnings(text) == [
        "r.yaml:1:19: warning: term '--' has no letters or digits, so it can never match",
        "r.yaml:2:23: warning: term '...' has no letters or digits, so it can never match",
    ]
    (rule,) = rules_from_text(text).rules
    assert rule.any == ((), (Term("Kursk"),), (Term("x", "e"),))


def test_all_vetoed_by_none_is_a_warning() -> None:
    got = warnings("rules: [{id: r, all: [[Kursk, Oryol], b], none: [Oryol, Kursk]}]")
    assert got == [
        "r.yaml:1:49: warning: rule 'r' can never match: an element of 'all' is entirely vetoed by 'none'"
    ]
    assert warnings("rules: [{id: r, all: [[Kursk, Oryol]], none: [Kursk]}]") == []


def test_exact_on_a_regex_is_a_warning() -> None:
    assert warnings("rules: [{id: r, any: [{re: 'x+', exact: true}]}]") == [
        "r.yaml:1:41: warning: 'exact' has no effect on a regular expression"
    ]


def test_warnings_ride_along_with_errors() -> None:
    got = problems("rules: [{id: r, any: ['--', '@nope']}]")
    assert got == [
        "r.yaml:1:23: warning: term '--' has no letters or digits, so it can never match",
        "r.yaml:1:29: unknown entity '@nope'",
    ]


# -- configured sources and notifiers ----------------------------------------------------------------------
def test_unknown_sources_and_notifiers_are_located_when_names_are_given(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: r\n    any: [a]\n    sources: [ap, reuter]\n    notify:\n      - ops\n      - pagr\n"
    )
    assert load_rules([tmp_path]).rules  # names are not checked without the configured ones
    with pytest.raises(RuleError) as info:
        load_rules([tmp_path], sources={"reuters", "ap"}, notifiers={"ops", "pager"})
    assert [str(p).removeprefix(str(tmp_path / "r.yaml")) for p in info.value.problems] == [
        ":4:19: unknown source 'reuter' (did you mean 'reuters'?); sources: ap, reuters",
        ":7:9: unknown notifier 'pagr' (did you mean 'pager'?); notifiers: ops, pager",
    ]


# -- the shape is rules/schema.json's: what it refuses, said as the loader always said it -------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: [{id: r, title: '  ', any: [a]}]", ["r.yaml:1:24: 'title' must be a non-empty string"]),
        ("rules: [{id: r, any: [{term: ''}]}]", ["r.yaml:1:30: 'term' must be a non-empty string"]),
        (
            "rules: [{id: r, any: [a], near: {terms: x, words: 2}}]",
            ["r.yaml:1:41: 'near: terms' needs at least two terms to be near each other"],
        ),
        (
            "rules: [{id: r, any: [a], lang: RU}]",
            ["r.yaml:1:33: unknown lang 'RU' (did you mean 'ru'?); langs: " + ", ".join(("en", *LANGUAGES))],
        ),
        ("entities: {e: {a: b}}", ["r.yaml:1:15: entity 'e' must be a list"]),
    ],
)
def test_schema_problems_in_the_loaders_words(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_a_rule_with_a_shape_problem_is_still_checked_for_the_rest() -> None:
    got = problems("rules: [{id: r, al: [a], any: ['@nope']}]")
    assert got == [
        "r.yaml:1:17: unknown key 'al' in a rule (did you mean 'all'?)",
        "r.yaml:1:32: unknown entity '@nope'",
    ]
