"""An article's words as their lemmas, that terms' lemmas are found in word by word (``words.Phrases``).

A term in language L compiles to its words' lemmas in L, and is looked for only in articles read as L:
it is found where such an article has the same lemmas in the same order, adjacent as the words of any
phrase are (a space or hyphen between them; "войска, северокорейские" is no match for
"северокорейские войска").
"""

from __future__ import annotations

from monitor.matching.lemmas import lemma
from monitor.matching.words import Phrases, Words

_CACHED_WORDS = 200_000  # per language; beyond it the table starts over
_lemmas: dict[str, dict[str, str]] = {}


def lemmas(words: list[str], lang: str) -> list[str]:
    """The lemmas of ``words`` (case-folded, as ``match_key`` has them) in ``lang``.

    Run on every field of every article in an inflected language: the words seen before (most of them)
    cost one C-level map over a table."""
    table = _lemmas.setdefault(lang, {})
    found = list(map(table.get, words))
    if None in found:
        if len(table) >= _CACHED_WORDS:
            table.clear()
        for index, word in enumerate(words):
            if found[index] is None:
                cached = table.get(word)
                if cached is None:
                    cached = table[word] = lemma(word, lang)
                found[index] = cached
    return found  # type: ignore[return-value]  # no None left


def term_words(key: str) -> list[str] | None:
    """The words of the term whose ``match_key`` is ``key``; None when it is more than words with spaces
    between them ("u.s.", "at&t"): such terms match as written."""
    words = Words(key)
    return words.words if words.phrase() else None


def lemmas_of(words: list[str], lang: str, known: dict[str, str]) -> list[str]:
    """The lemmas of a term's ``words`` in ``lang``. ``known``: lemmas already worked out in ``lang``, read
    and added to (not the cache of article words: ten thousand rules' words would crowd those out)."""
    return [known.get(w) or known.setdefault(w, lemma(w, lang)) for w in words]


def readable(found: list[str]) -> str:
    """Lemmas as people read them ("северокорейский войско")."""
    return " ".join(found)


def find(key: str, term: str, langs: tuple[str, ...]) -> list[tuple[int, int]]:
    """Spans of the ``match_key`` text ``key`` where the term whose ``match_key`` is ``term`` occurs in
    another form, read as the first of ``langs`` in which it does."""
    written = term_words(term)
    if written is None:
        return []
    words = Words(key)
    for lang in langs:
        wanted = lemmas_of(written, lang, {})
        phrases = Phrases([(wanted, None)])
        hits = phrases.find(lemmas(words.words, lang), words)
        found = [words.span(first, count) for first, count, _ in hits]
        if found:
            return found
    return []
