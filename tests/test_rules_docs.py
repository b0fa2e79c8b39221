"""docs/rules.md is executable: every ```yaml block is a rule file, and the ```text block after it says
what must happen (the convention is described at the top of the guide). So the guide cannot rot."""

from __future__ import annotations

import re

import pytest
import yaml

from monitor.errors import RuleError
from monitor.matching import rule_shape
from monitor.matching.engine import Engine
from monitor.matching.rules import rules_from_text
from tests.helpers.rules_docs import EXAMPLES, parse_article

PROBLEM = re.compile(r"rules\.yaml:\d+:\d+: ")


def test_the_guide_has_examples_and_each_says_what_it_must_do() -> None:
    assert len(EXAMPLES) >= 10
    for line, _, expect in EXAMPLES:
        lines = [x for x in expect.splitlines() if x.strip() and not x.startswith("#")]
        assert lines, f"docs/rules.md:{line}: a yaml example needs a text block of expectations after it"
        for x in lines:
            assert " => " in x or PROBLEM.match(x), f"docs/rules.md:{line}: cannot read {x!r}"


def test_every_rule_key_has_an_example() -> None:
    used: set[str] = set()

    def keys(node: object) -> None:
        if isinstance(node, dict):
            used.update(str(k) for k in node)
            for value in node.values():
                keys(value)
        elif isinstance(node, list):
            for value in node:
                keys(value)

    for _, body, _ in EXAMPLES:
        keys(yaml.safe_load(body))
    schema_keys: set[str] = set()

    def properties(node: object) -> None:
        if isinstance(node, dict):
            schema_keys.update(node.get("properties", {}))
            for value in node.values():
                properties(value)
        elif isinstance(node, list):
            for value in node:
                properties(value)

    properties(rule_shape.schema())
    assert schema_keys - used == set()


@pytest.mark.parametrize(("line", "rule_file", "expect"), EXAMPLES, ids=[f"line{e[0]}" for e in EXAMPLES])
def test_example(line: int, rule_file: str, expect: str) -> None:
    lines = [x for x in expect.splitlines() if x.strip() and not x.startswith("#")]
    expected_problems = [x for x in lines if PROBLEM.match(x)]
    try:
        rules = rules_from_text(rule_file, "rules.yaml")
    except RuleError as exc:
        assert [str(p) for p in exc.problems] == expected_problems
        assert len(lines) == len(expected_problems), "a rule file with errors cannot match articles"
        return
    assert [str(p) for p in rules.warnings] == expected_problems
    engine = Engine(rules.rules)
    for case in lines:
        if PROBLEM.match(case):
            continue
        article, _, outcome = case.rpartition(" => ")
        fields, source, lang = parse_article(article)
        want = [] if outcome.strip() == "nothing" else [r.strip() for r in outcome.split(",")]
        assert [m.rule_id for m in engine.match_text(fields, source, lang)] == want, (
            f"docs/rules.md:{line}: {case}"
        )
