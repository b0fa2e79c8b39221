"""Rules compiled for matching: term ids, the automata that find terms, and the rules each term concerns.

Every distinct term of every rule gets one id (a term used by a thousand rules is looked for once). Phrase
terms, in every form the engine looks for (``text.inflections``), go into one automaton over words
(``words.Phrases``); the few that are more than words with spaces between them ("U.S.", "AT&T", "C++")
go into a small automaton over letters, checked for word boundaries where found. In each language the
terms may inflect in (the rule's ``lang``, else their script's), their lemmas go into one more automaton
over words, which reads an article in that language as its lemmas.

All of it is built here, at once: building takes seconds at ten thousand rules, and the daemon builds it
in a worker thread at start and on reload, so no article ever waits for a language to compile.
"""

from __future__ import annotations

import logging
import re
import re._constants as _re_constants  # type: ignore[import-not-found]
import re._parser as _re_parser  # type: ignore[import-not-found]
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick
import regex

from monitor.matching import lemmas
from monitor.matching.lemma_stream import lemmas_of, term_words
from monitor.matching.rules import Group, Rule, Term
from monitor.matching.text import inflections, match_key, normalize
from monitor.matching.words import Phrases, Words

log = logging.getLogger("newsmon.matching")

Ids = tuple[int, ...]  # term ids
# Where a term was found as written: its id, and how many of its first letters must match case for case
# (None: any case).
Entry = tuple[int, int | None]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule with its terms replaced by term ids, ready for evaluation."""

    rule: Rule
    # Term ids per group as plain tuples: at 50k rules frozensets would cost a third of the memory, and
    # every test done on a group (``found.isdisjoint(group)``) takes any iterable.
    all: tuple[Ids, ...]
    any: tuple[Ids, ...]
    none: tuple[Ids, ...]
    near: tuple[Ids, ...]
    fields: frozenset[str]
    sources: frozenset[str]

    @property
    def positive(self) -> frozenset[int]:
        return frozenset().union(*self.all, *self.any, *self.near)


def required_literal(pattern: re.Pattern[str] | regex.Pattern[str]) -> str | None:
    """The longest run of literal characters every match of ``pattern`` contains, if any.

    Only the pattern's top-level sequence is read (a branch, a class or an optional part ends a run);
    ASCII only, since ``str.lower`` and the re module's IGNORECASE agree there. ``None`` when unsure.
    """
    try:
        parsed = _re_parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # private module: any surprise just means no prefilter
        return None
    best, run = "", []
    for op, arg in parsed:
        if op is _re_constants.LITERAL and arg < 128:
            run.append(chr(arg))
            continue
        if op is _re_constants.AT:  # \b, ^, $ take no characters: the run goes on across them
            continue
        best = max(best, "".join(run), key=len)
        run = []
    best = max(best, "".join(run), key=len)
    if not best:
        return None
    return best.lower() if pattern.flags & re.IGNORECASE else best


class Compiled:
    """``rules`` ready to match: see the module notes."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.terms: list[Term] = []
        self._term_ids: dict[Term, int] = {}
        self.normalized: list[str] = []  # per term id: its normalized text, for case checks and reports
        self._keys: list[str] = []  # per term id: its normalized text's ``match_key``
        self.regexes: list[int] = []
        self.regex_literal: dict[int, str] = {}  # regex term id -> text every match must contain
        self._scopes: dict[frozenset[str], frozenset[str]] = {}
        self.rules = [self._compile(rule) for rule in rules]
        # Two inverted indexes, term -> rules. ``explain`` wants every rule with any positive term found;
        # ``match`` only needs the rules whose one required element (see ``_trigger``) was found, which
        # keeps rules that cannot fire (one of several "all" terms present) from costing anything.
        rules_of: dict[int, list[int]] = defaultdict(list)
        triggered_by: dict[int, list[int]] = defaultdict(list)
        for index, compiled in enumerate(self.rules):
            for term_id in compiled.positive:
                rules_of[term_id].append(index)
            for term_id in self._trigger(compiled):
                triggered_by[term_id].append(index)
        self.rules_of = dict(rules_of)
        self.triggered_by = dict(triggered_by)
        self.fields = frozenset().union(*(c.fields for c in self.rules))
        self.phrases, self.letters = self._surface()
        self.seconds: dict[str, float] = {}  # per language: what compiling its lemmas took
        inflectable = self._inflectable()
        words = {
            t: term_words(self._keys[t], self.normalized[t]) for ids in inflectable.values() for t in ids
        }
        self.lemma_phrases = {lang: self._lemmas(lang, ids, words) for lang, ids in inflectable.items()}

    def _compile(self, rule: Rule) -> CompiledRule:
        def ids(groups: Iterable[Group]) -> tuple[Ids, ...]:
            return tuple(tuple(dict.fromkeys(self._term_id(t) for t in group)) for group in groups)

        return CompiledRule(
            rule=rule,
            all=ids(rule.all),
            any=ids(rule.any),
            none=ids(rule.none),
            near=ids(rule.near.terms) if rule.near else (),
            fields=self._shared(frozenset(rule.fields)),
            sources=self._shared(frozenset(rule.sources)),
        )

    def _shared(self, names: frozenset[str]) -> frozenset[str]:
        """One object per distinct scope: thousands of rules share a handful of them."""
        return self._scopes.setdefault(names, names)

    def _trigger(self, compiled: CompiledRule) -> Iterable[int]:
        """Terms of which at least one must occur for the rule to fire: one element of "all" or "near"
        (the one whose shortest term is longest, as longer terms tend to be rarer), else all of "any"."""
        required = [*compiled.all, *compiled.near]
        if not required:
            return frozenset().union(*compiled.any)

        def rarity(group: Ids) -> int:
            return min((len(self.normalized[t]) for t in group), default=0)

        return max(required, key=rarity)

    def _term_id(self, term: Term) -> int:
        term_id = self._term_ids.get(term)
        if term_id is None:
            term_id = self._term_ids[term] = len(self.terms)
            self.terms.append(term)
            self.normalized.append(normalize(term.text.strip()).text)
            self._keys.append(match_key(self.normalized[-1]))
            if term.pattern is not None:
                self.regexes.append(term_id)
                literal = required_literal(term.pattern)
                if literal:
                    self.regex_literal[term_id] = literal
        return term_id

    def _surface(self) -> tuple[Phrases, Any]:
        """The words of the terms that are words, and an automaton over the letters of the rest."""
        return Phrases(self._forms(phrase=True)), _letters(self._forms(phrase=False))

    def _forms(self, *, phrase: bool) -> Iterator[tuple[Any, Entry]]:
        """Every form of every phrase term (as its words), or of every other term (as text)."""
        for term_id, term in enumerate(self.terms):
            if term.pattern is not None:
                continue
            written = self._keys[term_id]
            # The forms differ from the term in the last word's ending alone: words if it is words.
            if Words(written).phrase() != phrase:
                continue
            for key, kept in inflections(written, term.exact):
                yield (key.split(" ") if phrase else key), (term_id, kept if term.case_sensitive else None)

    def _inflectable(self) -> dict[str, list[int]]:
        """Per language, the terms that may take inflected forms in its articles. Case-sensitive and exact
        terms keep to the forms they are written in."""
        by_language: dict[str, list[int]] = defaultdict(list)
        for term_id, term in enumerate(self.terms):
            if term.pattern is None and not term.exact and not term.case_sensitive:
                for lang in _term_languages(term, self.normalized[term_id]):
                    by_language[lang].append(term_id)
        return dict(by_language)

    def _lemmas(self, lang: str, term_ids: list[int], words: Mapping[int, list[str] | None]) -> Phrases:
        started = time.perf_counter()
        # Lemmas already worked out (rules share most of their words), for terms surely in ``lang`` or not.
        known: dict[bool, dict[str, tuple[str, ...]]] = {True: {}, False: {}}
        phrases = Phrases(
            (wanted, term_id)
            for term_id in term_ids
            if (written := words[term_id]) is not None
            for surely in [lemmas.surely_in(lang, self._keys[term_id], self.terms[term_id].lang)]
            for wanted in lemmas_of(written, lang, known[surely], surely=surely)
        )
        self.seconds[lang] = seconds = round(time.perf_counter() - started, 3)
        log.info("inflected_forms_compiled", extra={"lang": lang, "keys": len(phrases), "seconds": seconds})
        return phrases


def _term_languages(term: Term, text: str) -> tuple[str, ...]:
    """The languages a term's inflected forms are looked for in: its rule's word, else its script's."""
    if term.lang is not None:
        return (term.lang,) if term.lang in lemmas.LANGUAGES else ()
    return lemmas.script_languages(text)


def _letters(forms: Iterable[tuple[str, Entry]]) -> Any:
    """An automaton over the letters of ``forms``, each found with its entries; None if there are none."""
    # Several terms can share a form ("U.S." exact and not, in different rules): one key, many entries.
    entries: dict[str, list[Entry]] = defaultdict(list)
    for key, entry in forms:
        entries[key].append(entry)
    if not entries:
        return None
    automaton = ahocorasick.Automaton()
    for key, found in entries.items():
        automaton.add_word(key, (len(key), tuple(found)))
    automaton.make_automaton()
    return automaton
