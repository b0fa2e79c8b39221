"""rules/schema.json is the shape of a rule file for editors and for the loader alike; the loader only adds
what a schema cannot say (references, cycles, regular expressions), so it accepts no file the schema
refuses."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from monitor.errors import RuleError
from monitor.matching import rule_shape
from monitor.matching.lemmas import LANGUAGES
from monitor.matching.rules import rules_from_text
from monitor.model import FIELDS
from tests.helpers.rules_docs import EXAMPLES

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "rules" / "schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def schema_accepts(text: str) -> bool:
    return VALIDATOR.is_valid(yaml.safe_load(text))


def loader_accepts(text: str) -> bool:
    try:
        rules_from_text(text)
    except RuleError:
        return False
    return True


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_loader_checks_the_shape_with_this_schema() -> None:
    assert rule_shape.schema() == SCHEMA
    # The names the matcher knows are the ones the schema lets a rule write.
    assert SCHEMA["$defs"]["field"]["enum"] == list(FIELDS)
    assert SCHEMA["$defs"]["lang"]["enum"] == ["en", *LANGUAGES]


@pytest.mark.parametrize("path", sorted((ROOT / "rules").glob("*.yaml")), ids=lambda p: p.name)
def test_example_rule_files_validate_and_carry_the_modeline(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=./schema.json\n")
    VALIDATOR.validate(yaml.safe_load(text))


GOOD_DOCS = [(line, body) for line, body, _ in EXAMPLES if loader_accepts(body)]


@pytest.mark.parametrize(("line", "body"), GOOD_DOCS, ids=[f"line{line}" for line, _ in GOOD_DOCS])
def test_every_valid_docs_example_validates(line: int, body: str) -> None:
    VALIDATOR.validate(yaml.safe_load(body))


@pytest.mark.parametrize(
    "text",
    [
        "rulez: []",
        "rules: [{id: r, al: [a]}]",
        "rules: [{id: r}]",
        "rules: [{all: [a]}]",
        "rules: [{id: 'has space', any: [a]}]",
        "rules: [{id: r, any: []}]",
        "rules: [{id: r, any: [[]]}]",
        "rules: [{id: r, any: [[a, [b]]]}]",
        "rules: [{id: r, any: [{term: a, exakt: true}]}]",
        "rules: [{id: r, any: [{term: a, re: b}]}]",
        "rules: [{id: r, any: [{term: a, case: upper}]}]",
        "rules: [{id: r, any: [{term: a, exact: maybe}]}]",
        "rules: [{id: r, any: [a], near: {terms: [a], words: 3}}]",
        "rules: [{id: r, any: [a], near: {terms: [a, b]}}]",
        "rules: [{id: r, any: [a], near: {terms: [a, b], words: -1}}]",
        "rules: [{id: r, any: [a], near: {terms: [a, b], words: 3, sentence: true}}]",
        "rules: [{id: r, any: [a], fields: [body, tittle]}]",
        "rules: [{id: r, any: [a], fields: [body, body]}]",
        "rules: [{id: r, any: [a], realert: soon}]",
        "rules: [{id: r, any: [a], realert: 3600}]",
        "rules: {id: r}",
        "entities: {'bad name': [x]}",
        "entities: {e: []}",
        "- a list",
    ],
)
def test_schema_and_loader_refuse_the_same_mistakes(text: str) -> None:
    assert not loader_accepts(text)
    assert not schema_accepts(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "entities: {e: x}\nrules: [{id: r, any: '@e'}]",
        "rules: [{id: 2024, any: [2024], notify: ops, fields: body, tags: t}]",
        "rules: [{id: r, all: [a, [b, {term: c, exact: true}]], none: [{re: 'd+', case: sensitive}]}]",
        "rules: [{id: r, any: [a], near: {terms: [a, [b, c]], sentence: true}, realert: 1h30m}]",
        "rules: [{id: r, any: [a], realert: never}]",
    ],
)
def test_schema_and_loader_accept_the_same_shapes(text: str) -> None:
    assert loader_accepts(text)
    assert schema_accepts(text)
