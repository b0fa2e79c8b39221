"""A cheap, conservative test of whether rules could match a stored text, to skip most archived articles.

Normalizing an article for the engine costs more than everything else a backtest does with it, and most
archived articles match none of the rules tried. So each rule is reduced to sets of probes, one for
each element it cannot fire without (each "all" and "near" group, and "any" as a whole): each term in
every form the engine looks for (plural, possessive) -- or, for a regular expression, the literal every
match contains. A text that lacks every probe of one of the sets cannot match the rule; one that has
some of each goes to the engine, which decides.

Two steps, the second only for the rules the first lets through. First, one Aho-Corasick pass finds
each term form's longest run of letters and digits standing as a word (the engine finds terms as whole
words); before it, a pass of RE2 over the same text tells which runs occur with no ASCII letter glued on,
and a text without some run of each set of every rule goes no further (most texts: that pass costs a
fifth of the Aho-Corasick one, whose cost per character grows with the runs' first letters). Then a
form of several words must occur whole, its words in order with anything but letters and digits between
them: "Public Health" is found in "...public-health..." as the engine's text reads it.
What ``normalize`` does to spaces, quotes and dashes does not matter to either; what it does to letters
(NFKC, dropping invisible characters) and case folding are applied to the whole text here. The text may
be a record's JSON: an escape ("\\n") separates words, and a word after one counts as standing alone.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import ahocorasick
import re2

from monitor.matching.compiled import required_literal
from monitor.matching.rules import Group, Rule, Term
from monitor.matching.text import inflections, is_unspaced, match_key, normalize
from monitor.nfkc import LAST_READ, changeable, composes

_RUN = re.compile(r"[^\W_]+")
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
    words: tuple[str, ...] = ()  # of a phrase: all of them


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
    chars = "".join(map(re.escape, sorted(changeable())))
    return re.compile("[" + chars + "\U00010000-\U0010ffff]")


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
    # Without case: read in a text as written, it finds what it finds in the text's probe_text
    # (when find_raw can tell from the text as written at all); in a probe_text, no less than with.
    phrase = re.compile(_SEPARATOR.join(map(re.escape, words)), re.IGNORECASE)
    return _Form(run, True, phrase, tuple(words))


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
        words = {word for f in forms for word in (f.words or (f.run,))}
        self._occurring = _Occurring.of({f.run: f.run not in anywhere for f in forms}, words)
        self._phrased = {
            rule for rule, sets in self._required.items() if any(f.phrase for g in sets for f in g)
        }

    def candidates(self, text: str | bytes) -> set[str]:
        """Ids of the rules that could match ``text`` (any text: a JSON record holds the fields), given
        as a string or as its UTF-8 (a packed record as stored: most are passed over undecoded)."""
        raw = self._occurring.find_raw(text) if self._occurring is not None else None
        written: str | bytes
        if raw is not None:
            found, written = raw
            if not self._could_match(found):
                return set()
        else:
            written = probe_text(text if isinstance(text, str) else text.decode())
            folded = self._occurring.find(written) if self._occurring is not None else None
            # RE2 could not tell: where each probe stands, found exactly
            found = folded if folded is not None else self._standing(written)
        rules = set()
        for rule, runs in self._runs.items():
            if not all(not found.isdisjoint(r) for r in runs):
                continue
            if rule in self._phrased:  # a term of several words: they must be found in order
                if isinstance(written, bytes):
                    written = written.decode()
                sets = self._required[rule]
                if not all(any(_has(written, form, found) for form in forms) for forms in sets):
                    continue
            rules.add(rule)
        return rules

    def _standing(self, folded: str) -> set[str]:
        """The probes that stand as words in ``folded`` (``probe_text``'s), by Aho-Corasick."""
        found: set[str] = set()
        if self._automaton is None:
            return found
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
        return found

    def _could_match(self, occurring: set[str]) -> bool:
        """Whether some rule has a probe of each of its sets among ``occurring``."""
        return any(all(not occurring.isdisjoint(r) for r in runs) for runs in self._runs.values())


class _Occurring:
    """Which probes occur in a text, as far as ASCII tells whether they stand as words (an ASCII letter or
    digit glued to one, unless a backslash shortly before, as ``_stands_alone``; what is glued to a
    letter that is not ASCII counts as standing), in one pass of RE2's set of patterns: its automaton
    costs the same per character however many probes start differently, where pyahocorasick's (which
    also tells where each occurs) costs several times more. Most texts have no rule's probes of each set,
    and need no more."""

    def __init__(
        self,
        runs: Sequence[str],
        folded: re2.Set,
        raw: re2.Set | None,
        written: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._runs, self._folded, self._raw, self._written = runs, folded, raw, written

    @classmethod
    def of(cls, runs: dict[str, bool], words: Collection[str]) -> _Occurring | None:
        """``runs``: each probe, and whether it must stand as a word; ``words``: every word of every
        form (the probes, and the other words of phrases). None when RE2 cannot build the automaton
        within its memory budget (very many probes)."""
        ordered = sorted(runs)
        patterns = [_pattern(run, runs[run]) for run in ordered]
        folded = _set(patterns)
        if folded is None:
            return None
        anywhere = [run for run in ordered if not runs[run]]
        written = _written(words, anywhere)
        raw = _set([f"(?i:{p})" for p in patterns], _changing(words), *(re.escape(c) for c, _ in written))
        return cls(ordered, folded, raw, written)

    def find(self, text: str) -> set[str] | None:
        """The probes in ``text`` (``probe_text``'s); None when the search could not tell."""
        return self._found(self._folded.Match(text), len(self._runs))

    def find_raw(self, text: str | bytes) -> tuple[set[str], str | bytes] | None:
        """The probes in ``probe_text(text)``, told from ``text`` as it is (case-insensitive, which is
        what case folding does to it), unless it holds a character ``_changing`` lists; one that
        ``_written`` lists is written out first. With them, the text as it was read. None when it
        cannot tell."""
        if self._raw is None:
            return None
        changing, written = len(self._runs), self._written
        hits = self._raw.Match(text)
        if hits is None or changing in hits:
            return None
        present = [written[i - changing - 1] for i in hits if changing < i <= changing + len(written)]
        if present:
            for char, folded in present:
                if isinstance(text, str):
                    text = text.replace(char, folded)
                else:
                    text = text.replace(char.encode(), folded.encode())
            hits = self._raw.Match(text)
            if hits is None or changing in hits:
                return None
        found = self._found(hits, changing + len(written) + 1)
        return None if found is None else (found, text)

    def _found(self, hits: list[int] | None, everywhere: int) -> set[str] | None:
        if hits is None or everywhere not in hits:
            return None  # RE2's automaton ran out of memory
        return {self._runs[i] for i in hits if i < len(self._runs)}


def _set(patterns: list[str], *more: str) -> re2.Set | None:
    """RE2's set of ``patterns``, and "" after them (it occurs in every text: an answer without it is a
    search that ran out of memory); None when it cannot be built within its memory budget."""
    options = re2.Options()
    options.max_mem, options.log_errors = _RE2_MEMORY, False
    matcher = re2.Set.SearchSet(options)
    for pattern in [*patterns, *more, ""]:
        matcher.Add(pattern)
    try:
        matcher.Compile()
    except re2.error:
        return None
    return matcher


def _changing(words: Collection[str]) -> str:
    """An RE2 class of the characters that make a text as written no guide to where ``words`` (of the
    forms) stand in its ``probe_text``: those NFKC or case folding turns into letters or digits some
    word has (other than a case of themselves, which matching without case finds), or into a
    backslash (the escapes before a probe); those NFKC may join into a letter some word has;
    everything beyond ``LAST_READ``."""
    used = {*"".join(words), "\\"}
    changing = sorted(code for code, chars in _changes().items() if not used.isdisjoint(chars))
    ranges = "".join(f"\\x{{{c:x}}}" for c in changing)
    return f"[{ranges}\\x{{{LAST_READ + 1:x}}}-\\x{{10ffff}}]"


@functools.cache
def _changes() -> dict[int, frozenset[str]]:
    """Up to ``LAST_READ``, what may become of each code point that NFKC or case folding changes into
    something else than one character of its own case (the letters, digits and backslashes of its
    NFKC, case-folded), or that NFKC may join to the character before (every character whose
    canonical decomposition holds it); not those ``_written`` lists."""
    joins: dict[int, set[str]] = {}
    for code in range(0x80, LAST_READ + 1):
        folded = chr(code).casefold()
        # Folded apart again, the letter stays the one it is made on; made of itself, of nothing.
        if len(folded) > 1 or unicodedata.is_normalized("NFD", chr(code)):
            continue
        for part in unicodedata.normalize("NFD", chr(code)):
            if part != chr(code) and composes(part):
                joins.setdefault(ord(part), set()).add(folded)
    changes = {code: frozenset(chars) for code, chars in joins.items()}
    for code in range(0x80, LAST_READ + 1):
        char = chr(code)
        stable = unicodedata.is_normalized("NFKC", char)
        if (stable and len(char.casefold()) == 1) or char in _folded() or code in changes:
            continue
        folded = unicodedata.normalize("NFKC", char).casefold()
        if folded != char and not (len(folded) == 1 and stable):
            changes[code] = frozenset(c for c in folded if c.isalnum() or c == "\\")
    return changes


@functools.cache
def _folded() -> dict[str, str]:
    """Characters whose ``probe_text`` is other characters, whatever stands around them: the
    invisible ones, dropped, and those NFKC keeps whose case folding is several ("ß" -> "ss",
    "İ" -> "i̇")."""
    several = {
        chr(code): chr(code).casefold()
        for code in range(0x80, LAST_READ + 1)
        if len(chr(code).casefold()) > 1
        and unicodedata.is_normalized("NFKC", chr(code))
        and not composes(chr(code))
    }
    return {**several, **dict.fromkeys(_INVISIBLE.pattern[1:-1], "")}


def _written(words: Collection[str], anywhere: Collection[str]) -> tuple[tuple[str, str], ...]:
    """``_folded``'s characters that can make a difference to ``words`` (of the forms; ``anywhere``:
    the probes found inside words too), and what each is written as. One that folds into letters
    and digits only ("ß" -> "ss") makes none unless some word holds all of them: a word that ends
    or starts inside them is glued to the rest, as it would be in the folded text; unless a probe
    found anywhere has one of its letters."""
    letters = set("".join(anywhere))
    return tuple(
        (char, folded)
        for char, folded in sorted(_folded().items())
        if not (folded and folded.isalnum())
        or any(folded in word for word in words)
        or not letters.isdisjoint(folded)
    )


def _pattern(run: str, bounded: bool) -> str:
    before = _ASCII_BEFORE if bounded and run[0].isascii() else ""
    after = _ASCII_AFTER if bounded and run[-1].isascii() else ""
    return before + re.escape(run) + after


_ASCII_BEFORE = r"(?:^|[^a-z0-9]|\\(?s:.){0,5})"  # probes are case-folded, and so is the text
_ASCII_AFTER = r"(?:[^a-z0-9]|$)"
_RE2_MEMORY = 64 << 20  # bytes for RE2's automaton: ample for ~20,000 probes


def _has(text: str, form: _Form, found: set[str]) -> bool:
    if form.run not in found:
        return False
    if form.phrase is None:
        return True
    return any(_stands_alone(text, m.start(), m.end()) for m in form.phrase.finditer(text))
