"""Polish words to a key all forms of the word share, with Morfeusz 2 and its SGJP dictionary.

Polish changes more than endings: stems alternate ("obwód" / "w obwodzie", "północnokoreańskie" /
"północnokoreańscy"), which no suffix-stripping stemmer undoes (Snowball's Polish stemmer gives those
pairs different stems). Morfeusz is the morphological analyser of the Institute of Computer Science of
the Polish Academy of Sciences; its wheel carries the dictionary (~35 MB in memory, ~0.05 s to load).

A form can have several readings and nothing here says which one an article means, so the key is the
Snowball stem of one reading's lemma: readings that differ only in part of speech ("Polska", "polski")
share it. The reading: not marked archaic or rare, found for the word as written (terms and articles
arrive case-folded; the capitalised word is read too, for names the dictionary has only capitalised,
"w Polsce"), the lemma keeping most of the word's letters, nouns first. A word the dictionary lacks
(most foreign names: "Zełenskiego") is keyed by its own Snowball stem, and so is every word where
morfeusz2 has no wheel (Linux on ARM): the daemon logs ``polish_dictionary_missing`` then.
"""

from __future__ import annotations

import logging
import unicodedata
from functools import cache
from typing import Any

log = logging.getLogger("newsmon.matching")

_NOUNS = frozenset({"subst", "depr"})
_UNKNOWN = "ign"


def key(word: str) -> str:
    """The key of the case-folded Polish ``word``."""
    analyser = _analyser()
    if analyser is None:
        return str(_stemmer().stemWord(word))
    readings = []
    for as_written, form in ((True, word), (False, word[:1].upper() + word[1:])):
        for _, _, (_, base, tag, _, qualifiers) in analyser.analyse(form):
            pos = tag.split(":", 1)[0]
            if pos != _UNKNOWN:
                lemma = base.split(":", 1)[0].casefold()
                readings.append(
                    (bool(qualifiers), not as_written, -_shared(word, lemma), pos not in _NOUNS, lemma)
                )
    return str(_stemmer().stemWord(min(readings)[-1] if readings else word))


def _shared(word: str, lemma: str) -> int:
    """How many letters ``lemma`` starts with that ``word`` does, diacritics aside ("Kijów", "Kijowa")."""
    count = 0
    for a, b in zip(_plain(word), _plain(lemma), strict=False):
        if a != b:
            break
        count += 1
    return count


def _plain(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))


@cache
def _analyser() -> Any:
    try:
        import morfeusz2  # loaded on first use, like the other languages' dictionaries
    except ImportError:
        log.warning(
            "polish_dictionary_missing",
            extra={
                "fix": "pip install morfeusz2 (wheels: Linux x86_64, macOS, Windows); Polish terms match "
                "by Snowball stems until then, which miss forms whose stem changes (obwód, obwodzie)"
            },
        )
        return None
    return morfeusz2.Morfeusz(generate=False, expand_tags=False)


@cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("polish")
