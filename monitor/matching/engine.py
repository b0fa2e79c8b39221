"""Match every rule against an article in one pass per field.

Scanning a field once (``compiled``: one automaton over words for all phrase terms, in every form)
yields every occurrence of every term; an inverted index (term -> rules) then picks the few rules worth
evaluating. Rules whose terms do not occur cost nothing per article, so thousands of rules are as cheap
as ten. Regular-expression terms cannot go into an automaton and are run one by one: keep them few.

Inflected forms ("северокорейскими войсками" for the term "северокорейские войска") are found the same
way: in an article in a language some terms inflect in, the field's words are read as their lemmas
(``lemma_stream``) and the automaton of those terms' lemmas scans them. One more scan per field,
whatever the number of rules.

``explain`` runs the same scan and also says, for each rule that had some of its terms found but did not
fire, which clause failed: what ``newsmon rules test`` shows an analyst tuning a rule.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice

from monitor.matching.compiled import Compiled, CompiledRule
from monitor.matching.lemmas import article_language
from monitor.matching.rules import Group, Rule
from monitor.matching.scan import REGEX_BUDGET, Occurrence, Scanned, scan
from monitor.matching.text import snippet, words
from monitor.model import FIELDS, Article, Hit, Match

HITS_PER_TERM = 3  # per field: enough to show why, small enough for a webhook payload


@dataclass(frozen=True, slots=True)
class Explanation:
    """How one rule fared on an article: its match, or why it missed although some of its terms hit."""

    rule: Rule
    match: Match | None  # set when the rule fired
    failed: tuple[str, ...]  # one line per failing clause, e.g. 'all: missing any of [Russia, Kursk]'
    hits: tuple[Hit, ...]  # the rule's terms that were found (for a near miss: what did occur)
    lemmas: tuple[str | None, ...]  # per hit: the lemmas it was found through, None if as written


class Engine:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._c = Compiled(self.rules)

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
        for compiled, in_scope, found in self._candidates(fields, self._c.triggered_by, language):
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
        for compiled, in_scope, found in self._candidates(fields, self._c.rules_of, language):
            failed = self._failures(compiled, source, in_scope, found)
            report = self._report(compiled, in_scope)
            hits = report.hits
            lemmas = self._lemmas_of(compiled, in_scope, hits)
            explained.append(Explanation(compiled.rule, None if failed else report, failed, hits, lemmas))
        return explained

    @property
    def inflecting(self) -> bool:
        """Whether some term is also looked for in its inflected forms (in some language)."""
        return bool(self._c.lemma_phrases)

    @property
    def compile_seconds(self) -> Mapping[str, float]:
        """Per language, what compiling its terms' lemmas took (part of building the engine)."""
        return self._c.seconds

    def language(self, fields: Mapping[str, str], tag: str | None) -> str | None:
        """The language to read ``fields`` in for inflected forms; None when no term has any in it."""
        if not self._c.lemma_phrases:
            return None
        text = fields.get("body") or " ".join(fields.get(name) or "" for name in ("title", "summary"))
        lang = article_language(tag, text)
        return lang if lang in self._c.lemma_phrases else None

    def _candidates(
        self, fields: Mapping[str, str], index: Mapping[int, list[int]], tag: str | None
    ) -> Iterator[tuple[CompiledRule, dict[str, Scanned], frozenset[int]]]:
        """The rules ``index`` lists under a term that occurs in one of the fields, each with its fields and
        the terms found in them. The others cost nothing."""
        lang = self.language(fields, tag)
        deadline = time.monotonic() + REGEX_BUDGET
        scanned = {
            name: scan(self._c, text, lang, deadline)
            for name, text in fields.items()
            if name in self._c.fields and text
        }
        candidates = sorted(
            {rule for f in scanned.values() for term_id in f.found for rule in index.get(term_id, ())}
        )
        # Rules share a handful of field scopes; each scope's found terms are gathered once.
        scopes: dict[frozenset[str], tuple[dict[str, Scanned], frozenset[int]]] = {}
        for rule in candidates:
            compiled = self._c.rules[rule]
            if compiled.fields not in scopes:
                in_scope = {name: f for name, f in scanned.items() if name in compiled.fields}
                found = frozenset().union(*(f.found for f in in_scope.values()))
                scopes[compiled.fields] = in_scope, found
            yield compiled, *scopes[compiled.fields]

    def _holds(self, compiled: CompiledRule, fields: Mapping[str, Scanned], found: frozenset[int]) -> bool:
        return (
            all(not found.isdisjoint(g) for g in compiled.all)
            and (not compiled.any or any(not found.isdisjoint(g) for g in compiled.any))
            and all(found.isdisjoint(g) for g in compiled.none)
            and (not compiled.near or any(self._near(compiled, f) for f in fields.values()))
        )

    def _failures(
        self, compiled: CompiledRule, source: str, fields: Mapping[str, Scanned], found: frozenset[int]
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
        vetoes = sorted({self._c.terms[t].text for ids in compiled.none for t in found.intersection(ids)})
        if vetoes:
            failed.append(f"none: vetoed by {', '.join(_quote(text) for text in vetoes)}")
        if rule.near and not any(self._near(compiled, f) for f in fields.values()):
            how = f"within {rule.near.words} words" if rule.near.words is not None else "in one sentence"
            failed.append(f"near: {_label_list(rule.near.terms, last='and')} never {how}")
        return tuple(failed)

    def _near(self, compiled: CompiledRule, found: Scanned) -> bool:
        near = compiled.rule.near
        assert near is not None
        occurrences = found.occurrences()
        spans = [[s for t in group for s in occurrences.get(t, ())] for group in compiled.near]
        if not all(spans):
            return False
        if near.sentence:
            starts = [s for s, _ in found.sentences()]

            def sentence_of(span: Occurrence) -> int:
                return bisect_right(starts, found.norm.to_original(*span)[0]) - 1

            shared = set.intersection(*({sentence_of(s) for s in group} for group in spans))
            return bool(shared)
        assert near.words is not None
        return _within_words(spans, found.norm.text, near.words)

    def _report(self, compiled: CompiledRule, fields: Mapping[str, Scanned]) -> Match:
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

    def _hits(self, compiled: CompiledRule, fields: Mapping[str, Scanned]) -> tuple[Hit, ...]:
        hits: dict[tuple[str, int, int], Hit] = {}
        for name, found in fields.items():
            for term_id, start, end in self._occurrences(compiled, found):
                term = self._c.terms[term_id]
                ostart, oend = found.norm.to_original(start, end)
                if (name, ostart, oend) in hits:  # two aliases, one place ("ATACMS", "ATACM"): once
                    continue
                text = snippet(found.original, ostart, oend, spans=found.sentences())
                hits[name, ostart, oend] = Hit(term.text, term.entity, name, ostart, oend, text)
        return tuple(sorted(hits.values(), key=lambda h: (_field_order(h.field), h.start)))

    def _lemmas_of(
        self, compiled: CompiledRule, fields: Mapping[str, Scanned], hits: Sequence[Hit]
    ) -> tuple[str | None, ...]:
        """Per hit, the lemmas it was found through (None: found as written), for ``explain``."""
        via: dict[tuple[str, int, int], str] = {}
        for name, found in fields.items():
            for term_id, start, end in self._occurrences(compiled, found):
                lemmas = found.lemmas(term_id, (start, end))
                if lemmas is not None:
                    via.setdefault((name, *found.norm.to_original(start, end)), lemmas)
        return tuple(via.get((h.field, h.start, h.end)) for h in hits)

    @staticmethod
    def _occurrences(compiled: CompiledRule, found: Scanned) -> Iterator[tuple[int, int, int]]:
        """(term id, start, end) of the first few occurrences of each positive term of the rule."""
        occurrences = found.occurrences()
        for term_id in sorted(compiled.positive & occurrences.keys()):
            for start, end in occurrences[term_id][:HITS_PER_TERM]:
                yield term_id, start, end


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


def _within_words(groups: list[list[Occurrence]], text: str, limit: int) -> bool:
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
