"""Words to a form shared by all their inflections, per language, so a rule term matches every one.

Russian and Ukrainian go through pymorphy3 with its OpenCorpora / LanguageTool dictionaries: exact
lemmas, and its guesser handles names it has never seen ("Сырского" -> "сырский"). Polish goes through
Morfeusz 2 (``polish``): its stems alternate. German and French go through the Snowball stemmers
(PyStemmer, in C); Italian, Spanish and Portuguese through light stemmers that undo noun and adjective
endings only (``light_stems``), where Snowball reads adjectives as verbs. simplemma's lemmas would do
for all six, but its dictionaries for them take ~800 MB of memory and ~20 s to load;
``benchmarks/lemmatizers.py`` has the comparison. English is not here: its terms keep the plural and
possessive forms of ``text.inflections``.

The language of an article comes from its page or feed (``base_language`` reads tags like "de-AT" or
"pt_BR"), else from its text (``detect``). A term's language is the one its rule gives, else any
language written in its script (``script_languages``), decided per article.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

from monitor.matching import light_stems, polish

LANGUAGES: tuple[str, ...] = ("de", "es", "fr", "it", "pl", "pt", "ru", "uk")
_CYRILLIC = ("ru", "uk")
_SNOWBALL = {"de": "german", "fr": "french"}
# Articles and prepositions elided onto the next word ("l'armée", "dell'esercito"): read the word after.
_ELISIONS = {
    "fr": frozenset({"l", "d", "j", "m", "n", "s", "t", "c", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu"}),
    "it": frozenset(
        {"l", "un", "d", "dell", "all", "dall", "nell", "sull", "coll", "quell", "quest", "bell", "sant", "c"}
    ),
}
# For terms that match as written, in any language. ELISION starts with the apostrophe, so ``re`` scans
# for that character and looks back only where one is: English text's are possessives ("russia's").
ELIDED = frozenset().union(*_ELISIONS.values())
ELISION = re.compile("'(?:" + "|".join(rf"(?<=\b{h}')" for h in sorted(ELIDED)) + r")(?=\w)")


_LIGHT = {"es": light_stems.spanish, "it": light_stems.italian, "pt": light_stems.portuguese}
_LATIN = ("de", "es", "fr", "it", "pl", "pt")
# Tags seen on real sites that are not the ISO 639-1 code of the language meant.
ALIASES = {"ua": "uk", "ger": "de", "deu": "de", "rus": "ru", "ukr": "uk", "pol": "pl"}
# The detector reads the start of a text (its cost grows with the length read, its accuracy barely does
# past a paragraph) and answers only when sure: an unknown language just means no inflected forms.
_DETECT_CHARS = 1000
_DETECT_MIN_LETTERS = 40
_DETECT_MIN_CONFIDENCE = 0.9


def base_language(tag: str | None) -> str | None:
    """The inflected language a tag names ("de-AT", "pt_BR", "RU", "ua"), or None (English, unknown)."""
    if not tag:
        return None
    code = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    code = ALIASES.get(code, code)
    return code if code in LANGUAGES else None


def script_languages(text: str) -> tuple[str, ...]:
    """The inflected languages written in the script of ``text``'s letters; () for a mix or another."""
    if text.isascii():  # most terms: no need to name every letter
        return _LATIN if any(c.isalpha() for c in text) else ()
    scripts = {unicodedata.name(c, "").split(" ", 1)[0] for c in text if c.isalpha()}
    if scripts == {"CYRILLIC"}:
        return _CYRILLIC
    if scripts == {"LATIN"}:
        return _LATIN
    return ()


def forms(word: str, lang: str) -> tuple[str, ...]:
    """What an article's case-folded ``word`` in ``lang`` can be a form of: its possible lemmas (ru, uk,
    pl: a form can be read several ways, "києві" is a form of "Київ" and of "кий") or its stem; a term
    matches where one of them is one of the term's (``term_forms``)."""
    if lang in _CYRILLIC:
        return tuple(dict.fromkeys(str(p.normal_form) for p in _morph(lang).parse(word)))
    word = _elided(word, lang)
    if lang == "pl":
        return polish.forms(word)
    return (_stem(word, lang),)


def term_forms(word: str, lang: str) -> tuple[str, ...]:
    """What a term's ``word`` (as the rule writes it) stands for in ``lang``: the lemmas it is the
    dictionary form of ("Суми" the city, not a form of "сума"), else all its possible ones, or its
    stem."""
    if lang in _CYRILLIC:
        found = forms(word.casefold(), lang)
        own = word.casefold()
        return (own,) if own in found else found
    if lang == "pl":
        return polish.term_forms(_elided(word, lang))
    return (_stem(_elided(word.casefold(), lang), lang),)


def _elided(word: str, lang: str) -> str:
    head, apostrophe, rest = word.rpartition("'")
    return rest if apostrophe and rest and head.casefold() in _ELISIONS.get(lang, ()) else word


def _stem(word: str, lang: str) -> str:
    light = _LIGHT.get(lang)
    return light(word) if light is not None else str(_stemmer(lang).stemWord(word))


@cache
def _morph(lang: str) -> Any:
    import pymorphy3  # loaded on first use: each language's dictionaries take memory a daemon may not need

    return pymorphy3.MorphAnalyzer(lang=lang)


@cache
def _stemmer(lang: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer(_SNOWBALL[lang])


@cache
def _identifier() -> Any:
    # Loaded on the first article that declares no language (~0.4 s, 75 MB), not by every daemon: sites
    # that declare their language never need it. Loading it ahead in a thread of its own was tried: much
    # of the work holds the GIL (lists of 100k entries built in single C calls), and on a loaded machine
    # it held up daemon starts by seconds.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def article_language(tag: str | None, text: str) -> str | None:
    """The inflected language of an article: its page's or feed's tag when it has one (an "en" page is
    English, not a guess), else what its text says."""
    return base_language(tag) if tag else detect(text)


def detect(text: str) -> str | None:
    """The inflected language ``text`` is written in, when a long enough text says so with confidence."""
    sample = text[:_DETECT_CHARS]
    if sum(c.isalpha() for c in sample) < _DETECT_MIN_LETTERS:
        return None
    code, confidence = _identifier().classify(sample)
    return base_language(code) if confidence >= _DETECT_MIN_CONFIDENCE else None
