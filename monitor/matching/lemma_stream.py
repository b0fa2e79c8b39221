"""An article's words as the lemmas they can be forms of, that terms' lemmas are found in word by word
(``words.Phrases``).

A term in language L compiles to its words' lemmas in L, and is looked for only in articles read as L:
it is found where such an article has, word after word, a form of each of its words, adjacent as the
words of any phrase are (a space or hyphen between them; "войска, северокорейские" is no match for
"северокорейские войска"). A word with several readings ("києві": "Київ" or "кий") stands for all of them.
"""

from __future__ import annotations

from itertools import compress, product

from monitor.matching.lemmas import forms, term_forms
from monitor.matching.words import Phrases, Words

_CACHED_WORDS = 200_000  # per language; beyond it the tables start over
# Per language: word -> its first lemma, and word -> all of them for the words with more than one.
_first: dict[str, dict[str, str]] = {}
_all: dict[str, dict[str, tuple[str, ...]]] = {}
# A term whose words have this many readings together is compiled with its first ones only.
_MAX_READINGS = 16

Stream = tuple[list[str], dict[int, tuple[str, ...]]]


def lemmas(words: list[str], lang: str) -> Stream:
    """The lemmas of the case-folded ``words`` in ``lang``: each word's first, and for the words with
    several, all of them by index.

    Run on every field of every article in an inflected language: the words seen before (most of them)
    cost one C-level map over a table."""
    first = _first.setdefault(lang, {})
    several = _all.setdefault(lang, {})
    found = list(map(first.get, words))
    if None in found:
        if len(first) >= _CACHED_WORDS:
            first.clear()
            several.clear()
        for index, word in enumerate(words):
            if found[index] is None:
                cached = first.get(word)
                if cached is None:
                    readings = forms(word, lang)
                    cached = first[word] = readings[0]
                    if len(readings) > 1:
                        several[word] = readings
                found[index] = cached
    alternatives = {
        i: several[words[i]] for i in compress(range(len(words)), map(several.__contains__, words))
    }
    return found, alternatives  # type: ignore[return-value]  # no None left


def term_words(key: str, written: str) -> list[str] | None:
    """The words of the term whose ``match_key`` is ``key``, as ``written`` (its normalized text, the same
    length) has them; None when it is more than words with spaces between them ("u.s.", "at&t"): such
    terms match as written."""
    words = Words(key)
    if not words.phrase():
        return None
    return [written[slice(*words.span(i, 1))] for i in range(len(words.words))]


def lemmas_of(
    words: list[str], lang: str, known: dict[str, tuple[str, ...]], *, surely: bool = True
) -> list[tuple[str, ...]]:
    """Every sequence of lemmas the term ``words`` (as written) stand for in ``lang`` (``surely``: see
    ``lemmas.term_forms``). ``known``: what words were worked out to already, in ``lang`` and the same
    ``surely``, read and added to (not the cache of article words: ten thousand rules' words would crowd
    those out)."""
    readings = [known.get(w) or known.setdefault(w, term_forms(w, lang, surely=surely)) for w in words]
    combinations = 1
    for index, options in enumerate(readings):
        if combinations * len(options) > _MAX_READINGS:
            readings[index] = options = options[:1]
        combinations *= len(options)
    return list(product(*readings))


def readable(found: list[str]) -> str:
    """Lemmas as people read them ("северокорейский войско")."""
    return " ".join(found)


def find(key: str, term_key: str, written: str, langs: tuple[str, ...]) -> list[tuple[int, int]]:
    """Spans of the ``match_key`` text ``key`` where the term ``written`` (normalized; ``term_key`` its
    ``match_key``) occurs in another form, read as the first of ``langs`` in which it does."""
    term = term_words(term_key, written)
    if term is None:
        return []
    words = Words(key)
    for lang in langs:
        phrases = Phrases((wanted, None) for wanted in lemmas_of(term, lang, {}))
        forms, alternatives = lemmas(words.words, lang)
        hits = phrases.find(forms, words, alternatives)
        found = [words.span(first, count) for first, count, _ in hits]
        if found:
            return found
    return []
