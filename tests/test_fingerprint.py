"""MinHash fingerprints: stable, tolerant of added boilerplate and small edits, apart for unrelated texts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from monitor.fingerprint import BANDS, Fingerprint, containment, fingerprint, same_story

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
