"""Match every rule against an article in one pass per field.

All phrase terms of all rules (with their plural and possessive forms) go into one Aho-Corasick
automaton over ``match_key`` text. Scanning a field once yields every occurrence of every term; an
inverted index (term -> rules) then picks the few rules worth evaluating. Rules whose terms do not occur
cost nothing per article, so thousands of rules are as cheap as ten. Regular-expression terms cannot go
into the automaton and are run one by one: keep them few.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice

import ahocorasick

from monitor.matching.rules import Group, Rule, Term
from monitor.matching.text import Normalized, is_boundary, match_key, normalize, sentences, snippet, words
from monitor.model import FIELDS, Article, Hit, Match

HITS_PER_TERM = 3  # per field: enough to show why, small enough for a webhook payload

_Occurrence = tuple[int, int]  # a span in the normalized field text


@dataclass(frozen=True, slots=True)
class _Rule:
    """A rule with its terms replaced by term ids, ready for evaluation."""

    rule: Rule
    all: tuple[frozenset[int], ...]
    any: tuple[frozenset[int], ...]
    none: tuple[frozenset[int], ...]
    near: tuple[frozenset[int], ...]
    fields: frozenset[str]
    sources: frozenset[str]

    @property
    def positive(self) -> frozenset[int]:
        return frozenset().union(*self.all, *self.any, *self.near)


@dataclass(slots=True)
class _Field:
    """One field of the article being matched, and what was found in it."""

    original: str
    norm: Normalized
    occurrences: dict[int, list[_Occurrence]] = field(default_factory=dict)
    _sentences: list[tuple[int, int]] | None = None

    def sentences(self) -> list[tuple[int, int]]:
        if self._sentences is None:
            self._sentences = sentences(self.original)
        return self._sentences


def inflections(key: str, exact: bool) -> list[tuple[str, int]]:
    """``key`` and, unless ``exact``, its last word's plural and possessive forms.

    Each form comes with the length of the term's prefix it keeps unchanged; a case-sensitive term must
    match that prefix letter for letter ("US" -> "US's", never "us's").
    """
    forms = [(key, len(key))]
    if exact:
        return forms
    last = key.rsplit(" ", 1)[-1]
    forms += [(key + "s", len(key)), (key + "'s", len(key))]
    if last.endswith(("s", "x", "z", "ch", "sh")):
        forms.append((key + "es", len(key)))
    if len(last) > 2 and last.endswith("y") and last[-2] not in "aeiou":
        forms.append((key[:-1] + "ies", len(key) - 1))
    return forms


class Engine:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._terms: list[Term] = []
        self._term_ids: dict[Term, int] = {}
        self._normalized: list[str] = []  # per phrase term id: its normalized text, for case checks
        self._regexes: list[int] = []
        self._compiled = [self._compile(rule) for rule in self.rules]
        rules_of: dict[int, list[int]] = defaultdict(list)
        for index, compiled in enumerate(self._compiled):
            for term_id in compiled.positive:
                rules_of[term_id].append(index)
        self._rules_of = dict(rules_of)  # only terms that can make a rule fire; "none" terms cannot
        self._fields = frozenset().union(*(c.fields for c in self._compiled))
        self._automaton = self._build_automaton()

    # -- compilation --------------------------------------------------------------------------------------
    def _compile(self, rule: Rule) -> _Rule:
        def ids(groups: Iterable[Group]) -> tuple[frozenset[int], ...]:
            return tuple(frozenset(self._term_id(t) for t in group) for group in groups)

        return _Rule(
            rule=rule,
            all=ids(rule.all),
            any=ids(rule.any),
            none=ids(rule.none),
            near=ids(rule.near.terms) if rule.near else (),
            fields=frozenset(rule.fields),
            sources=frozenset(rule.sources),
        )

    def _term_id(self, term: Term) -> int:
        term_id = self._term_ids.get(term)
        if term_id is None:
            term_id = self._term_ids[term] = len(self._terms)
            self._terms.append(term)
            self._normalized.append(normalize(term.text.strip()).text)
            if term.pattern is not None:
                self._regexes.append(term_id)
        return term_id

    def _build_automaton(self) -> ahocorasick.Automaton | None:
        # Several terms can share a key ("Russia" exact and not, in different rules): one entry, many ids.
        entries: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
        for term_id, term in enumerate(self._terms):
            if term.pattern is not None:
                continue
            for key, kept in inflections(match_key(self._normalized[term_id]), term.exact):
                entries[key].append((term_id, kept if term.case_sensitive else None))
        if not entries:
            return None
        automaton = ahocorasick.Automaton()
        for key, payload in entries.items():
            automaton.add_word(key, (len(key), tuple(payload)))
        automaton.make_automaton()
        return automaton

    # -- matching -----------------------------------------------------------------------------------------
    def match(self, article: Article) -> list[Match]:
        return self.match_text(
            {"title": article.title, "summary": article.summary, "body": article.body}, article.source
        )

    def match_text(self, fields: Mapping[str, str], source: str = "") -> list[Match]:
        """Match fields ({"title": ..., "summary": ..., "body": ...}) from ``source`` against every rule."""
        scanned = {name: self._scan(text) for name, text in fields.items() if name in self._fields and text}
        candidates = sorted(
            {
                index
                for f in scanned.values()
                for term_id in f.occurrences
                for index in self._rules_of.get(term_id, ())
            }
        )
        # Rules share a handful of field scopes; each scope's found terms are gathered once.
        scopes: dict[frozenset[str], tuple[dict[str, _Field], frozenset[int]]] = {}
        matches = []
        for index in candidates:
            compiled = self._compiled[index]
            if compiled.sources and source not in compiled.sources:
                continue
            if compiled.fields not in scopes:
                in_scope = {name: f for name, f in scanned.items() if name in compiled.fields}
                found = frozenset().union(*(f.occurrences.keys() for f in in_scope.values()))
                scopes[compiled.fields] = in_scope, found
            in_scope, found = scopes[compiled.fields]
            if self._holds(compiled, in_scope, found):
                matches.append(self._report(compiled, in_scope))
        return matches

    def _scan(self, text: str) -> _Field:
        found = _Field(text, normalize(text))
        norm = found.norm.text
        if self._automaton is not None:
            for end, (length, payload) in self._automaton.iter(match_key(norm)):
                start = end + 1 - length
                if not is_boundary(norm, start, end + 1):
                    continue
                for term_id, kept in payload:
                    if kept is None or norm.startswith(self._normalized[term_id][:kept], start):
                        found.occurrences.setdefault(term_id, []).append((start, end + 1))
        for term_id in self._regexes:
            pattern = self._terms[term_id].pattern
            assert pattern is not None
            spans = [m.span() for m in pattern.finditer(norm) if m.end() > m.start()]
            if spans:
                found.occurrences[term_id] = spans
        return found

    def _holds(self, compiled: _Rule, fields: Mapping[str, _Field], found: frozenset[int]) -> bool:
        return (
            all(not found.isdisjoint(g) for g in compiled.all)
            and (not compiled.any or any(not found.isdisjoint(g) for g in compiled.any))
            and all(found.isdisjoint(g) for g in compiled.none)
            and (not compiled.near or any(self._near(compiled, f) for f in fields.values()))
        )

    def _near(self, compiled: _Rule, found: _Field) -> bool:
        near = compiled.rule.near
        assert near is not None
        spans = [[s for t in group for s in found.occurrences.get(t, ())] for group in compiled.near]
        if not all(spans):
            return False
        if near.sentence:
            starts = [s for s, _ in found.sentences()]

            def sentence_of(span: _Occurrence) -> int:
                return bisect_right(starts, found.norm.to_original(*span)[0]) - 1

            shared = set.intersection(*({sentence_of(s) for s in group} for group in spans))
            return bool(shared)
        assert near.words is not None
        return _within_words(spans, found.norm.text, near.words)

    def _report(self, compiled: _Rule, fields: Mapping[str, _Field]) -> Match:
        hits: dict[tuple[str, int, int], Hit] = {}
        for name, found in fields.items():
            for term_id in sorted(compiled.positive & found.occurrences.keys()):
                term = self._terms[term_id]
                for start, end in found.occurrences[term_id][:HITS_PER_TERM]:
                    ostart, oend = found.norm.to_original(start, end)
                    if (name, ostart, oend) in hits:  # two aliases, one place ("ATACMS", "ATACM"): once
                        continue
                    text = snippet(found.original, ostart, oend, spans=found.sentences())
                    hits[name, ostart, oend] = Hit(term.text, term.entity, name, ostart, oend, text)
        ordered = sorted(hits.values(), key=lambda h: (_field_order(h.field), h.start))
        rule = compiled.rule
        return Match(rule.id, rule.title, tuple(ordered), notify=tuple(rule.notify))


def _field_order(name: str) -> int:
    return FIELDS.index(name) if name in FIELDS else len(FIELDS)


def _within_words(groups: list[list[_Occurrence]], text: str, limit: int) -> bool:
    """Is there one occurrence per group with at most ``limit`` words between the first and the last?

    A window slides over all occurrences in text order, kept as short as it can be while it holds every
    group; words are counted only between its ends, and only up to ``limit + 1``.
    """
    items = sorted((start, end, index) for index, spans in enumerate(groups) for start, end in spans)
    counts = [0] * len(groups)
    missing = len(groups)
    left = 0
    for start, _, index in items:
        counts[index] += 1
        missing -= counts[index] == 1
        while missing == 0:
            _, left_end, left_index = items[left]
            between = islice(words(text, left_end, start), limit + 1) if start > left_end else ()
            if sum(1 for _ in between) <= limit:
                return True
            if counts[left_index] == 1:
                break
            counts[left_index] -= 1
            left += 1
    return False
