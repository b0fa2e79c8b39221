"""MinHash fingerprints: stable, tolerant of added boilerplate and small edits, apart for unrelated texts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import unicodedata
from pathlib import Path
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import fingerprint as fingerprint_module
from monitor import nfkc
from monitor.fingerprint import (
    BANDS,
    Fingerprint,
    containment,
    fingerprint,
    legacy_fingerprint,
    same_story,
)

# ~500 words: the length of a typical wire story.
ARTICLE = " ".join(
    [
        "By Maria Kowalska, Reuters.",
        "Ukraine fired U.S.-supplied ATACMS missiles into Russian territory for the first time on Tuesday,",
        "striking an arsenal in the Bryansk region, Russia's defence ministry said, a day after Washington",
        "eased restrictions on the use of the long-range weapons. The ministry said six missiles were fired,",
        "five of them were shot down and fragments of the sixth fell on a military facility, causing a fire",
        "that was quickly put out. There were no casualties or damage, it said. Kyiv did not immediately",
        "confirm the strike, although a Ukrainian military source said the arsenal had been hit and that",
        "secondary detonations were observed for hours afterwards. The strike came on the thousandth day of",
        "the war, which began when Russia sent tens of thousands of troops across the border in 2022.",
    ]
    * 3
    + [f"Paragraph {i} discusses logistics, air defence, drones and the winter offensive." for i in range(12)]
)

UNRELATED = " ".join(
    [
        "The central bank left its benchmark interest rate unchanged on Thursday, citing persistent",
        "services inflation and a tight labour market, and signalled that cuts would come later than",
        "investors had expected. Bond yields rose after the announcement while the currency strengthened",
        "against the dollar and the euro. Economists polled before the meeting had been split on the",
        "decision, with a narrow majority forecasting a quarter-point reduction in borrowing costs.",
    ]
    * 8
    + [f"Section {i} covers mortgages, savings accounts, pensions and consumer credit." for i in range(12)]
)


def test_article_is_realistic_length() -> None:
    assert 450 <= len(ARTICLE.split()) <= 600


def test_same_text_same_fingerprint_and_normalization() -> None:
    assert fingerprint(ARTICLE) == fingerprint(ARTICLE.upper().replace(" ", "  "))
    fp = fingerprint(ARTICLE)
    assert Fingerprint.from_hex(fp.hex(), fp.size) == fp and len(fp.bands()) == BANDS


def test_fingerprint_is_stable_across_processes() -> None:
    code = "from monitor.fingerprint import fingerprint; print(fingerprint('a b c d e f g h i j').key())"
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root)
    assert out.stdout.strip() == fingerprint("a b c d e f g h i j").key()


def test_empty_and_short_texts() -> None:
    assert fingerprint("").size == 0 and not same_story(fingerprint(""), fingerprint(""))
    assert same_story(fingerprint("Missiles hit a depot"), fingerprint("missiles hit a depot!"))
    assert not same_story(fingerprint("Missiles hit a depot"), fingerprint("Missiles hit the depot"))


def test_boilerplate_and_light_edits_stay_one_story() -> None:
    copy = "By Jane Doe, Reuters. " + ARTICLE.replace("Tuesday", "Wednesday") + " Copyright 2024. Read more."
    assert containment(fingerprint(ARTICLE), fingerprint(copy)) > 0.8
    assert same_story(fingerprint(ARTICLE), fingerprint(copy))


def test_unrelated_texts_are_apart() -> None:
    assert containment(fingerprint(ARTICLE), fingerprint(UNRELATED)) < 0.2
    assert not same_story(fingerprint(ARTICLE), fingerprint(UNRELATED))


def test_long_article_is_fast() -> None:
    text = ARTICLE * 20
    start = time.perf_counter()
    fingerprint(text)
    assert time.perf_counter() - start < 0.5


def test_nothing_normalizing_changes_lies_beyond_what_the_tables_read() -> None:
    def changed(char: str) -> bool:
        decomposition = unicodedata.decomposition(char)
        return (
            (bool(decomposition) and not decomposition.startswith("<"))
            or bool(unicodedata.combining(char))
            or unicodedata.normalize("NFKC", char) != char
            or char.casefold() != char
        )

    assert not any(changed(chr(code)) for code in range(nfkc.LAST_READ + 1, 0x110000))


WIRE = "Ukraine fired ATACMS missiles into Russian territory for the first time on Tuesday, striking a depot."


def test_both_versions_are_pinned() -> None:
    """Stories in stores outlive processes: a changed value would split every story at an upgrade.
    Version 1's value is the one the code before version 2 computed."""
    assert fingerprint(WIRE).key() == "b4de7d7e34a14058"
    assert legacy_fingerprint(WIRE).key() == "55fbec8c2faf1e05"
    assert [band for band, _ in fingerprint(WIRE).bands()] == list(range(BANDS, 2 * BANDS))
    assert [band for band, _ in legacy_fingerprint(WIRE).bands()] == list(range(BANDS))


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.one_of(
            st.sampled_from(" .,'\n\u00a0\u2026\u00bd\u00df\u0301\u0308\ufb01\uff2b\u1161\U0001d400_"),
            st.characters(exclude_categories=()),  # lone surrogates too (JSON escapes make them)
        ),
        max_size=60,
    )
)
def test_the_table_reads_a_text_as_unicodedata_does(text: str) -> None:
    """Most texts are read through a table, character by character; what it cannot map goes through
    ``unicodedata``. Both must give one fingerprint."""

    def by_unicodedata(text: str, tables: object) -> object:
        folded = unicodedata.normalize("NFKC", text).casefold()
        # Letters, digits, "_" and everything beyond the BMP are word characters; the rest spaces.
        spaced = "".join(c if c.isalnum() or c == "_" or ord(c) > 0xFFFF else " " for c in folded)
        return np.frombuffer(f" {spaced} ".encode("utf-32-le", "surrogatepass"), dtype="<u4")

    fast = fingerprint(text)
    with mock.patch.object(fingerprint_module, "_codes", side_effect=by_unicodedata):
        assert fingerprint(text) == fast
