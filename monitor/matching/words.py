"""Phrases found word by word: a text is split into its words once, and only where a word starts some
phrase is anything more done.

Rule terms are whole words, so looking for them letter by letter (an automaton over every term's
letters) does work no match can use: at every letter of every word it follows the trie of all terms
(whose nodes near the root have hundreds of children at ten thousand rules, searched one by one) only
to find, most of the time, a term's first letters inside a longer word. Here a text is split into its
words in C, the words that start a phrase are picked out in C (``map`` over a dict's ``__contains__``,
``compress``), and only those are looked at in Python: the cost follows the text's length and how many
of its words the terms use, not the number of terms.

Words of a phrase must stand in order with only a space between them (``match_key`` has turned hyphens
into spaces), so "войска, северокорейские" is not "северокорейские войска".

A word is a run of letters and digits with in-word apostrophes ("russia's"), as ``text.words`` reads
them, except that a character of a script written without spaces (``text.is_unspaced``) is no part of
any word: next to one, a word ends, as ``text.is_boundary`` has it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from itertools import accumulate, compress
from typing import Any

# Scripts written without spaces between words (Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar).
UNSPACED_RANGES = (
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)


@functools.cache
def _split() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Patterns that split a text into gap, word, gap, ..., gap: one for any text, where a letter is
    ``[^\\W_]`` less the unspaced scripts; one for text within the BMP (most), where the same letters
    are spelled out one by one, which the regex engine tests as a bitmap, in far less time than the
    "word" category. Built on first use: it reads the BMP."""
    unspaced = re.compile(f"[{UNSPACED_RANGES}]")
    letters = [c for c in map(chr, range(0x10000)) if c.isalnum() and not unspaced.match(c)]
    spelled = "[" + "".join(map(re.escape, letters)) + "]"
    category = rf"[^\W_{UNSPACED_RANGES}]"
    return _words_of(category), _words_of(spelled)


def _words_of(letter: str) -> re.Pattern[str]:
    return re.compile(rf"({letter}+(?:'{letter}+)*)")


_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")


class Words:
    """The words of a ``match_key`` text, what stands between them, and where they are."""

    __slots__ = ("_ends", "pieces", "words")

    def __init__(self, text: str) -> None:
        anywhere, within_bmp = _split()
        split = anywhere.split if _BEYOND_BMP.search(text) else within_bmp.split
        self.pieces: list[str] = split(text)  # gap, word, gap, word, ..., gap
        self.words: list[str] = self.pieces[1::2]
        self._ends: list[int] = []  # where each piece ends in the text, worked out on the first find

    def phrase(self) -> bool:
        """Is the text words with single spaces between them, nothing before or after?"""
        gaps = self.pieces[2:-1:2]
        return bool(self.words) and not self.pieces[0] and not self.pieces[-1] and set(gaps) <= {" "}

    def span(self, first: int, count: int) -> tuple[int, int]:
        """Where words ``first`` to ``first + count - 1`` stand in the text."""
        if not self._ends:
            self._ends = list(accumulate(map(len, self.pieces)))
        return self._ends[2 * first], self._ends[2 * (first + count) - 1]


class Phrases:
    """Phrases (sequences of words) to find in ``Words``, each with the tuple of the values given with it
    (in the order given): a trie of words. A node is [values or None, {next word: node} or None]."""

    __slots__ = ("_first", "_size")

    def __init__(self, phrases: Iterable[tuple[Sequence[str], Any]]) -> None:
        self._first: dict[str, list[Any]] = {}
        for words, value in phrases:
            children = self._first
            for word in words[:-1]:
                node = children.get(word) or children.setdefault(word, [None, None])
                if node[1] is None:
                    node[1] = {}
                children = node[1]
            node = children.get(words[-1]) or children.setdefault(words[-1], [None, None])
            if node[0] is None:
                node[0] = [value]
            else:
                node[0].append(value)
        self._size = _seal(self._first, {})

    def __len__(self) -> int:
        return self._size

    def find(
        self,
        words: list[str],
        text: Words,
        alternatives: dict[int, tuple[str, ...]] | None = None,
        paths: dict[tuple[int, int], list[str]] | None = None,
    ) -> list[tuple[int, int, Any]]:
        """(first word, word count, payload) of each phrase found where ``text`` has ``words`` (its own
        words, or forms of them such as their lemmas). ``alternatives``: for some words, every form they
        stand for (the one in ``words`` first); a phrase is found through any of them, and ``paths`` is
        told, per (first word, word count), the forms a phrase found through one of them was found by.
        Where two forms of one word would each continue a different phrase, the first form that does is
        followed."""
        first = self._first
        last = len(words)
        gaps = text.pieces  # the gap after word k is piece 2k + 2
        found = []
        starts: Iterable[int] = compress(range(last), map(first.__contains__, words))
        if alternatives:
            extra = [
                i for i, forms in alternatives.items() if forms[0] not in first and _any_in(first, forms)
            ]
            if extra:
                starts = sorted({*starts, *extra})
        for index in starts:
            node = first.get(words[index])
            via: list[str] | None = None
            if node is None:  # only through another form (``extra``)
                assert alternatives is not None
                form = next(f for f in alternatives[index] if f in first)
                node, via = first[form], [form]
            payload, children = node
            if payload is not None:
                found.append((index, 1, payload))
                if via is not None and paths is not None:
                    paths[index, 1] = via
            end = index + 1
            while children is not None and end < last:
                if gaps[2 * end] != " ":
                    break
                node = children.get(words[end])
                if node is None:
                    if not alternatives or end not in alternatives:
                        break
                    other = next((f for f in alternatives[end] if f in children), None)
                    if other is None:
                        break
                    node = children[other]
                    via = [*(via or words[index:end]), other]
                elif via is not None:
                    via.append(words[end])
                payload, children = node
                end += 1
                if payload is not None:
                    found.append((index, end - index, payload))
                    if via is not None and paths is not None:
                        paths[index, end - index] = list(via)
        return found


def _any_in(table: dict[str, Any], forms: tuple[str, ...]) -> bool:
    return any(map(table.__contains__, forms))


def _seal(children: dict[str, list[Any]], shared: dict[tuple[Any, ...], tuple[Any, ...]]) -> int:
    """Turn the nodes' lists of values into tuples, one object per distinct tuple (the forms of one term
    share theirs: at ten thousand rules, megabytes); the number of phrases."""
    count = 0
    for node in children.values():
        if node[0] is not None:
            values = tuple(node[0])
            node[0] = shared.setdefault(values, values)
            count += 1
        if node[1] is not None:
            count += _seal(node[1], shared)
    return count
