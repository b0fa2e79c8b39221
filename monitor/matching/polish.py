"""Polish words to their dictionary forms, with Morfeusz 2 and its SGJP dictionary.

Polish changes more than endings: stems alternate ("obwód" / "w obwodzie", "północnokoreańskie" /
"północnokoreańscy"), which no suffix-stripping stemmer undoes (Snowball's Polish stemmer gives those
pairs different stems). Morfeusz is the morphological analyser of the Institute of Computer Science of
the Polish Academy of Sciences; its wheel carries the dictionary (~35 MB in memory, ~0.05 s to load).

A form can have several readings ("Kijowa": the city's genitive, or an adjective) and nothing here says
which one an article means, so an article's word stands for every lemma it can be a form of, and a
term's word for the lemmas it is the dictionary form of ("Kijów" is the city, though "kijów" is also
"of sticks"), else all of its own. Readings the dictionary marks archaic or rare count only when there
is no other. Article words arrive case-folded, and names are in the dictionary capitalised ("w Polsce"),
so the capitalised word is read too; a term is read as written. A word the dictionary lacks (most
foreign names: "Zełenskiego") stands for its Snowball stem, and so does every word where morfeusz2 has
no wheel (Linux on ARM): the daemon logs ``polish_dictionary_missing`` then.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

log = logging.getLogger("newsmon.matching")

_UNKNOWN = "ign"


def forms(word: str) -> tuple[str, ...]:
    """The case-folded lemmas the case-folded article ``word`` can be a form of, and its Snowball stem,
    which terms that are not surely Polish are compiled to (``stem``)."""
    capital = word[:1].upper() + word[1:]
    found = _lemmas(word) + (_lemmas(capital) if capital != word else [])
    return tuple(dict.fromkeys([*(lemma.casefold() for lemma in found), _stem(word)]))


def stem(word: str) -> str:
    """The key of a term's ``word`` that is not surely Polish (a Latin-script term with no ``lang`` and no
    Polish letter, "Kursk"): its Snowball stem, so that the dictionary is loaded only where Polish is
    read, not by every daemon with English rules."""
    return _stem(word.casefold())


def term_forms(word: str) -> tuple[str, ...]:
    """The case-folded lemmas a term's ``word``, as the rule writes it, stands for: those it is the
    dictionary form of ("Kijów", the city), else all of its own; a capitalised word that is no
    dictionary form as written is read in lower case too ("Rakiety")."""
    lemmas = _lemmas(word)
    found = [lemma for lemma in lemmas if lemma == word]
    if not found and word[:1].isupper():
        lemmas += _lemmas(word.lower())
        found = [lemma for lemma in lemmas if lemma == word.lower()]
    return tuple(dict.fromkeys(lemma.casefold() for lemma in found or lemmas)) or (_stem(word.casefold()),)


def _lemmas(word: str) -> list[str]:
    """The lemmas of the readings of ``word`` as written; the archaic or rare ones only if alone."""
    analyser = _analyser()
    if analyser is None:
        return []
    plain: list[str] = []
    marked: list[str] = []
    for _, _, (_, base, tag, _, qualifiers) in analyser.analyse(word):
        if not tag.startswith(_UNKNOWN):
            (marked if qualifiers else plain).append(base.split(":", 1)[0])
    return plain or marked


def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


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
