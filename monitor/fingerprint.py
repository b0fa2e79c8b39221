"""Story fingerprints: MinHash over word 3-shingles, compared by estimated containment.

Two copies of one wire story differ mostly by what a site adds or trims: a byline, a dateline, a
"Read more" line, a copyright footer, a dropped last paragraph. Those change a sizeable share of a
short text's shingles, so a distance over the whole text (SimHash, Jaccard) drifts apart while the
story stays the same. Containment, |A ∩ B| / min(|A|, |B|), ignores what only one copy has, so it stays
high for such copies and low (< 0.3 on the shared corpus) for different articles, even on one topic.

Measured on ``tests/test_dedup.py``'s labelled pairs (see there): SimHash of the body at 6 bits found
61% of the boilerplate variants; this fingerprint finds all of them with no false merge.

Lookup is locality-sensitive: the signature is cut into ``BANDS`` bands of ``ROWS`` values; a story is
indexed under each band, and only stories sharing a band are compared. A pair with Jaccard similarity
J shares a band with probability 1 - (1 - J^2)^32: 0.95 at J = 0.3, 0.9999 at J = 0.5.

Version 2 (``VERSION``) computes the same kind of signature in a few array operations over the text's
code points (``fingerprint``): words by a table, each word a polynomial hash, each shingle a mix of
three, each permutation a multiply-add modulo 2^32. Version 1 hashed every shingle with blake2b in
Python, ~0.8 ms per article, which a backtest pays for every matching article; it stays
(``legacy_fingerprint``) so that copies of stories started before an upgrade still find them
(``Store.resolve_story``'s ``legacy``). Measured on the corpus pairs of ``tests/test_dedup.py``
(bodies of 20 words and more, 40,755 negative pairs): no false merge with either version; the positive
pairs' containment at their 5th percentile 0.90 (version 1: 0.92). On pairs of random texts of known
Jaccard similarity (0.17 to 0.54, 300 pairs each) both versions' estimates have the true mean and the
same spread (standard deviation ~0.06): pairs near the threshold fall either way by chance, in both.
The two versions' bands never meet: each version's bands are numbered apart (``Fingerprint.bands``).
"""

from __future__ import annotations

import functools
import operator
import re
import struct
import unicodedata
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

from monitor.nfkc import composes

SHINGLE = 3
PERMUTATIONS = 64
ROWS = 2
BANDS = PERMUTATIONS // ROWS
# Containment at or above this is one story. Positive pairs measured 0.72 at their 5th percentile,
# different articles at most 0.29.
MIN_CONTAINMENT = 0.5
# Fewer distinct shingles than this (a one-line teaser) is too little text to compare by share:
# only an identical text is the same story.
MIN_SHINGLES = 8

VERSION = 2  # of the algorithm below; 1 is ``legacy_fingerprint``'s
_PRIME = (1 << 31) - 1  # version 1's permutations are h -> (a*h + b) mod p; a*h + b stays below 2^64
_VALUES = struct.Struct(f">{PERMUTATIONS}I")  # a signature as bytes: its hex is 8 digits a value
_BANDS = struct.Struct(f">{BANDS}Q")  # the same bytes as band values (ROWS = 2 values each)
BMP = 0x10000


@dataclass(slots=True, frozen=True)
class Fingerprint:
    """``signature``: ``PERMUTATIONS`` minima below 2^31; ``size``: distinct shingles (0: no text);
    ``version``: of the algorithm that made it (signatures of two versions are not comparable)."""

    signature: tuple[int, ...]
    size: int
    version: int = VERSION

    def hex(self) -> str:
        """Fixed-width hex of the signature (8 digits a value), the form both stores keep (and Redis'
        Lua compares)."""
        return _VALUES.pack(*self.signature).hex()

    @classmethod
    def from_hex(cls, text: str, size: int, version: int = VERSION) -> Fingerprint:
        return cls(_VALUES.unpack(bytes.fromhex(text)), size, version)

    def key(self) -> str:
        """A story key for a story this fingerprint starts."""
        return blake2b(self.hex().encode(), digest_size=8).hexdigest()

    def bands(self) -> list[tuple[int, int]]:
        """``BANDS`` (band number, value) pairs, each value ``ROWS`` signature values, high bits first
        (they fit a signed 64-bit integer). Version 1 numbers its bands from 0, version 2 from
        ``BANDS``: an index of both never lists a story of one version under a band of the other."""
        sig = self.signature
        if self.version == 1:  # as stores hold them: the high value 31 bits up
            pairs = zip(range(BANDS), sig[::ROWS], sig[1::ROWS], strict=True)
            return [(band, (high << 31) | low) for band, high, low in pairs]
        return list(zip(range(BANDS, 2 * BANDS), _BANDS.unpack(_VALUES.pack(*sig)), strict=True))


def fingerprint(text: str) -> Fingerprint:
    """The MinHash fingerprint of ``text`` (version 2); stable across processes and platforms. Empty
    text has ``size`` 0. Words are runs of letters, digits and "_" of the text's NFKC, case-folded."""
    np, tables = _tables()
    codes = _codes(text, tables)
    word = codes != ord(" ")
    # A separator at each end makes every word's start and end an edge between word and not.
    edges = np.flatnonzero(word[1:] != word[:-1]) + 1
    starts, ends = edges[0::2], edges[1::2]
    if not len(starts):
        return Fingerprint((_PRIME,) * PERMUTATIONS, 0)
    powers, inverses = tables.powers(len(codes))
    prefix = np.cumsum(codes.astype(np.uint64) * powers)  # wraps modulo 2^64, as meant
    words = _mix(np, (prefix[ends - 1] - prefix[starts - 1]) * inverses[starts])
    k = tables.shingle
    if len(words) < SHINGLE:  # a text shorter than one shingle is a single shingle of its words
        shingled = _mix(np, np.array([(words * k[: len(words)]).sum()], dtype=np.uint64))
    else:
        shingled = _mix(np, words[:-2] * k[0] + words[1:-1] * k[1] + words[2:] * k[2])
    shingled.sort()
    distinct = shingled[np.concatenate(([True], shingled[1:] != shingled[:-1]))]
    # Each permutation is x -> a*x + b modulo 2^32 (a odd: a permutation of the 32-bit values) over
    # the shingle hashes' top 32 bits; the top 31 bits of each minimum are the signature.
    values = np.multiply.outer(tables.a, (distinct >> np.uint64(32)).astype(np.uint32))
    values += tables.b[:, None]
    return Fingerprint(tuple((values.min(axis=1) >> np.uint32(1)).tolist()), len(distinct))


class _Tables:
    """Version 2's fixed numbers, made on first use (numpy costs a run that fetches nothing new, such
    as ``newsmon once`` from cron, more CPU than the rest of it). Derived from fixed labels, not a
    random generator: every process and every version of numpy agrees."""

    def __init__(self, np: Any) -> None:
        self.np = np
        self.fold = np.array([_fold(chr(code)) for code in range(BMP)] + [-1], dtype=np.int32)
        word = np.zeros(BMP + 1, dtype=bool)
        word[:BMP] = [_is_word(char) for char in map(chr, range(BMP))]
        word[BMP] = True  # letters of scripts beyond the BMP
        self.word = word
        self.a = np.array([_label(f"v2 a{i}") >> 32 | 1 for i in range(PERMUTATIONS)], dtype=np.uint32)
        self.b = np.array([_label(f"v2 b{i}") >> 32 for i in range(PERMUTATIONS)], dtype=np.uint32)
        self.shingle = np.array([_label(f"v2 k{i}") | 1 for i in range(SHINGLE)], dtype=np.uint64)
        self._base = _label("v2 p") | 1  # odd: invertible modulo 2^64
        self._powers = self._inverses = np.ones(0, dtype=np.uint64)

    def powers(self, length: int) -> tuple[Any, Any]:
        """base^i and base^-i modulo 2^64 for i < ``length``, grown by doubling as texts need."""
        if len(self._powers) < length:
            np, size = self.np, max(length, 2 * len(self._powers), 8192)
            steps = np.full(size, self._base, dtype=np.uint64)
            steps[0] = 1
            self._powers = np.cumprod(steps)
            steps[1:] = pow(self._base, -1, 1 << 64)
            self._inverses = np.cumprod(steps)
        return self._powers[:length], self._inverses


@functools.cache
def _tables() -> tuple[Any, _Tables]:
    import numpy as np

    return np, _Tables(np)


def _fold(char: str) -> int:
    """What ``char`` is in a text's NFKC, case-folded, when the text's words are all that count: one
    character, or a space for what holds no letter or digit; -1 when the table cannot tell (several
    characters, or one NFKC may join to the character before)."""
    if composes(char):
        return -1
    folded = unicodedata.normalize("NFKC", char).casefold()
    if not any(map(_is_word, folded)):
        return ord(" ")
    return ord(folded) if len(folded) == 1 else -1


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _codes(text: str, tables: _Tables) -> Any:
    """The code points of `` `` + NFKC(text).casefold() + `` ``, with a space for each character that
    is no letter, digit or "_": through the table where characters map on their own (most of every
    text), the space-separated words around those that do not by ``unicodedata``."""
    np = tables.np
    padded = f" {text} "
    folded = tables.fold[np.minimum(np.frombuffer(_utf32(padded), dtype="<u4"), BMP)]
    unmapped = np.flatnonzero(folded < 0).tolist()
    if not unmapped:
        return folded.astype(np.uint32)
    if len(unmapped) > _FEW:
        return _spaced(np, tables, f" {unicodedata.normalize('NFKC', text).casefold()} ")
    # NFKC changes nothing across a space (it joins no character to one), so each word can be
    # normalized on its own.
    parts, done = [], 0
    for spot in unmapped:
        if spot < done:  # in a word already read
            continue
        start, end = padded.rfind(" ", 0, spot) + 1, padded.find(" ", spot)
        word = unicodedata.normalize("NFKC", padded[start:end]).casefold()
        parts += [folded[done:start], _spaced(np, tables, word)]
        done = end
    parts.append(folded[done:])
    return np.concatenate(parts).astype(np.uint32)


def _spaced(np: Any, tables: _Tables, text: str) -> Any:
    """The code points of ``text``, a space for each that is no letter, digit or "_"."""
    codes = np.frombuffer(_utf32(text), dtype="<u4").copy()
    codes[~tables.word[np.minimum(codes, BMP)]] = ord(" ")
    return codes


_FEW = 64  # characters the table cannot map, up to which only their words go through unicodedata


def _utf32(text: str) -> bytes:
    return text.encode("utf-32-le", "surrogatepass")


def _mix(np: Any, x: Any) -> Any:
    """splitmix64's finalizer, in place: every input bit reaches every output bit."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _label(label: str) -> int:
    return int.from_bytes(blake2b(label.encode(), digest_size=8).digest(), "big")


# -- version 1 ------------------------------------------------------------------------------------


def _parameter(label: str) -> int:
    return _label(label) % (_PRIME - 1) + 1


@functools.cache
def _permutations() -> tuple[Any, Any, Any]:
    import numpy as np

    a = np.array([_parameter(f"a{i}") for i in range(PERMUTATIONS)], dtype=np.uint64)
    b = np.array([_parameter(f"b{i}") for i in range(PERMUTATIONS)], dtype=np.uint64)
    return np, a, b


_WORD = re.compile(r"\w+")


def _shingles(text: str) -> set[str]:
    tokens = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    if len(tokens) < SHINGLE:
        return {" ".join(tokens)} if tokens else set()
    return set(map(" ".join, zip(*(tokens[i:] for i in range(SHINGLE)), strict=False)))


def legacy_fingerprint(text: str) -> Fingerprint:
    """The version 1 fingerprint of ``text``: blake2b of each shingle, permuted modulo a prime."""
    found = _shingles(text)
    if not found:
        return Fingerprint((_PRIME,) * PERMUTATIONS, 0, 1)
    np, a, b = _permutations()
    digests = b"".join([blake2b(s.encode(), digest_size=4).digest() for s in found])
    hashes = np.frombuffer(digests, dtype="<u4").astype(np.uint64)
    values = np.multiply.outer(a, hashes)
    values += b[:, None]
    np.remainder(values, np.uint64(_PRIME), out=values)
    return Fingerprint(tuple(values.min(axis=1).tolist()), len(found), 1)


def containment(a: Fingerprint, b: Fingerprint) -> float:
    """Estimated |A ∩ B| / min(|A|, |B|), from the Jaccard estimate J and the set sizes:
    |A ∩ B| = J (|A| + |B|) / (1 + J). ``Store`` implementations must compute exactly this."""
    if not a.size or not b.size:
        return 0.0
    equal: int = sum(map(operator.eq, a.signature, b.signature))
    jaccard = equal / PERMUTATIONS
    return min(1.0, jaccard * (a.size + b.size) / ((1.0 + jaccard) * min(a.size, b.size)))


def same_story(a: Fingerprint, b: Fingerprint) -> bool:
    return story_share(a, b) is not None


def story_share(a: Fingerprint, b: Fingerprint) -> float | None:
    """``containment(a, b)`` when ``a`` and ``b`` are one story, else None."""
    if min(a.size, b.size) < MIN_SHINGLES:
        return containment(a, b) if a.size > 0 and a == b else None
    share = containment(a, b)
    return share if share >= MIN_CONTAINMENT else None
