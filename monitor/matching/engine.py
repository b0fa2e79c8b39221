"""Match every rule against an article in one pass per field.

All phrase terms of all rules (with their plural and possessive forms) go into one Aho-Corasick
automaton over ``match_key`` text. Scanning a field once yields every occurrence of every term; an
inverted index (term -> rules) then picks the few rules worth evaluating. Rules whose terms do not occur
cost nothing per article, so thousands of rules are as cheap as ten. Regular-expression terms cannot go
into the automaton and are run one by one: keep them few.

Inflected forms ("северокорейскими войсками" for the term "северокорейские войска") are found the same
way: the terms' lemmas in a language go into an automaton of that language, which scans the field read
as a stream of lemmas (``lemma_stream``) when the article is in that language. One more scan per field,
whatever the number of rules.

``explain`` runs the same scan and also says, for each rule that had some of its terms found but did not
fire, which clause failed: what ``newsmon rules test`` shows an analyst tuning a rule.
"""

from __future__ import annotations

import logging
import re
import re._constants as _re_constants  # type: ignore[import-not-found]
import re._parser as _re_parser  # type: ignore[import-not-found]
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice

import ahocorasick
import regex

from monitor.errors import MatchTimeout
from monitor.matching.lemma_stream import Stream, readable, stream, term_key
from monitor.matching.lemmas import LANGUAGES, article_language, script_languages
from monitor.matching.rules import Group, Rule, Term
from monitor.matching.text import (
    Normalized,
    inflections,
    is_boundary,
    match_key,
    normalize,
    sentences,
    snippet,
    words,
)
from monitor.model import FIELDS, Article, Hit, Match

log = logging.getLogger("newsmon.matching")

# The time all of an article's regular-expression terms may take together: a pattern that backtracks
# on some text stops there (MatchTimeout) instead of freezing the daemon.
REGEX_BUDGET = 0.5
HITS_PER_TERM = 3  # per field: enough to show why, small enough for a webhook payload

_Occurrence = tuple[int, int]  # a span in the normalized field text
_Ids = tuple[int, ...]  # term ids


@dataclass(frozen=True, slots=True)
class _Rule:
    """A rule with its terms replaced by term ids, ready for evaluation."""

    rule: Rule
    # Term ids per group as plain tuples: at 50k rules frozensets would cost a third of the memory, and
    # every test done on a group (``found.isdisjoint(group)``) takes any iterable.
    all: tuple[_Ids, ...]
    any: tuple[_Ids, ...]
    none: tuple[_Ids, ...]
    near: tuple[_Ids, ...]
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
    # (term id, start, end) -> the lemmas an occurrence was found through, when not found as written
    lemmas: dict[tuple[int, int, int], str] = field(default_factory=dict)
    _sentences: list[tuple[int, int]] | None = None

    def sentences(self) -> list[tuple[int, int]]:
        if self._sentences is None:
            self._sentences = sentences(self.original)
        return self._sentences


@dataclass(frozen=True, slots=True)
class Explanation:
    """How one rule fared on an article: its match, or why it missed although some of its terms hit."""

    rule: Rule
    match: Match | None  # set when the rule fired
    failed: tuple[str, ...]  # one line per failing clause, e.g. 'all: missing any of [Russia, Kursk]'
    hits: tuple[Hit, ...]  # the rule's terms that were found (for a near miss: what did occur)
    lemmas: tuple[str | None, ...]  # per hit: the lemmas it was found through, None if as written


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


class Engine:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._terms: list[Term] = []
        self._term_ids: dict[Term, int] = {}
        self._normalized: list[str] = []  # per phrase term id: its normalized text, for case checks
        self._regexes: list[int] = []
        self._regex_literal: dict[int, str] = {}  # regex term id -> text every match must contain
        self._scopes: dict[frozenset[str], frozenset[str]] = {}
        self._compiled = [self._compile(rule) for rule in self.rules]
        # Two inverted indexes, term -> rules. ``explain`` wants every rule with any positive term found;
        # ``match`` only needs the rules whose one required element (see ``_trigger``) was found, which
        # keeps rules that cannot fire (one of several "all" terms present) from costing anything.
        rules_of: dict[int, list[int]] = defaultdict(list)
        triggered_by: dict[int, list[int]] = defaultdict(list)
        for index, compiled in enumerate(self._compiled):
            for term_id in compiled.positive:
                rules_of[term_id].append(index)
            for term_id in self._trigger(compiled):
                triggered_by[term_id].append(index)
        self._rules_of = dict(rules_of)
        self._triggered_by = dict(triggered_by)
        self._fields = frozenset().union(*(c.fields for c in self._compiled))
        self._automaton = self._build_automaton()
        self._inflectable = self._inflectable_terms()
        self._lemma_automata: dict[str, ahocorasick.Automaton | None] = {}

    # -- compilation --------------------------------------------------------------------------------------
    def _compile(self, rule: Rule) -> _Rule:
        def ids(groups: Iterable[Group]) -> tuple[_Ids, ...]:
            return tuple(tuple(dict.fromkeys(self._term_id(t) for t in group)) for group in groups)

        return _Rule(
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

    def _trigger(self, compiled: _Rule) -> Iterable[int]:
        """Terms of which at least one must occur for the rule to fire: one element of "all" or "near"
        (the one whose shortest term is longest, as longer terms tend to be rarer), else all of "any"."""
        required = [*compiled.all, *compiled.near]
        if not required:
            return frozenset().union(*compiled.any)

        def rarity(group: _Ids) -> int:
            return min((len(self._normalized[t]) for t in group), default=0)

        return max(required, key=rarity)

    def _term_id(self, term: Term) -> int:
        term_id = self._term_ids.get(term)
        if term_id is None:
            term_id = self._term_ids[term] = len(self._terms)
            self._terms.append(term)
            self._normalized.append(normalize(term.text.strip()).text)
            if term.pattern is not None:
                self._regexes.append(term_id)
                literal = required_literal(term.pattern)
                if literal:
                    self._regex_literal[term_id] = literal
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

    def _inflectable_terms(self) -> dict[str, list[int]]:
        """Per language, the terms that may take inflected forms in its articles. Case-sensitive and exact
        terms keep to the forms they are written in."""
        by_language: dict[str, list[int]] = defaultdict(list)
        for term_id, term in enumerate(self._terms):
            if term.pattern is None and not term.exact and not term.case_sensitive:
                for lang in _term_languages(term, self._normalized[term_id]):
                    by_language[lang].append(term_id)
        return dict(by_language)

    def prepare(self, languages: Iterable[str]) -> None:
        """Compile the terms' lemmas in ``languages`` now, not on the first article in each."""
        for lang in languages:
            self._lemma_automaton(lang)

    def _lemma_automaton(self, lang: str) -> ahocorasick.Automaton | None:
        # Built on first use: a deployment that reads no German articles pays nothing for German forms.
        if lang not in self._lemma_automata:
            started = time.perf_counter()
            entries: dict[str, list[int]] = defaultdict(list)
            for term_id in self._inflectable.get(lang, ()):
                key = term_key(self._normalized[term_id], lang)
                if key is not None:
                    entries[key].append(term_id)
            automaton = None
            if entries:
                automaton = ahocorasick.Automaton()
                for key, ids in entries.items():
                    automaton.add_word(key, (len(key), tuple(ids)))
                automaton.make_automaton()
            self._lemma_automata[lang] = automaton
            # The first article in a language waits for this: say what it cost.
            seconds = round(time.perf_counter() - started, 3)
            log.info(
                "inflected_forms_compiled", extra={"lang": lang, "keys": len(entries), "seconds": seconds}
            )
        return self._lemma_automata[lang]

    # -- matching -----------------------------------------------------------------------------------------
    def match(self, article: Article) -> list[Match]:
        return self.match_text(
            {"title": article.title, "summary": article.summary, "body": article.body},
            article.source,
            article.language,
        )

    def match_text(
        self, fields: Mapping[str, str], source: str = "", language: str | None = None
    ) -> list[Match]:
        """Match fields ({"title": ..., "summary": ..., "body": ...}) from ``source`` against every rule.

        ``language`` is the article's language tag ("de", "ru-RU", "en"), None when its page and feed gave
        none: then its text is asked (``lemmas.detect``)."""
        matches = []
        for compiled, in_scope, found in self._candidates(fields, self._triggered_by, language):
            if compiled.sources and source not in compiled.sources:
                continue
            if self._holds(compiled, in_scope, found):
                matches.append(self._report(compiled, in_scope))
        return matches

    def explain(self, article: Article) -> list[Explanation]:
        return self.explain_text(
            {"title": article.title, "summary": article.summary, "body": article.body},
            article.source,
            article.language,
        )

    def explain_text(
        self, fields: Mapping[str, str], source: str = "", language: str | None = None
    ) -> list[Explanation]:
        """Every rule that fired or nearly did (one of its terms occurred in its fields), in rule order."""
        explained = []
        for compiled, in_scope, found in self._candidates(fields, self._rules_of, language):
            failed = self._failures(compiled, source, in_scope, found)
            report = self._report(compiled, in_scope)
            hits = report.hits
            lemmas = self._lemmas_of(compiled, in_scope, hits)
            explained.append(Explanation(compiled.rule, None if failed else report, failed, hits, lemmas))
        return explained

    @property
    def inflecting(self) -> bool:
        """Whether some term is also looked for in its inflected forms (in some language)."""
        return bool(self._inflectable)

    def language(self, fields: Mapping[str, str], tag: str | None) -> str | None:
        """The language to read ``fields`` in for inflected forms; None when no term has any in it."""
        if not self._inflectable:
            return None
        text = fields.get("body") or " ".join(fields.get(name) or "" for name in ("title", "summary"))
        lang = article_language(tag, text)
        return lang if lang in self._inflectable else None

    def _candidates(
        self, fields: Mapping[str, str], index: Mapping[int, list[int]], tag: str | None
    ) -> Iterator[tuple[_Rule, dict[str, _Field], frozenset[int]]]:
        """The rules ``index`` lists under a term that occurs in one of the fields, each with its fields and
        the terms found in them. The others cost nothing."""
        lang = self.language(fields, tag)
        deadline = time.monotonic() + REGEX_BUDGET
        scanned = {
            name: self._scan(text, lang, deadline)
            for name, text in fields.items()
            if name in self._fields and text
        }
        candidates = sorted(
            {rule for f in scanned.values() for term_id in f.occurrences for rule in index.get(term_id, ())}
        )
        # Rules share a handful of field scopes; each scope's found terms are gathered once.
        scopes: dict[frozenset[str], tuple[dict[str, _Field], frozenset[int]]] = {}
        for rule in candidates:
            compiled = self._compiled[rule]
            if compiled.fields not in scopes:
                in_scope = {name: f for name, f in scanned.items() if name in compiled.fields}
                found = frozenset().union(*(f.occurrences.keys() for f in in_scope.values()))
                scopes[compiled.fields] = in_scope, found
            yield compiled, *scopes[compiled.fields]

    def _scan(self, text: str, lang: str | None, deadline: float) -> _Field:
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
        lowered: str | None = None
        for term_id in self._regexes:
            pattern = self._terms[term_id].pattern
            assert pattern is not None
            literal = self._regex_literal.get(term_id)
            if literal is not None:
                # A substring test is ~20x cheaper than finditer, whose \b-led patterns get no
                # literal-prefix speed-up from the re module: skip fields that cannot match.
                if pattern.flags & re.IGNORECASE:
                    lowered = norm.lower() if lowered is None else lowered
                    if literal not in lowered:
                        continue
                elif literal not in norm:
                    continue
            try:
                matches = pattern.finditer(norm, timeout=max(deadline - time.monotonic(), 0.001))
                spans = [m.span() for m in matches if m.end() > m.start()]
            except TimeoutError:
                raise MatchTimeout(self._terms[term_id].text, REGEX_BUDGET) from None
            if spans:
                found.occurrences[term_id] = spans
        automaton = self._lemma_automaton(lang) if lang is not None else None
        if automaton is not None:
            assert lang is not None
            self._scan_lemmas(found, stream(norm, lang), automaton)
        return found

    @staticmethod
    def _scan_lemmas(found: _Field, tokens: Stream, automaton: ahocorasick.Automaton) -> None:
        added: set[int] = set()
        for end, (length, ids) in automaton.iter(tokens.text):
            span = tokens.word_span(end + 1 - length, end + 1)
            if span is None:
                continue
            for term_id in ids:
                spans = found.occurrences.setdefault(term_id, [])
                if span not in spans:  # found as written too: that is how it is reported
                    spans.append(span)
                    found.lemmas[term_id, *span] = readable(tokens.text[end + 1 - length : end + 1])
                    added.add(term_id)
        for term_id in added:
            found.occurrences[term_id].sort()

    def _holds(self, compiled: _Rule, fields: Mapping[str, _Field], found: frozenset[int]) -> bool:
        return (
            all(not found.isdisjoint(g) for g in compiled.all)
            and (not compiled.any or any(not found.isdisjoint(g) for g in compiled.any))
            and all(found.isdisjoint(g) for g in compiled.none)
            and (not compiled.near or any(self._near(compiled, f) for f in fields.values()))
        )

    def _failures(
        self, compiled: _Rule, source: str, fields: Mapping[str, _Field], found: frozenset[int]
    ) -> tuple[str, ...]:
        """Why ``compiled`` does not fire, clause by clause; empty when it does."""
        rule = compiled.rule
        failed = []
        if compiled.sources and source not in compiled.sources:
            failed.append(f"sources: article is from {source!r}, not one of [{', '.join(rule.sources)}]")
        for group, ids in zip(rule.all, compiled.all, strict=True):
            if found.isdisjoint(ids):
                failed.append(f"all: missing {_label(group)}")
        if compiled.any and all(found.isdisjoint(ids) for ids in compiled.any):
            failed.append(f"any: none of {_label_list(rule.any)} found")
        vetoes = sorted({self._terms[t].text for ids in compiled.none for t in found.intersection(ids)})
        if vetoes:
            failed.append(f"none: vetoed by {', '.join(_quote(text) for text in vetoes)}")
        if rule.near and not any(self._near(compiled, f) for f in fields.values()):
            how = f"within {rule.near.words} words" if rule.near.words is not None else "in one sentence"
            failed.append(f"near: {_label_list(rule.near.terms, last='and')} never {how}")
        return tuple(failed)

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
        # Deciding that a rule fires is all the per-article work; its hits (offsets in the original text,
        # snippets) cost more than that and are worked out once, when the alert is built from the match.
        hits: tuple[Hit, ...] | None = None

        def report() -> tuple[Hit, ...]:
            nonlocal hits
            if hits is None:
                hits = self._hits(compiled, fields)
            return hits

        rule = compiled.rule
        return Match(rule.id, rule.title, report, notify=tuple(rule.notify), realert=rule.realert)

    def _hits(self, compiled: _Rule, fields: Mapping[str, _Field]) -> tuple[Hit, ...]:
        hits: dict[tuple[str, int, int], Hit] = {}
        for name, found in fields.items():
            for term_id, start, end in self._occurrences(compiled, found):
                term = self._terms[term_id]
                ostart, oend = found.norm.to_original(start, end)
                if (name, ostart, oend) in hits:  # two aliases, one place ("ATACMS", "ATACM"): once
                    continue
                text = snippet(found.original, ostart, oend, spans=found.sentences())
                hits[name, ostart, oend] = Hit(term.text, term.entity, name, ostart, oend, text)
        return tuple(sorted(hits.values(), key=lambda h: (_field_order(h.field), h.start)))

    def _lemmas_of(
        self, compiled: _Rule, fields: Mapping[str, _Field], hits: Sequence[Hit]
    ) -> tuple[str | None, ...]:
        """Per hit, the lemmas it was found through (None: found as written), for ``explain``."""
        via: dict[tuple[str, int, int], str] = {}
        for name, found in fields.items():
            for term_id, start, end in self._occurrences(compiled, found):
                lemmas = found.lemmas.get((term_id, start, end))
                if lemmas is not None:
                    via.setdefault((name, *found.norm.to_original(start, end)), lemmas)
        return tuple(via.get((h.field, h.start, h.end)) for h in hits)

    @staticmethod
    def _occurrences(compiled: _Rule, found: _Field) -> Iterator[tuple[int, int, int]]:
        """(term id, start, end) of the first few occurrences of each positive term of the rule."""
        for term_id in sorted(compiled.positive & found.occurrences.keys()):
            for start, end in found.occurrences[term_id][:HITS_PER_TERM]:
                yield term_id, start, end


def _term_languages(term: Term, text: str) -> tuple[str, ...]:
    """The languages a term's inflected forms are looked for in: its rule's word, else its script's."""
    if term.lang is not None:
        return (term.lang,) if term.lang in LANGUAGES else ()
    return script_languages(text)


def _quote(text: str) -> str:
    return f'"{text}"'


def _label(group: Group) -> str:
    """A group as the rule file wrote it, near enough: '"Kursk"', '@russia', 'any of [Russia, @nk]'."""
    names = list(dict.fromkeys(f"@{t.entity}" if t.entity else t.text for t in group))
    if len(names) == 1:
        return names[0] if names[0].startswith("@") else _quote(names[0])
    return f"any of [{', '.join(names)}]"


def _label_list(groups: Sequence[Group], last: str = "") -> str:
    labels = [_label(g) for g in groups]
    if last and len(labels) > 1:
        return f"{', '.join(labels[:-1])} {last} {labels[-1]}"
    return f"[{', '.join(labels)}]"


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
