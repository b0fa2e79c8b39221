import re

import pytest

from monitor.matching.text import (
    inflections,
    is_boundary,
    match_key,
    normalize,
    sentences,
    snippet,
    term_spans,
    words,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Russia’s troops", "Russia's troops"),
        ("“North Korean” troops", '"North Korean" troops'),
        ("Kyiv \u2014 Moscow \u2013 Minsk \u2212 x \u2011 y", "Kyiv - Moscow - Minsk - x - y"),
        ("North\u00a0Korean\n\n  troops\t!", "North Korean troops !"),
        ("Ka\u00adzakh and zero\u200bwidth", "Kazakh and zerowidth"),
        ("ＡＴＡＣＭＳ ﬁre", "ATACMS fire"),
        ("cafe\u0301", "café"),
        ("plain ascii stays", "plain ascii stays"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


@pytest.mark.parametrize(
    "raw",
    [
        "Russia’s\u00a0\u00a0troops ﬁre  \n at ＡＴＡＣＭＳ — cafe\u0301 Ka\u00adzakh “quoted”",
        "ascii only",
        "",
    ],
)
def test_every_normalized_word_maps_back_to_its_original(raw: str) -> None:
    norm = normalize(raw)
    for m in re.finditer(r"\S+", norm.text):
        start, end = norm.to_original(*m.span())
        assert normalize(raw[start:end]).text == m.group()


def test_offsets_after_collapsed_whitespace_and_expansions() -> None:
    raw = "a\n\n\u00a0 ﬁne\u00adtuned Russia’s"
    norm = normalize(raw)
    assert norm.text == "a finetuned Russia's"
    i = norm.text.index("Russia's")
    assert norm.to_original(i, i + len("Russia's")) == (raw.index("Russia"), len(raw))
    assert norm.to_original(2, 4) == (raw.index("ﬁ"), raw.index("ﬁ") + 1)  # "fi" is one original char


def test_match_key_keeps_length_and_treats_hyphens_as_spaces() -> None:
    for text in ["North-Korean", "STRAßE İstanbul", "ATACMs"]:
        assert len(match_key(text)) == len(text)
    assert match_key("North-Korean TROOPS") == "north korean troops"


@pytest.mark.parametrize(
    ("text", "word", "whole"),
    [
        ("the crisis deepens", "isis", False),
        ("ISIS claimed", "ISIS", True),
        ("in Kurskaya oblast", "Kursk", False),
        ("Russia's army", "Russia", False),  # the apostrophe belongs to the word
        ("the troops' position", "troops", True),  # a trailing apostrophe does not
        ("'Russia' said", "Russia", True),
        ("pro-Russian groups", "Russian", True),
        ("O'Brien", "Brien", False),
    ],
)
def test_is_boundary(text: str, word: str, whole: bool) -> None:
    start = text.index(word)
    assert is_boundary(text, start, start + len(word)) is whole


def test_words_keep_inner_apostrophes_and_split_on_hyphens() -> None:
    text = "Russia's North-Korean allies"
    assert [text[s:e] for s, e in words(text)] == ["Russia's", "North", "Korean", "allies"]


def test_sentences_survive_abbreviations_and_initials() -> None:
    text = (
        "According to a U.S. official, Mr. Smith left on Jan. 5. The U.S. Army said so! "
        "John F. Kennedy was there.\n\nA new paragraph"
    )
    got = [text[s:e].strip() for s, e in sentences(text)]
    assert got == [
        "According to a U.S. official, Mr. Smith left on Jan. 5.",
        "The U.S. Army said so!",
        "John F. Kennedy was there.",
        "A new paragraph",
    ]


def test_snippet_is_the_sentence_on_one_line() -> None:
    text = "First one. The North Korean\ntroops arrived. Last one."
    start = text.index("North")
    assert snippet(text, start, text.index("troops") + 6) == "The North Korean troops arrived."


def test_long_sentence_snippet_is_ellipsized_around_the_hit() -> None:
    text = "word " * 100 + "ATACMS " + "more " * 100 + "."
    start = text.index("ATACMS")
    got = snippet(text, start, start + 6)
    assert len(got) <= 240
    assert got.startswith("…") and got.endswith("…") and "ATACMS" in got
    assert abs(got.index("ATACMS") - (len(got) - got.index("ATACMS") - 6)) < 10  # roughly centred


def test_snippet_of_a_hit_near_the_start_uses_the_room_after_it() -> None:
    text = "ATACMS " + "more " * 100
    got = snippet(text, 0, 6, max_len=60)
    assert got.startswith("ATACMS more") and got.endswith("…") and len(got) <= 60


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # An ending takes its run of marks, closing quotes or brackets, and the space after it.
        (
            'Really?! "Yes." (Fine.) Wait... 2 more\nlines.\n \n\tNext, 。 “Quote.” Done',
            [
                "Really?! ",
                '"Yes." ',
                "(Fine.) ",
                "Wait... ",
                "2 more\nlines.\n \n\t",
                "Next, 。 ",
                "“Quote.” ",
                "Done",
            ],
        ),
        # Scripts without spaces end sentences with their own marks, no space needed.
        (
            "美国批准了。乌克兰使用ATACMS！「很好。」下一句",
            ["美国批准了。", "乌克兰使用ATACMS！", "「很好。」", "下一句"],
        ),
    ],
)
def test_sentence_endings(text: str, expected: list[str]) -> None:
    assert [text[s:e] for s, e in sentences(text)] == expected


def test_inflections_of_terms_ending_in_punctuation_or_unspaced_script() -> None:
    assert inflections("u.s.", exact=False) == [("u.s.", 4), ("u.s.'s", 4)]
    assert inflections("中国", exact=False) == [("中国", 2)]


# -- term_spans: where the notifiers mark the term in a snippet -----------------------------------------
def marked(term: str, snippet_text: str) -> list[str]:
    return [snippet_text[s:e] for s, e in term_spans(snippet_text, term)]


@pytest.mark.parametrize(
    ("term", "snippet_text", "expected"),
    [
        ("Russia", "Russia’s war, as Russia said; Russian troops", ["Russia’s", "Russia"]),
        ("North Korean troop", "North\u00a0Korean  troops arrived", ["North\u00a0Korean  troops"]),
        ("ATACMS", "…two ＡＴＡＣＭＳ and ATACMs", ["ＡＴＡＣＭＳ", "ATACMs"]),
        ("country", "several countries", ["countries"]),
        ("US", "let us see what the US says", ["US"]),  # the exact case, when present, is what hit
        ("Army", "an army of one", ["army"]),
        ("ISIS", "a crisis", []),
        ("F-?16s?", "two F-16s and an F16", ["F-16s", "F16"]),  # a regular-expression term
        ("(unclosed", "nothing unclosed here", []),  # not there as written, and not a valid pattern
        ("中国", "中国人民", ["中国"]),
        ("C++", "C++ and C++11", ["C++"]),
    ],
)
def test_term_spans(term: str, snippet_text: str, expected: list[str]) -> None:
    assert marked(term, snippet_text) == expected


def test_term_spans_are_sorted_and_disjoint() -> None:
    assert term_spans("Kursk, Kursk's and kursk", "Kursk") == [(0, 5), (7, 14), (19, 24)]
