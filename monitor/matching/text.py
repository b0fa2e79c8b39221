"""Text normalization shared by rule terms and article fields, with a way back to original offsets.

Both sides of a match go through ``normalize`` then ``match_key``, so a term and the text it should find
compare equal whatever quotes, dashes, spacing, width or case each was written with. Offsets found in the
normalized text are mapped back with ``Normalized.to_original`` because hits and snippets must point at
the text the user actually sees.

Words (``words``, ``is_boundary``) are runs of letters and digits; an apostrophe between two word characters
stays inside the word ("Russia's", "don't" are one word each), any other punctuation separates words
("North-Korean" is two words, so the term "Korean" finds it, and so does "North Korean": ``match_key``
treats a hyphen like a space).

Scripts written without spaces between words (Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar) have no
word boundaries to find without a dictionary, so a character of theirs is a boundary on its own: a term
in those scripts matches as a substring ("中国" finds "中国人"), and a Latin term right next to one is a
whole word ("ATACMS导弹"). Punctuation inside a term is just more text to match: "U.S.", "AT&T" and "C++"
match literally, and must still stand as whole words ("C++" does not match "C++11").
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from monitor.matching import lemma_stream
from monitor.matching.lemmas import script_languages
from monitor.matching.words import UNSPACED_RANGES
from monitor.nfkc import changeable

# Everything a reader cannot see or that only decides where a line wraps.
_INVISIBLE = frozenset("\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff")
_QUOTES = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u02bc\u02b9", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
}
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_UNSPACED = re.compile(f"[{UNSPACED_RANGES}]")
_SPACES = re.compile(r"\s+")


def _attention_chars() -> set[str]:
    """The BMP characters ``normalize`` changes in text that is NFKC already: spaces other than " ",
    controls, invisible characters, quotes and dashes. Characters beyond the BMP always get the
    careful path (it is how they were handled before this fast path existed)."""
    chars = {c for c in map(chr, range(0x10000)) if _is_space(c)} | _dashes()
    chars.discard(" ")
    return chars | {*_INVISIBLE, *_QUOTES, "\u2212"}


@lru_cache(maxsize=1)
def _dashes() -> frozenset[str]:
    """The BMP's dashes (Unicode's "Pd"), "-" among them."""
    return frozenset(c for c in map(chr, range(0x10000)) if unicodedata.category(c) == "Pd")


def _class(chars: Iterable[str]) -> str:
    """A regex class of ``chars`` and every character beyond the BMP."""
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "\U00010000-\U0010ffff]"


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalized text plus a piecewise map back to the original.

    Segment ``k`` starts at ``norm_starts[k]`` in ``text`` and at ``orig_starts[k]`` in the original. A
    segment is either copied unchanged (``copied[k]``; offsets inside it shift linearly) or the
    replacement of one original stretch (a collapsed whitespace run, an NFKC expansion), which maps as a
    whole. The last entry is a sentinel at the end of both texts.
    """

    text: str
    norm_starts: tuple[int, ...]
    orig_starts: tuple[int, ...]
    copied: tuple[bool, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the normalized span ``[start, end)`` to the smallest original span that produced it."""
        k = bisect_right(self.norm_starts, start) - 1
        ostart = self.orig_starts[k] + (start - self.norm_starts[k] if self.copied[k] else 0)
        if end <= start:
            return ostart, ostart
        k = bisect_right(self.norm_starts, end - 1) - 1
        if self.copied[k]:
            return ostart, self.orig_starts[k] + (end - self.norm_starts[k])
        return ostart, self.orig_starts[k + 1]


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.norm_starts: list[int] = []
        self.orig_starts: list[int] = []
        self.copied: list[bool] = []
        self.length = 0

    def copy(self, text: str, orig_start: int) -> None:
        if not text:
            return
        if self.copied and self.copied[-1] and self._continues(orig_start):
            self.parts.append(text)
            self.length += len(text)
            return
        self._segment(text, orig_start, copied=True)

    def replace(self, text: str, orig_start: int) -> None:
        self._segment(text, orig_start, copied=False)

    def finish(self, orig_length: int) -> Normalized:
        self.norm_starts.append(self.length)
        self.orig_starts.append(orig_length)
        self.copied.append(False)
        return Normalized(
            "".join(self.parts), tuple(self.norm_starts), tuple(self.orig_starts), tuple(self.copied)
        )

    def _continues(self, orig_start: int) -> bool:
        return self.orig_starts[-1] + (self.length - self.norm_starts[-1]) == orig_start

    def _segment(self, text: str, orig_start: int, *, copied: bool) -> None:
        self.norm_starts.append(self.length)
        self.orig_starts.append(orig_start)
        self.copied.append(copied)
        self.parts.append(text)
        self.length += len(text)


def _is_space(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cc"


def _map_char(cluster: str) -> str:
    quote = _QUOTES.get(cluster)
    if quote is not None:
        return quote
    if unicodedata.category(cluster[0]) == "Pd" or cluster == "\u2212":
        return "-"
    mapped = unicodedata.normalize("NFKC", cluster)
    # Spacing accents ("¨" -> " \u0308") would bring a space that a second pass collapses differently:
    # they are no part of any word, so they stay as written and normalizing stays idempotent.
    return cluster if any(_is_space(c) for c in mapped) else mapped


@lru_cache(maxsize=4096)
def _run_pieces(run: str) -> tuple[tuple[int, str, bool], ...]:
    """How one special run normalizes: (offset in run, output, copied unchanged) per piece.

    Cached because the same few runs (an apostrophe, a paragraph break, " — ") recur all through a text.
    """
    pieces = []
    i, n = 0, len(run)
    while i < n:
        char = run[i]
        if _is_space(char) or char in _INVISIBLE:
            j = i
            while j < n and (_is_space(run[j]) or run[j] in _INVISIBLE):
                j += 1
            blank = run[i:j]
            # Invisible characters alone join what surrounds them: "Ka\u00adzakh" reads as one word.
            spaced = " " if any(_is_space(c) for c in blank) else ""
            pieces.append((i, spaced, blank == spaced))
            i = j
            continue
        j = i + 1
        while j < n and unicodedata.combining(run[j]):
            j += 1
        cluster = run[i:j]
        mapped = _map_char(cluster)
        pieces.append((i, mapped, mapped == cluster))
        i = j
    return tuple(pieces)


@lru_cache(maxsize=1)
def _run_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Runs worth a closer look: from a character ``normalize`` may change (or join to the one before),
    on over what follows up to printable ASCII, with the spaces around; or a run of several spaces.
    The text between them is copied unchanged, which keeps the common case fast: accented letters and
    other scripts' letters, which NFKC keeps, start no run. Then the same runs in a text without double
    spaces, less the one space a run may start with: a pattern that starts with a character class lets
    the regex engine skip plain text in C, where one that may start with a space stops at every word
    break (figures: benchmarks/README.md, "Figures behind comments"). Built on first use: it reads
    the whole BMP."""
    plain = set(map(chr, range(0x20, 0x7F)))  # printable ASCII starts no run ("-" is a dash)
    first = _class((changeable() | _attention_chars() | set(map(chr, range(0x80)))) - plain)
    return (
        re.compile(rf" (?: *{first}[^\x21-\x7e]*| +)|{first}[^\x21-\x7e]*"),
        re.compile(rf"{first}[^\x21-\x7e]*"),
    )


def _special_runs(text: str) -> Iterator[tuple[int, int]]:
    spaced, plain = _run_patterns()
    if "  " in text:
        for m in spaced.finditer(text):
            yield m.span()
        return
    for m in plain.finditer(text):
        start, end = m.span()
        # A space before the run belongs to it; one after is taken by the run's own tail.
        yield (start - 1 if start and text[start - 1] == " " else start), end


def normalize(text: str) -> Normalized:
    """NFKC; curly quotes to ASCII; dashes to "-"; invisible characters dropped; whitespace to one space."""
    if not text.isascii():
        text = _ascii_punctuation(text)
    out = _Builder()
    pos = 0
    for start, end in _special_runs(text):
        # Most runs in Cyrillic or accented text are words that stay as they are: they are copied with
        # the plain text around them, not character by character.
        if _unchanged(text[start:end]):
            continue
        # A combining mark composes with the character before it, which the plain copy would split off.
        if start > pos and unicodedata.combining(text[start]):
            start -= 1
        out.copy(text[pos:start], pos)
        for offset, piece, copied in _run_pieces(text[start:end]):
            if copied:
                out.copy(piece, start + offset)
            else:
                out.replace(piece, start + offset)
        pos = end
    out.copy(text[pos:], pos)
    return out.finish(len(text))


def _ascii_punctuation(text: str) -> str:
    """``text`` with its curly quotes and dashes as ``normalize`` writes them, one character for one, so
    the loop copies them with the plain text around them instead of as a run each (an English article
    has dozens of apostrophes). Not where a combining mark follows one: the mark composes with it."""
    ascii_of, find = _punctuation()
    found = set()
    for match in find.finditer(text):
        end = match.end()
        if end < len(text) and unicodedata.combining(text[end]):
            return text
        found.add(match.group())
    for char in found:
        text = text.replace(char, ascii_of[char])
    return text


@lru_cache(maxsize=1)
def _punctuation() -> tuple[dict[str, str], re.Pattern[str]]:
    """What ``_map_char`` makes of a character on its own that is one ASCII character (quotes, dashes),
    and a pattern of those characters. Built on first use: it reads the BMP."""
    ascii_of = {**_QUOTES, **dict.fromkeys([*(_dashes() - {"-"}), "\u2212"], "-")}
    return ascii_of, re.compile("[" + "".join(map(re.escape, sorted(ascii_of))) + "]")


@lru_cache(maxsize=1)
def _attention() -> re.Pattern[str]:
    return re.compile("  |" + _class(_attention_chars()))  # built on first use: it reads the whole BMP


def _unchanged(run: str) -> bool:
    return (
        not unicodedata.combining(run[0])
        and unicodedata.is_normalized("NFKC", run)
        and _attention().search(run) is None
    )


def match_key(text: str) -> str:
    """Case-folded, hyphens as spaces, and always exactly as long as ``text`` so offsets carry over.

    The rare characters whose case folding changes length ("ß" -> "ss") are only lower-cased. Case
    folding maps each character on its own, so the text between them is folded in one call: a German
    body is not folded character by character in Python.
    """
    folded = text.casefold()
    if len(folded) != len(text):
        parts = _length_changing().split(text)  # odd items: the characters themselves
        folded = "".join(_fold_char(p) if i % 2 else p.casefold() for i, p in enumerate(parts))
    return folded.replace("-", " ")


@lru_cache(maxsize=1)
def _length_changing() -> re.Pattern[str]:
    """The characters whose case folding changes length; all of them are in the BMP."""
    chars = "".join(chr(c) for c in range(0x10000) if len(chr(c).casefold()) != 1)
    return re.compile(f"([{re.escape(chars)}])")


def _fold_char(char: str) -> str:
    folded = char.casefold()
    if len(folded) == 1:
        return folded
    lowered = char.lower()
    return lowered if len(lowered) == 1 else char


def _is_word(char: str) -> bool:
    return char.isalnum()


def is_unspaced(char: str) -> bool:
    """Is ``char`` from a script written without spaces between words (see the module notes)?"""
    return char >= "\u0e00" and _UNSPACED.match(char) is not None


def _glued(outside: str, inside: str) -> bool:
    """Does the word character ``outside`` a span continue the word at its edge ``inside``?"""
    return not (is_unspaced(outside) or is_unspaced(inside))


def is_boundary(text: str, start: int, end: int) -> bool:
    """True when ``text[start:end]`` is whole words: no letter, digit or in-word apostrophe abuts it."""
    # Called for every place the automaton finds a term, most of them inside longer words: the cheap
    # isalnum test comes first, and settles the usual case of a space or punctuation alongside.
    if 0 < start < len(text):
        before = text[start - 1]
        if before == "'" and start > 1:  # "Russia's" is one word: look past the apostrophe
            before = text[start - 2]
        if before.isalnum() and _glued(before, text[start]):
            return False
    if 0 < end < len(text):
        after = text[end]
        if after == "'" and end + 1 < len(text):
            after = text[end + 1]
        if after.isalnum() and _glued(after, text[end - 1]):
            return False
    return True


def inflections(key: str, exact: bool) -> list[tuple[str, int]]:
    """``key`` and, unless ``exact``, its last word's plural and possessive forms.

    Each form comes with the length of the term's prefix it keeps unchanged; a case-sensitive term must
    match that prefix letter for letter ("US" -> "US's", never "us's"). Scripts without spaces have no
    such forms, and would match them as substrings anyway.
    """
    forms = [(key, len(key))]
    if exact or not key or is_unspaced(key[-1]):
        return forms
    if not _is_word(key[-1]):  # "U.S.", "C++": no plural to form, but "the U.S.'s position"
        return [*forms, (key + "'s", len(key))]
    last = key.rsplit(" ", 1)[-1]
    forms += [(key + "s", len(key)), (key + "'s", len(key))]
    if last.endswith(("s", "x", "z", "ch", "sh")):
        forms.append((key + "es", len(key)))
    if len(last) > 2 and last.endswith("y") and last[-2] not in "aeiou":
        forms.append((key[:-1] + "ies", len(key) - 1))
    return forms


def words(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """Spans of the words in ``text[start:end]``: letters and digits, with in-word apostrophes."""
    return (m.span() for m in _WORD.finditer(text, start, len(text) if end is None else end))


# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by space and a capital, digit or
# opening quote; or at a blank line. A single newline is usually a hard wrap, not an ending.
# Opening with a plain character class lets the re module skip straight to the next such character, where
# a leading lookahead or a bare alternation is tried at every position: the first character is taken up
# front and the lookbehinds pick its branch.
_END = re.compile(
    r"[.!?。！？\n]"
    r"(?:(?<=[.!?])[.!?]*[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[^\W\d_a-z]|\d)"
    r"|(?<=[。！？])[。！？]*[」』”’)）]*\s*"
    r"|(?<=\n)\s*\n)"
)
# Words whose trailing dot is not a full stop; a capital after them is usually a name or a month's day.
_TITLES = ("mr", "mrs", "ms", "dr", "prof", "gen", "lt", "col", "sgt", "capt", "maj", "adm", "sen", "rep")
_MONTHS = ("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec")
_OTHERS = ("gov", "pres", "st", "jr", "sr", "rev", "no", "vs", "etc", "approx", "est", "dept")
_ABBREVIATIONS = frozenset(_TITLES + _MONTHS + _OTHERS)
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")  # "U.S", "F" of "John F. Kennedy", "D.C"


def _ends_sentence(text: str, end: int) -> bool:
    if text[end] != ".":
        return True
    start = end
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in "([\"'“‘":
        start -= 1
    word = text[start:end]
    return not (word.lower() in _ABBREVIATIONS or _INITIALS.fullmatch(word))


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans covering ``text`` end to end (each includes its trailing whitespace)."""
    spans = []
    start = 0
    for m in _END.finditer(text):
        ending = m.group()
        if ending[0] == "." and ending.count("\n") < 2 and not _ends_sentence(text, m.start()):
            continue
        spans.append((start, m.end()))
        start = m.end()
    if start < len(text) or not spans:
        spans.append((start, len(text)))
    return spans


def snippet(
    text: str, start: int, end: int, max_len: int = 240, spans: list[tuple[int, int]] | None = None
) -> str:
    """The sentence(s) around ``text[start:end]`` on one line, cut with "…" to at most ``max_len`` chars.

    Pass ``spans`` (from ``sentences(text)``) when taking several snippets from one text.
    """
    spans = spans if spans is not None else sentences(text)
    first = spans[bisect_right(spans, start, key=_start) - 1][0]
    last = spans[bisect_right(spans, max(start, end - 1), key=_start) - 1][1]
    before = _SPACES.sub(" ", text[first:start]).lstrip()
    hit = _SPACES.sub(" ", text[start:end])
    after = _SPACES.sub(" ", text[end:last]).rstrip()
    if len(before) + len(hit) + len(after) <= max_len:
        return before + hit + after
    if len(hit) >= max_len - 2:
        return "…" + hit[: max_len - 2] + "…"
    room = max_len - len(hit)
    # Give the hit the middle, then hand any room one side cannot use to the other.
    left = min(len(before), max(room // 2, room - len(after)))
    right = room - left
    return _cut_left(before, left) + hit + _cut_right(after, right)


def _start(span: tuple[int, int]) -> int:
    return span[0]


def _cut_left(text: str, room: int) -> str:
    if len(text) <= room:
        return text
    kept = text[len(text) - room + 1 :]
    space = kept.find(" ")
    return "…" + (kept[space + 1 :] if 0 <= space < len(kept) - 1 else kept)


def _cut_right(text: str, room: int) -> str:
    if len(text) <= room:
        return text
    kept = text[: room - 1]
    space = kept.rfind(" ")
    return (kept[:space] if space > 0 else kept) + "…"


def auto_case_sensitive(text: str) -> bool:
    """ALL-CAPS terms of at most four letters ("US", "UN", "IS") are acronyms that clash with words."""
    letters = [c for c in normalize(text).text if c.isalpha()]
    return 0 < len(letters) <= 4 and all(c.isupper() for c in letters)


_REGEX_SYNTAX = frozenset(".^$*+?{}[]\\|()")


def term_spans(snippet: str, term: str) -> list[tuple[int, int]]:
    """Where ``term`` shows in ``snippet``: sorted, non-overlapping ``(start, end)`` offsets into the
    snippet, for notifiers to mark (bold in HTML email, ``*...*`` in Slack).

    The term is looked for the way the engine matches it (normalized, whole words, plural and
    possessive forms). For a term that is case-sensitive by default ("US"), occurrences in its exact case
    are preferred, so "US" marks "US" and not "us". A term with regular-expression syntax that is not
    found as a phrase is tried as the pattern it may have been, and one found neither way as an
    inflected form in a language of its script ("Курской области" for "Курская область"). Empty when the
    term is not visible, e.g. cut off by the ellipsis.
    """
    norm = normalize(snippet)
    spans = (
        _phrase_spans(norm.text, term) or _regex_spans(norm.text, term) or _inflected_spans(norm.text, term)
    )
    return [norm.to_original(start, end) for start, end in spans]


def _phrase_spans(text: str, term: str) -> list[tuple[int, int]]:
    written = normalize(term.strip()).text
    if not any(c.isalnum() for c in written):
        return []
    key = match_key(text)
    found: dict[int, tuple[int, bool]] = {}  # start -> (end, exact case), the longest form per start
    for form, kept in inflections(match_key(written), exact=False):
        start = key.find(form)
        while start >= 0:
            end = start + len(form)
            if is_boundary(text, start, end) and end > found.get(start, (0, False))[0]:
                found[start] = (end, text.startswith(written[:kept], start))
            start = key.find(form, start + 1)
    exact = {start: span for start, span in found.items() if span[1]} if auto_case_sensitive(term) else {}
    return _disjoint((start, end) for start, (end, _) in (exact or found).items())


def _inflected_spans(text: str, term: str) -> list[tuple[int, int]]:
    written = normalize(term.strip()).text
    if auto_case_sensitive(term):
        return []
    return lemma_stream.find(match_key(text), match_key(written), written, script_languages(written))


def _regex_spans(text: str, term: str) -> list[tuple[int, int]]:
    if not _REGEX_SYNTAX.intersection(term):  # a plain phrase that was not found is not there
        return []
    try:
        pattern = re.compile(term, re.IGNORECASE)
    except re.error:
        return []
    return _disjoint(m.span() for m in pattern.finditer(text) if m.end() > m.start())


def _disjoint(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    kept: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
    return kept
