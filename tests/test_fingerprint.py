"""SimHash fingerprints: stable, tolerant of small edits, far apart for unrelated texts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from monitor.fingerprint import BANDS, MAX_DISTANCE, bands, hamming, simhash

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


def test_same_text_same_hash_and_normalization() -> None:
    assert simhash(ARTICLE) == simhash(ARTICLE)
    shouted = ARTICLE.upper().replace(",", " ,").replace(" ", "\u00a0 ")
    assert simhash(shouted) == simhash(ARTICLE)
    assert 0 <= simhash(ARTICLE) < 2**64


def test_hash_is_stable_across_processes() -> None:
    # Python's hash() is salted per process; a fingerprint stored by one daemon must match another's.
    code = "from monitor.fingerprint import simhash; print(simhash('North Korean troops in Kursk'))"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert int(out.stdout) == simhash("North Korean troops in Kursk")


def test_short_and_empty_texts_are_deterministic() -> None:
    assert simhash("") == simhash("") == 0
    assert simhash("Kursk") == simhash("kursk!") != 0
    assert simhash("North Korea") != simhash("Kursk")


def test_light_edits_stay_within_threshold() -> None:
    base = simhash(ARTICLE)
    byline = ARTICLE.replace("By Maria Kowalska, Reuters.", "By John Smith and Anna Lee, Associated Press.")
    swapped = ARTICLE.replace("quickly put out", "rapidly put out", 1)
    both = byline.replace("secondary detonations", "secondary explosions", 1)
    distances = [hamming(base, simhash(t)) for t in (byline, swapped, both)]
    assert all(0 < d <= MAX_DISTANCE for d in distances), distances


def test_unrelated_texts_are_far_apart() -> None:
    assert hamming(simhash(ARTICLE), simhash(UNRELATED)) > 3 * MAX_DISTANCE


def test_hamming() -> None:
    assert hamming(0, 0) == 0
    assert hamming(0b1011, 0b0001) == 2
    assert hamming(0, 2**64 - 1) == 64


def test_bands_cover_every_bit_once() -> None:
    assert len(bands(0)) == BANDS
    # Reassemble: every bit of the fingerprint lands in exactly one band.
    for bit in range(64):
        assert sum(v.bit_count() for v in bands(1 << bit)) == 1
    # Pigeonhole: MAX_DISTANCE differing bits leave at least one band identical.
    assert BANDS > MAX_DISTANCE


def test_long_article_is_fast() -> None:
    text = " ".join([ARTICLE] * 10)  # ~5,000 words
    started = time.perf_counter()
    simhash(text)
    assert time.perf_counter() - started < 0.1
