"""An article's words as their lemmas, one stream per field, that term lemmas are found in by automaton.

Each word becomes a token: a mark (a private-use character no word contains), then the word's lemma. A
term in language L compiles to its words' tokens in L, so it is found where the article, read as L, has
the same lemmas in the same order. The key alone does not say which language made it (a name has the same
key in most of them, and sharing it keeps the automaton small): the engine keeps, per key, the languages
each term has it in, and counts a find only in an article of one of them. Words are adjacent as in a
term when only a space or hyphen stands between them; any other gap ("войска, северокорейские") puts a
``_BREAK`` between their tokens.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from monitor.matching.lemmas import lemma

_MARK = "\ue000"
_BREAK = "\ue001"
_TOKEN_STARTS = frozenset({_MARK, _BREAK})
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # the words of text.words
_JOINS = (" ", "-")  # what may stand between two words of a phrase (normalized text has single spaces)


@lru_cache(maxsize=200_000)
def token(word: str, lang: str) -> str:
    """``word``'s token in ``lang``: the mark and its lemma."""
    return _MARK + lemma(word, lang)


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
    return "".join(token(text[start:end], lang) for start, end in spans)


@dataclass(frozen=True, slots=True)
class Stream:
    """The tokens of one text; ``starts[k]`` is where token ``k`` begins in ``text`` and ``spans[k]`` the
    word it came from in the normalized field text."""

    text: str
    starts: list[int]
    spans: list[tuple[int, int]]

    def word_span(self, start: int, end: int) -> tuple[int, int] | None:
        """The normalized-text span of the whole tokens ``text[start:end]``; None when it ends mid-token."""
        if self.text[end] not in _TOKEN_STARTS:
            return None
        first = bisect_right(self.starts, start) - 1
        last = bisect_right(self.starts, end - 1) - 1
        return self.spans[first][0], self.spans[last][1]


def stream(text: str, lang: str) -> Stream:
    """``text`` (normalized) as tokens in ``lang``, ended by a break so every match can look one past."""
    parts: list[str] = []
    starts: list[int] = []
    spans: list[tuple[int, int]] = []
    length = 0
    previous = -1
    for m in _WORD.finditer(text):
        start, end = m.span()
        if previous >= 0 and text[previous:start] not in _JOINS:
            parts.append(_BREAK)
            length += 1
        piece = token(m.group(), lang)
        parts.append(piece)
        starts.append(length)
        spans.append((start, end))
        length += len(piece)
        previous = end
    parts.append(_BREAK)
    return Stream("".join(parts), starts, spans)


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
