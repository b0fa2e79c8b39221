"""Which characters NFKC may join to the one before them: what a fast path that maps text character by
character (the story fingerprint's, the backtest prefilter's) must leave to ``unicodedata``."""

from __future__ import annotations

import functools
import unicodedata

# Hangul vowel and final jamo: NFKC composes them into syllables, by rule rather than by table.
_JAMO = frozenset(range(0x1161, 0x1176)) | frozenset(range(0x11A8, 0x11C3))
# Beyond this, no character has a canonical decomposition (the last: CJK compatibility ideographs,
# U+2FA1D), a combining class, or an NFKC or case folding other than itself: the tables built here and
# by their users read no further (``tests/test_fingerprint.py`` checks it against this Python's Unicode).
LAST_READ = 0x2FFFF


@functools.cache
def composition_seconds() -> frozenset[int]:
    """Code points that are the second of a canonical composition pair, and the composing jamo."""
    seconds = set(_JAMO)
    for code in range(LAST_READ + 1):
        decomposition = unicodedata.decomposition(chr(code)).split()
        if len(decomposition) == 2 and not decomposition[0].startswith("<"):
            seconds.add(int(decomposition[1], 16))
    return frozenset(seconds)


def composes(char: str) -> bool:
    """Whether NFKC may join ``char`` to the character before it."""
    return bool(unicodedata.combining(char)) or ord(char) in composition_seconds()


@functools.cache
def changeable() -> frozenset[str]:
    """The characters beyond ASCII, within the BMP, that NFKC may change, or join to the one before."""
    return frozenset(
        c for c in map(chr, range(0x80, 0x10000)) if composes(c) or not unicodedata.is_normalized("NFKC", c)
    )
