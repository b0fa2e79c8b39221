"""One field of an article scanned for every term at once: which terms occur in it, and where.

Deciding whether most rules fire needs only which terms occur; where they occur (offsets, for "near"
clauses, hits and snippets) is worked out when first asked, for the few rules that need it: turning a
word's place into a character offset means summing the lengths of everything before it.
"""

from __future__ import annotations

import operator
import re
import time
from dataclasses import dataclass, field
from itertools import compress, repeat

from monitor.errors import MatchTimeout
from monitor.matching.compiled import Compiled
from monitor.matching.lemma_stream import lemmas, readable
from monitor.matching.lemmas import ELIDED, ELISION
from monitor.matching.text import Normalized, is_boundary, match_key, normalize, sentences
from monitor.matching.words import Words

# The time all of an article's regular-expression terms may take together: a pattern that backtracks
# on some text stops there (MatchTimeout) instead of freezing the daemon.
REGEX_BUDGET = 0.5

Occurrence = tuple[int, int]  # a span in the normalized field text
_WordHit = tuple[int, int, int]  # term id, first word, word count


@dataclass(slots=True)
class Scanned:
    """A field and the terms found in it."""

    original: str
    norm: Normalized
    words: Words
    found: set[int] = field(default_factory=set)  # ids of the terms that occur, in any form
    forms: list[str] = field(default_factory=list)  # the words' lemmas, when read in a language
    # per (first word, word count) of an inflected hit found through a word's other reading, the lemmas
    via: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    as_written: list[_WordHit] = field(default_factory=list)
    inflected: list[_WordHit] = field(default_factory=list)
    spans: dict[int, list[Occurrence]] = field(default_factory=dict)  # found letter by letter
    _occurrences: dict[int, list[Occurrence]] | None = None
    # (term id, start, end) -> the lemmas an occurrence was found through, when not found as written
    _lemmas: dict[tuple[int, int, int], str] = field(default_factory=dict)
    _sentences: list[tuple[int, int]] | None = None

    def occurrences(self) -> dict[int, list[Occurrence]]:
        """Per term found, where, in text order."""
        if self._occurrences is None:
            found = {term_id: list(spans) for term_id, spans in self.spans.items()}
            for term_id, first, count in self.as_written:
                found.setdefault(term_id, []).append(self.words.span(first, count))
            for term_id, first, count in self.inflected:
                span = self.words.span(first, count)
                spans = found.setdefault(term_id, [])
                if span not in spans:  # found as written too: that is how it is reported
                    spans.append(span)
                    lemmas = self.via.get((first, count)) or self.forms[first : first + count]
                    self._lemmas[term_id, *span] = readable(lemmas)
            for spans in found.values():
                spans.sort()
            self._occurrences = found
        return self._occurrences

    def lemmas(self, term_id: int, span: Occurrence) -> str | None:
        """The lemmas the term was found through at ``span``; None when found as written there."""
        self.occurrences()
        return self._lemmas.get((term_id, *span))

    def sentences(self) -> list[tuple[int, int]]:
        if self._sentences is None:
            self._sentences = sentences(self.original)
        return self._sentences


def scan(compiled: Compiled, text: str, lang: str | None, deadline: float) -> Scanned:
    """``text`` scanned for every term of ``compiled``, and for their lemmas in ``lang`` if not None."""
    norm = normalize(text)
    key = match_key(norm.text)
    scanned = Scanned(text, norm, Words(key))
    words = scanned.words
    elided = _elided(words.words) if "'" in key and ELISION.search(key) else None
    via: dict[tuple[int, int], list[str]] | None = {} if elided else None
    for first, count, entries in compiled.phrases.find(words.words, words, elided, via):
        for term_id, kept in entries:
            # A case-sensitive term must match its first ``kept`` letters as written (after an elided
            # article: "l'OTAN").
            start = words.span(first, count)[0] if kept is not None else 0
            if kept is not None and via and (first, count) in via:
                start += len(words.words[first]) - len(via[first, count][0])
            if kept is None or norm.text.startswith(compiled.normalized[term_id][:kept], start):
                scanned.found.add(term_id)
                scanned.as_written.append((term_id, first, count))
    if compiled.letters is not None:
        _scan_letters(compiled, scanned, key)
    if compiled.regexes:
        _scan_regexes(compiled, scanned, deadline)
    phrases = compiled.lemma_phrases.get(lang) if lang is not None else None
    if phrases is not None:
        assert lang is not None
        scanned.forms, alternatives = lemmas(words.words, lang)
        for first, count, ids in phrases.find(scanned.forms, words, alternatives, scanned.via):
            scanned.found.update(ids)
            scanned.inflected += [(term_id, first, count) for term_id in ids]
    return scanned


def _elided(words: list[str]) -> dict[int, tuple[str, ...]] | None:
    """The words with an article or preposition elided onto them ("l'otan", "dell'ue"), as themselves and
    as the word after it: terms are found in either."""
    found: dict[int, tuple[str, ...]] = {}
    for index in compress(range(len(words)), map(operator.contains, words, repeat("'"))):
        head, _, rest = words[index].rpartition("'")
        if rest and head in ELIDED:
            found[index] = (words[index], rest)
    return found or None


def _scan_letters(compiled: Compiled, scanned: Scanned, key: str) -> None:
    """Terms that are more than words ("U.S.", "AT&T"), found letter by letter as whole words."""
    norm = scanned.norm.text
    for end, (length, entries) in compiled.letters.iter(key):
        start = end + 1 - length
        if not is_boundary(norm, start, end + 1):
            continue
        for term_id, kept in entries:
            if kept is None or norm.startswith(compiled.normalized[term_id][:kept], start):
                scanned.found.add(term_id)
                scanned.spans.setdefault(term_id, []).append((start, end + 1))


def _scan_regexes(compiled: Compiled, scanned: Scanned, deadline: float) -> None:
    norm = scanned.norm.text
    lowered: str | None = None
    for term_id in compiled.regexes:
        pattern = compiled.terms[term_id].pattern
        assert pattern is not None
        literal = compiled.regex_literal.get(term_id)
        if literal is not None:
            # A substring test is far cheaper than finditer, whose \b-led patterns get no
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
            raise MatchTimeout(compiled.terms[term_id].text, REGEX_BUDGET) from None
        if spans:
            scanned.found.add(term_id)
            scanned.spans[term_id] = spans
