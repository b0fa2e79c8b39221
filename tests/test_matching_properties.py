"""Property tests for the term semantics docs/rules.md promises, over generated text."""

from __future__ import annotations

import re
from unittest import mock

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.matching import text as text_module
from monitor.matching import words as words_module
from monitor.matching.engine import Engine
from monitor.matching.rules import Rule, Term
from monitor.matching.text import inflections, is_boundary, is_unspaced, match_key, normalize
from monitor.matching.words import Words

PROPERTIES = settings(max_examples=200, deadline=None)

# Letters of spaced scripts (Latin, Greek, Cyrillic, ...): there, a term must be whole words.
LETTER = st.characters(categories=("Lu", "Ll"), max_codepoint=0x24F).filter(
    lambda c: normalize(c).text.isalpha() and not is_unspaced(c)
)
WORD = st.text(LETTER, min_size=1, max_size=8)
PHRASE = st.lists(WORD, min_size=1, max_size=3).map(" ".join)
SEPARATOR = st.sampled_from([" ", ", ", ". ", "\n", " (", ") ", " — ", "\u00a0", ": ", '"'])
FILLER = st.lists(st.one_of(WORD, st.sampled_from(["1999", "U.S.", "–", "“x”"])), max_size=6).map(" ".join)


def fires(term: Term, text: str) -> bool:
    return bool(Engine([Rule("r", "r", any=((term,),))]).match_text({"body": text}))


@PROPERTIES
@given(st.text())
def test_normalization_is_idempotent(text: str) -> None:
    once = normalize(text).text
    assert normalize(once).text == once


@PROPERTIES
@given(st.text())
def test_normalized_offsets_stay_inside_the_original(text: str) -> None:
    norm = normalize(text)
    start, end = norm.to_original(0, len(norm.text))
    assert 0 <= start <= end <= len(text)


@PROPERTIES
@given(PHRASE, FILLER, SEPARATOR, SEPARATOR, FILLER)
def test_a_term_set_off_by_word_boundaries_is_found(
    term: str, before: str, left: str, right: str, after: str
) -> None:
    assert fires(Term(term, case_sensitive=False), f"{before}{left}{term}{right}{after}")


@PROPERTIES
@given(PHRASE, WORD, WORD, st.booleans(), st.booleans())
def test_a_term_inside_a_longer_word_is_never_found(
    term: str, prefix: str, suffix: str, glue_left: bool, glue_right: bool
) -> None:
    glued = f"{prefix if glue_left else ''}{term}{suffix if glue_right else ''}"
    if glued == term:
        glued = prefix + term
    # exact: a suffix may otherwise spell a plural ("-s") or possessive, which are meant to match.
    assert not fires(Term(term, exact=True), f"one {glued} two")
    # Unless the prefix makes a plural of a one-letter term: "S" + "S" is "Ss", the plural of "S".
    assume(match_key(prefix + term) not in {form for form, _ in inflections(match_key(term), exact=False)})
    assert not fires(Term(term), f"one {prefix}{term} two")


@PROPERTIES
@given(st.text(st.characters(categories=("Lu", "Ll"), max_codepoint=0x7A), min_size=5, max_size=12))
def test_terms_match_in_any_case(term: str) -> None:
    for text in (term.upper(), term.lower(), term.title(), term.swapcase()):
        assert fires(Term(term), f"the {text} said")


@PROPERTIES
@given(st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), min_size=1, max_size=4))
def test_short_all_caps_terms_are_case_sensitive_by_default(term: str) -> None:
    from monitor.matching.rules import rules_from_text

    (rule,) = rules_from_text(f"rules: [{{id: r, any: ['{term}']}}]").rules
    engine = Engine([rule])
    assert engine.match_text({"body": f"the {term} said"})
    assert not engine.match_text({"body": f"the {term.lower()} said"})
    assert not engine.match_text({"body": f"the {term.capitalize()}{'x' if len(term) == 1 else ''} said"})


@PROPERTIES
@given(PHRASE, st.sampled_from(["s", "'s", "’s"]), SEPARATOR)
def test_plural_and_possessive_forms_match_unless_exact(term: str, ending: str, right: str) -> None:
    text = f"one {term}{ending}{right}two"
    assert fires(Term(term), text)
    assert not fires(Term(term, exact=True), text)


@PROPERTIES
@given(st.text(st.characters(max_codepoint=0x2FFF), max_size=40))
def test_words_copied_whole_normalize_as_character_by_character(text: str) -> None:
    """Runs that normalizing leaves alone are copied with the plain text around them, and characters
    it leaves alone start no run: the fast path must give what reading every character beyond
    printable ASCII one by one gives, offsets included."""
    fast = normalize(text)
    every = (
        re.compile(r" (?: *[^\x20-\x7e][^\x21-\x7e]*| +)|[^\x20-\x7e][^\x21-\x7e]*"),
        re.compile(r"[^\x20-\x7e][^\x21-\x7e]*"),
    )
    with (
        mock.patch.object(text_module, "_unchanged", return_value=False),
        mock.patch.object(text_module, "_run_patterns", return_value=every),
    ):
        slow = normalize(text)
    assert fast.text == slow.text
    for start in range(len(fast.text) + 1):
        assert fast.to_original(start, len(fast.text)) == slow.to_original(start, len(slow.text))


# Quotes and dashes among what may stand around them: spaces of every kind, combining marks, letters.
PUNCTUATED = st.text(
    st.one_of(
        st.sampled_from("\u2018\u2019\u201c\u201d\u00ab\u00bb\u2013\u2014\u2212\u2010'\"- \n\u00a0\u200b"),
        st.sampled_from("\u0301\u0308\u0327\u05b4\u093c"),
        st.characters(max_codepoint=0x2FFF),
    ),
    max_size=40,
)


@PROPERTIES
@given(PUNCTUATED)
def test_quotes_and_dashes_replaced_up_front_normalize_as_run_by_run(text: str) -> None:
    """Quotes and dashes are replaced before the loop (one ASCII character for one): the text and every
    offset must be what the loop makes of them as runs."""
    fast = normalize(text)
    with mock.patch.object(text_module, "_ascii_punctuation", side_effect=lambda t: t):
        slow = normalize(text)
    assert fast.text == slow.text
    for start in range(len(fast.text) + 1):
        for end in range(start, len(fast.text) + 1):
            assert fast.to_original(start, end) == slow.to_original(start, end)


@PROPERTIES
@given(st.text(st.one_of(st.characters(), st.sampled_from("' a\u00e9\u4e2d\U0001d400\U0001f642"))))
def test_words_within_the_bmp_split_as_by_the_word_category(text: str) -> None:
    """Text within the BMP is split by letters spelled out; it must split as by ``[^\\W_]``."""
    anywhere, _ = words_module._split()
    assert Words(text).pieces == anywhere.split(text)


def _found_letter_by_letter(term: str, text: str) -> bool:
    """Where a term is, read letter by letter: its ``match_key`` in the text's, as whole words."""
    norm = normalize(text).text
    key, wanted = match_key(norm), match_key(normalize(term).text)
    starts = (i for i in range(len(key)) if key.startswith(wanted, i))
    return any(is_boundary(norm, start, start + len(wanted)) for start in starts)


# Words, spaces, hyphens, apostrophes, digits, punctuation, accents and a script written without spaces:
# everything that decides where a word begins and ends.
PIECES = [*"ab '-.,1é中", "ab", "ba", "a'b", " a ", "-b", "中a"]
MIXED = st.lists(st.sampled_from(PIECES), max_size=20).map("".join)
MIXED_TERM = st.text(st.sampled_from(list("ab '-1é.")), min_size=1, max_size=6).filter(
    lambda t: any(c.isalnum() for c in t)
)


@PROPERTIES
@given(MIXED_TERM, MIXED)
def test_words_are_found_where_letters_say_they_are(term: str, text: str) -> None:
    """The engine looks for terms word by word (``words.Phrases``), or letter by letter when a term is
    more than words; either way it finds a term exactly where its letters stand as whole words."""
    exact = Term(term.strip(), exact=True, lang="en")
    assert fires(exact, text) == _found_letter_by_letter(term.strip(), text)
