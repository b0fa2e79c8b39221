"""A cheap, conservative test of whether rules could match a stored text, to skip most archived articles.

Normalizing an article for the engine costs more than everything else a backtest does with it, and most
archived articles match none of the rules tried. So each rule is reduced to sets of probes, one for
each element it cannot fire without (each "all" and "near" group, and "any" as a whole): each term in
every form the engine looks for (plural, possessive) -- or, for a regular expression, the literal every
match contains. A text that lacks every probe of one of the sets cannot match the rule; one that has
some of each goes to the engine, which decides.

Two steps, the second only for the rules the first lets through. First, one Aho-Corasick pass finds
each term form's longest run of letters and digits standing as a word (the engine finds terms as whole
words). Then a form of several words must occur whole, its words in order with anything but letters and
digits between them: "Public Health" is found in "...public-health..." as the engine's text reads it.
What ``normalize`` does to spaces, quotes and dashes does not matter to either; what it does to letters
(NFKC, dropping invisible characters) and case folding are applied to the whole text here. The text may
be a record's JSON: an escape ("\\n") separates words, and a word after one counts as standing alone.

Before both, ``might_match`` reads a packed record's bytes without decoding or normalizing the text:
ASCII letters lower-cased in C, each rule's words that are ASCII looked for as substrings, then as words
(no ASCII letter or digit glued on). Curly quotes, dashes and accented letters cannot become ASCII
letters under NFKC and case folding, so they are left as they are; the few characters that can ("ﬁ",
"ß", "²", fullwidth letters) are replaced by what they become, and invisible ones dropped, as the probe
text has them. Where a combining mark could keep an accented letter's ASCII base from composing again,
the record is let through: the steps above decide.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import ahocorasick

from monitor.matching.compiled import required_literal
from monitor.matching.rules import Group, Rule, Term
from monitor.matching.text import inflections, is_unspaced, match_key, normalize

_RUN = re.compile(r"[^\W_]+")
_ASCII = bytes(range(128))
_ASCII_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_ALNUM_BYTES = frozenset(_ASCII_ALNUM.encode())
_INVISIBLE = re.compile("[\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff]")
# What may stand between two words of a term in the text: any run of other characters, JSON escapes
# included ("\\n" must not glue "n" to the next word).
_SEPARATOR = r'(?:\\(?:u[0-9a-fA-F]{4}|[nrtbf"\\/])|[\W_])+'


@dataclass(frozen=True, slots=True)
class _Form:
    """One form of a term as the prefilter looks for it: its longest word (``run``), standing alone
    unless it is a regular expression's literal, then (``phrase``) all its words in order."""

    run: str
    bounded: bool
    phrase: re.Pattern[str] | None = None


_Sets = tuple[frozenset[_Form], ...]


def probe_text(text: str) -> str:
    """``text`` as probes are looked for in it: NFKC, without invisible characters, case-folded.

    Plain ``casefold`` where ``match_key`` lower-cases the few characters whose folding changes length:
    probes are case-folded too, and folding maps each character on its own, so a probe found by
    ``match_key`` is found here ("straße" is looked for as "strasse")."""
    if not text.isascii():
        text = _INVISIBLE.sub("", text)
        if not unicodedata.is_normalized("NFKC", text):
            text = _nfkc(text)
    return text.casefold()


def _nfkc(text: str) -> str:
    """NFKC of ``text``, done on the space-separated words that need it: a space is neither changed
    nor joined to anything, and most texts that are not NFKC hold a few such characters ("…", "½")."""
    spots = [m.start() for m in _unstable().finditer(text)]
    if len(spots) > _FEW:
        return unicodedata.normalize("NFKC", text)
    parts = []
    done = 0
    for spot in spots:
        if spot < done:  # in a word already normalized
            continue
        start = text.rfind(" ", 0, spot) + 1
        end = text.find(" ", spot)
        end = len(text) if end < 0 else end
        parts += [text[done:start], unicodedata.normalize("NFKC", text[start:end])]
        done = end
    parts.append(text[done:])
    return "".join(parts)


_FEW = 64  # characters NFKC may change, up to which only their words are normalized


@functools.cache
def _unstable() -> re.Pattern[str]:
    """A character NFKC may change or join to the one before it (a combining mark, the second of a
    composition, Hangul's vowel and final jamo); beyond the BMP, every character."""
    seconds = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    for code in range(0x110000):
        decomposition = unicodedata.decomposition(chr(code)).split()
        if len(decomposition) == 2 and not decomposition[0].startswith("<"):
            seconds.add(int(decomposition[1], 16))
    chars = [
        chr(c)
        for c in range(0x80, 0x10000)
        if c in seconds or unicodedata.combining(chr(c)) or not unicodedata.is_normalized("NFKC", chr(c))
    ]
    return re.compile("[" + "".join(map(re.escape, chars)) + "\U00010000-\U0010ffff]")


def _longest_run(text: str) -> str | None:
    run = max(_RUN.findall(text), key=len, default=None)
    return run.casefold() if run else None


def _form(form: str) -> _Form | None:
    run = _longest_run(form)
    if run is None:
        return None
    words = _RUN.findall(form.casefold())
    if len(words) < 2:
        return _Form(run, bounded=True)
    return _Form(run, True, re.compile(_SEPARATOR.join(map(re.escape, words))))


def _term_forms(term: Term) -> frozenset[_Form] | None:
    """Forms one of which every occurrence of ``term`` contains; None when there is no such set."""
    if term.pattern is not None:
        literal = required_literal(term.pattern)
        run = _longest_run(literal) if literal else None
        return frozenset([_Form(run, bounded=False)]) if run else None
    key = match_key(normalize(term.text.strip()).text)
    forms = set()
    for text, _ in inflections(key, term.exact):
        form = _form(text)
        if form is None:
            return None
        forms.add(form)
    return frozenset(forms)


def _group_forms(group: Group) -> frozenset[_Form] | None:
    forms: set[_Form] = set()
    for term in group:
        found = _term_forms(term)
        if found is None:
            return None
        forms |= found
    return frozenset(forms)


def _rule_forms(rule: Rule) -> _Sets:
    required = [*rule.all, *(rule.near.terms if rule.near else ())]
    sets = [f for f in map(_group_forms, required) if f is not None]
    if rule.any:
        groups = [_group_forms(group) for group in rule.any]
        if all(f is not None for f in groups):
            sets.append(frozenset().union(*(f for f in groups if f is not None)))
    return tuple(sets)


def rule_probes(rule: Rule) -> tuple[frozenset[str], ...]:
    """Sets of probes (each term form's longest word) of each of which at least one occurs in every
    text ``rule`` matches: one per element of "all" and "near", one for all of "any". A set that cannot
    be told (a term with no letters or digits, a regular expression without a literal) is left out;
    none at all: any text."""
    return tuple(frozenset(f.run for f in forms) for forms in _rule_forms(rule))


def _stands_alone(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` could be whole words for the engine: no letter or digit glued to
    either end (``is_boundary``, less strict: an apostrophe, or a backslash escape shortly before, is
    taken as a separator)."""
    if start > 0:
        before = text[start - 1]
        glued = before.isalnum() and not (is_unspaced(before) or is_unspaced(text[start]))
        if glued and "\\" not in text[max(0, start - 6) : start]:
            return False
    if end < len(text):
        after = text[end]
        if after.isalnum() and not (is_unspaced(after) or is_unspaced(text[end - 1])):
            return False
    return True


class Prefilter:
    """Which of ``rules`` a text could match: one Aho-Corasick pass finds every probe standing as a word;
    the rules that have some of each of their sets are then tried for their terms' whole forms."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._required = {r.id: _rule_forms(r) for r in rules}
        self._runs = {
            rule: tuple(frozenset(f.run for f in forms) for forms in sets)
            for rule, sets in self._required.items()
        }
        forms = {f for sets in self._required.values() for group in sets for f in group}
        anywhere = {f.run for f in forms if not f.bounded}  # a literal: found even inside a word
        self._automaton: ahocorasick.Automaton | None = None
        if forms:
            self._automaton = ahocorasick.Automaton()
            for run in {f.run for f in forms}:
                self._automaton.add_word(run, (run, run not in anywhere))
            self._automaton.make_automaton()
        # Each rule as the stored bytes can refute it; a rule none of whose sets they can show (a word
        # that is not ASCII, whose folding bytes do not show) could match any record.
        shown = [_shown(sets) for sets in self._required.values()]
        self._shown = tuple(r for r in shown if r is not None) if shown and None not in shown else None

    def might_match(self, record: bytes) -> bool:
        """Whether some rule could match the packed record ``record`` (UTF-8), by a test of its bytes:
        a record this says no to, ``candidates`` says no to; one it lets through goes there."""
        if self._shown is None:
            return True
        low = _ascii_view(record)
        if low is None:
            return True
        for rule in self._shown:
            if any(word in low for word in rule.quick) and all(
                any(_occurs(low, word, bounded) for word, bounded in words) for words in rule.sets
            ):
                return True
        return False

    def candidates(self, text: str) -> set[str]:
        """Ids of the rules that could match ``text`` (any text: a JSON record holds the fields)."""
        folded = probe_text(text)
        found: set[str] = set()
        if self._automaton is not None:
            last = len(folded) - 1
            for end, (run, bounded) in self._automaton.iter(folded):
                if run in found:
                    continue
                start = end + 1 - len(run)
                # Most hits have a space or punctuation on both sides, or a letter: a cheap test first.
                if (
                    not bounded
                    or (
                        (start == 0 or not folded[start - 1].isalnum())
                        and (end == last or not folded[end + 1].isalnum())
                    )
                    or _stands_alone(folded, start, end + 1)
                ):
                    found.add(run)
        return {
            rule
            for rule, runs in self._runs.items()
            if all(not found.isdisjoint(r) for r in runs)
            and all(any(_has(folded, form, found) for form in forms) for forms in self._required[rule])
        }


@dataclass(frozen=True, slots=True)
class _Shown:
    """A rule as the bytes of a record can refute it."""

    quick: tuple[bytes, ...]  # the words of its set with fewest, as substrings (one inside another left out)
    sets: tuple[tuple[tuple[bytes, bool], ...], ...]  # every set bytes can show: (word, standing alone)


def _shown(sets: _Sets) -> _Shown | None:
    ascii_sets = [s for s in sets if all(f.run.isascii() for f in s)]
    if not ascii_sets:
        return None
    fewest = [_fewest({f.run for f in s}) for s in ascii_sets]
    # The set with fewest words to look for, of those the longest (likely the rarest).
    quick = min(fewest, key=lambda words: (len(words), -min(map(len, words))))
    return _Shown(quick, tuple(tuple((f.run.encode(), f.bounded) for f in s) for s in ascii_sets))


def _fewest(runs: set[str]) -> tuple[bytes, ...]:
    """``runs`` as substrings to look for: one that contains another is found when that one is."""
    return tuple(r.encode() for r in sorted(runs) if not any(o != r and o in r for o in runs))


@dataclass(frozen=True, slots=True)
class _Char:
    """What NFKC and case folding may make of a character that is not ASCII, as far as ASCII letters and
    digits go."""

    image: bytes | None  # what it becomes, when that has some or a backslash; b"" when it is dropped
    # A combining mark (or one first in its decomposition): an ASCII letter in the decomposition of the
    # character before it may stay uncomposed.
    mark: bool
    letters: bool  # whether its decomposition has ASCII letters or digits


@functools.cache
def _char(char: str) -> _Char:
    if _INVISIBLE.match(char):
        return _Char(b"", mark=False, letters=False)
    image = unicodedata.normalize("NFKC", char).casefold()
    decomposed = unicodedata.normalize("NFKD", char)
    mark = bool(unicodedata.combining(decomposed[0]))
    letters = any(c in _ASCII_ALNUM for c in decomposed.casefold())
    shows = any(c in _ASCII_ALNUM or c == "\\" for c in image)
    return _Char(image.encode() if shows else None, mark, letters)


_PLAIN: set[str] = set()  # characters known to need nothing: their bytes show no ASCII word


def _ascii_view(record: bytes) -> bytes | None:
    """``record`` lower-cased, with what NFKC and case folding make of its other characters where that
    has ASCII letters or digits ("ß": "ss", a soft hyphen dropped). None when that cannot be told from
    the characters one by one: a combining mark in a record with a letter it may keep from composing
    again ("e" of "é")."""
    if record.isascii():
        return record.lower()
    chars = set(record.translate(None, _ASCII).decode()) - _PLAIN
    if not chars:
        return record.lower()
    found = {c: _char(c) for c in chars}
    if any(w.mark for w in found.values()) and any(w.letters for w in found.values()):
        return None
    for c, what in found.items():
        if what.image is not None:
            record = record.replace(c.encode(), what.image)
        elif not what.mark and not what.letters:
            _PLAIN.add(c)
    return record.lower()


def _occurs(low: bytes, run: bytes, bounded: bool) -> bool:
    """Whether ``run`` occurs in ``low``, standing as a word when ``bounded`` (as far as bytes tell: an
    ASCII letter or digit glued to it, unless a backslash shortly before, as ``_stands_alone``)."""
    start = low.find(run)
    if not bounded:
        return start >= 0
    while start >= 0:
        end = start + len(run)
        before = (
            start == 0 or low[start - 1] not in _ASCII_ALNUM_BYTES or 92 in low[max(0, start - 24) : start]
        )
        if before and (end == len(low) or low[end] not in _ASCII_ALNUM_BYTES):
            return True
        start = low.find(run, start + 1)
    return False


def _has(text: str, form: _Form, found: set[str]) -> bool:
    if form.run not in found:
        return False
    if form.phrase is None:
        return True
    return any(_stands_alone(text, m.start(), m.end()) for m in form.phrase.finditer(text))
