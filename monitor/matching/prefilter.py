"""A cheap, conservative test of whether rules could match a stored text, to skip most archived articles.

Normalizing an article for the engine costs more than everything else a backtest does with it, and most
archived articles match none of the rules tried. So each rule is reduced to sets of probes, one for
each element it cannot fire without (each "all" and "near" group, and "any" as a whole): each term's
longest run of letters and digits in every form the engine looks for (plural, possessive) -- or, for a
regular expression, in the literal every match contains. A text that lacks every probe of one of the
sets cannot match the rule; one that has some of each goes to the engine, which decides. Probes have
no spaces, quotes or dashes, so what ``normalize`` does to those does not matter; what it does to
letters (NFKC, dropping invisible characters) and case folding are applied to the whole text here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import ahocorasick

from monitor.matching.compiled import required_literal
from monitor.matching.rules import Group, Rule, Term
from monitor.matching.text import inflections, match_key, normalize

_RUN = re.compile(r"[^\W_]+")
_INVISIBLE = re.compile("[\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff]")


def probe_text(text: str) -> str:
    """``text`` as probes are looked for in it: NFKC, without invisible characters, case-folded.

    Plain ``casefold`` where ``match_key`` lower-cases the few characters whose folding changes length:
    probes are case-folded too, and folding maps each character on its own, so a probe found by
    ``match_key`` is found here ("straße" is looked for as "strasse")."""
    if not text.isascii():
        text = _INVISIBLE.sub("", text)
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
    return text.casefold()


def _longest_run(text: str) -> str | None:
    run = max(_RUN.findall(text), key=len, default=None)
    return run.casefold() if run else None


def _term_probes(term: Term) -> frozenset[str] | None:
    """Strings one of which every occurrence of ``term`` contains; None when there is no such set."""
    if term.pattern is not None:
        literal = required_literal(term.pattern)
        run = _longest_run(literal) if literal else None
        return frozenset([run]) if run else None
    key = match_key(normalize(term.text.strip()).text)
    probes = set()
    for form, _ in inflections(key, term.exact):
        run = _longest_run(form)
        if run is None:
            return None
        probes.add(run)
    return frozenset(probes)


def _group_probes(group: Group) -> frozenset[str] | None:
    probes: set[str] = set()
    for term in group:
        found = _term_probes(term)
        if found is None:
            return None
        probes |= found
    return frozenset(probes)


def rule_probes(rule: Rule) -> tuple[frozenset[str], ...]:
    """Sets of probes of each of which at least one occurs in every text ``rule`` matches: one per
    element of "all" and "near", one for all of "any". A set that cannot be told (a term with no
    letters or digits, a regular expression without a literal) is left out; none at all: any text."""
    required = [*rule.all, *(rule.near.terms if rule.near else ())]
    sets = [p for p in map(_group_probes, required) if p is not None]
    if rule.any:
        groups = [_group_probes(group) for group in rule.any]
        if all(p is not None for p in groups):
            sets.append(frozenset().union(*(p for p in groups if p is not None)))
    return tuple(sets)


class Prefilter:
    """Which of ``rules`` a text could match: one Aho-Corasick pass over the text finds every probe."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._required = {r.id: rule_probes(r) for r in rules}
        probes = {p for sets in self._required.values() for group in sets for p in group}
        self._automaton: ahocorasick.Automaton | None = None
        if probes:
            self._automaton = ahocorasick.Automaton()
            for probe in probes:
                self._automaton.add_word(probe, probe)
            self._automaton.make_automaton()

    def candidates(self, text: str) -> set[str]:
        """Ids of the rules that could match ``text`` (any text: a JSON record holds the fields)."""
        found: set[str] = set()
        if self._automaton is not None:
            found.update(probe for _, probe in self._automaton.iter(probe_text(text)))
        return {rule for rule, sets in self._required.items() if all(not found.isdisjoint(s) for s in sets)}
