"""Rule terms against 400-odd news sentences in the eight inflected languages that were written apart
from the code (``tests/helpers/inflection_sentences.py``): every case must come out as written there,
but the few known to fail, each named with why."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from monitor.matching.engine import Engine
from monitor.matching.rules import rules_from_text
from tests.helpers.inflection_sentences import GROUPS

# (term, sentence) -> why it still fails; a case that starts to pass fails the test (strict), so the
# list shrinks as the matcher improves.
KNOWN = {
    ("Wahl", "Die Wähler sind unzufrieden."): "Snowball strips '-er' and umlauts: German plurals need it",
    ("Kampf", "Nordkoreanische Kämpfer wurden gefangen."): "as above: an agent noun meets its base",
    ("Burg", "Die Bürger protestieren gegen die Regierung."): "as above",
    ("russe", "La Russie a lancé une offensive."): "French Snowball: 'russe' and 'Russie' share 'russ'",
    ("Ucraina", "Due soldati ucraini sono stati feriti."): "country and adjective: only the capital differs",
    ("Торецк", "Под Торецком идут бои."): "pymorphy3's guesser does not decline this town's name",
}


def _cases() -> list[Any]:
    cases = []
    for index, (language, term, _, group) in enumerate(GROUPS):
        if language == "info":
            continue
        for article_lang, expected, sentence, why in group:
            written = term if isinstance(term, str) else term["term"]
            marks = []
            if (written, sentence) in KNOWN:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN[written, sentence]))
            cases.append(
                pytest.param(index, article_lang, expected, sentence, id=f"{language}:{why}", marks=marks)
            )
    return cases


@pytest.mark.parametrize(("group", "article_lang", "expected", "sentence"), _cases())
def test_sentence(group: int, article_lang: str | None, expected: bool, sentence: str) -> None:
    fired = {m.rule_id for m in _engine().match_text({"body": sentence}, "", article_lang)}
    assert (f"g{group}" in fired) == expected


@functools.cache
def _engine() -> Engine:
    """One rule per group: rules do not see each other, and one engine is built once."""
    rules = []
    for index, (_, term, rule_lang, _) in enumerate(GROUPS):
        rule: dict[str, Any] = {"id": f"g{index}", "any": [term]}
        if rule_lang:
            rule["lang"] = rule_lang
        rules.append(rule)
    return Engine(rules_from_text(json.dumps({"rules": rules}, ensure_ascii=False)).rules)
