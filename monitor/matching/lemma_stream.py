"""An article's words as their lemmas, one stream per field, that term lemmas are found in by automaton.

Each word becomes a token: a mark (a private-use character no word contains), then the word's lemma. A
term in language L compiles to its words' tokens in L, and is looked for (by the engine's automaton of
L's terms) only in articles read as L: it is found where such an article has the same lemmas in the same
order. Words are adjacent as in a term when only a space or hyphen stands between them; any other gap
("войска, северокорейские") puts a ``_BREAK`` between their tokens.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate, pairwise

from monitor.matching.lemmas import lemma

_MARK = "\ue000"
_BREAK = "\ue001"
_TOKEN_STARTS = frozenset({_MARK, _BREAK})
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # the words of text.words
_WORD_SPLIT = re.compile(f"({_WORD.pattern})")
_TOKEN = re.compile(f"{_MARK}[^{_MARK}{_BREAK}]*")
_JOINS = (" ", "-")  # what may stand between two words of a phrase (normalized text has single spaces)


_CACHED_WORDS = 200_000  # per language; beyond it the table starts over
_tokens: dict[str, dict[str, str]] = {}


def token(word: str, lang: str) -> str:
    """``word``'s token in ``lang``: the mark and its lemma."""
    table = _tokens.setdefault(lang, {})
    found = table.get(word)
    if found is None:
        if len(table) >= _CACHED_WORDS:
            table.clear()
        found = table[word] = _MARK + lemma(word, lang)
    return found


def readable(key: str) -> str:
    """A term key as words ("северокорейский войско"), for people."""
    return key.replace(_MARK, " ").strip()


def term_key(text: str, lang: str) -> str | None:
    """What the normalized term ``text`` is found as in a stream in ``lang``; None when it is more than
    words joined by spaces and hyphens ("U.S.", "AT&T"): such terms match as written."""
    spans = [m.span() for m in _WORD.finditer(text)]
    if not spans or spans[0][0] != 0 or spans[-1][1] != len(text):
        return None
    if any(text[end:start] not in _JOINS for (_, end), (start, _) in pairwise(spans)):
        return None
    # Not through the cache of article words: ten thousand rules' words would crowd those out.
    return "".join(_MARK + lemma(text[start:end], lang) for start, end in spans)


class Stream:
    """The tokens of one text, and where each came from in it (worked out on the first find: most
    streams have none)."""

    __slots__ = ("_pieces", "_spans", "_starts", "text")

    def __init__(self, pieces: list[str], text: str) -> None:
        self._pieces = pieces  # the text split at its words: gap, word, gap, word, ..., gap
        self.text = text
        self._starts: list[int] = []  # where token k begins in ``text``
        self._spans: list[int] = []  # where the gaps and words begin in the normalized text

    def word_span(self, start: int, end: int) -> tuple[int, int] | None:
        """The normalized-text span of the whole tokens ``text[start:end]``; None when it ends mid-token."""
        if self.text[end] not in _TOKEN_STARTS:
            return None
        if not self._starts:
            self._locate()
        first = bisect_right(self._starts, start) - 1
        last = bisect_right(self._starts, end - 1) - 1
        return self._spans[2 * first + 1], self._spans[2 * last + 2]

    def _locate(self) -> None:
        self._spans = [0, *accumulate(map(len, self._pieces))]
        self._starts = [m.start() for m in _TOKEN.finditer(self.text)]


def stream(text: str, lang: str) -> Stream:
    """``text`` (normalized) as tokens in ``lang``, ended by a break so every match can look one past.

    Run on every field of every article in an inflected language: the work per word is kept to C-level
    calls (a split, a map over the cached tokens, a join)."""
    pieces = _WORD_SPLIT.split(text)
    words = pieces[1::2]
    table = _tokens.get(lang, {})
    tokens = list(map(table.get, words))
    if None in tokens:
        tokens = [t if t is not None else token(w, lang) for t, w in zip(tokens, words, strict=True)]
    joined: list[str] = [""] * (2 * len(tokens))
    joined[::2] = tokens
    # Between two words, a break unless only a space or hyphen stands there; and one at the end.
    joined[1::2] = ["" if gap in _JOINS else _BREAK for gap in pieces[2:-1:2]] + [_BREAK] if tokens else []
    return Stream(pieces, "".join(joined) or _BREAK)


def find(text: str, term: str, langs: tuple[str, ...]) -> list[tuple[int, int]]:
    """Spans of the normalized ``text`` where ``term`` (normalized) occurs in another form, read as the
    first of ``langs`` in which it does."""
    for lang in langs:
        key = term_key(term, lang)
        if key is None:
            continue
        tokens = stream(text, lang)
        found = []
        start = tokens.text.find(key)
        while start >= 0:
            span = tokens.word_span(start, start + len(key))
            if span is not None:
                found.append(span)
            start = tokens.text.find(key, start + 1)
        if found:
            return found
    return []
