"""Fuzzing (slow): every parser of untrusted or operator input takes 10,000 generated or mutated inputs.

Seeds are the shared corpus (``../shared/corpus``: real pages, feeds, sitemaps) and the repository's own
rule files and example config, with inline samples when the corpus is absent. Inputs are mutated byte
strings (insert / delete / overwrite / truncate / splice) or generated from scratch. Only the module's
documented error may escape: ParseError (pages, feeds, sitemaps, listings), RuleError (rules),
ConfigError (config). canonicalize never raises and is idempotent.

Hypothesis runs derandomized (a fixed seed per test), so a failure reproduces on every run.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import parse_config
from monitor.crawl.sources import parse_feed, parse_listing, parse_sitemap
from monitor.crawl.urls import canonicalize
from monitor.errors import ConfigError, ParseError, RuleError
from monitor.extract import extract
from monitor.matching.rules import rules_from_text
from monitor.model import Fetched, Source
from tests._reliability import record

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    # A 60 kB falsifying input makes hypothesis warn about its repr; the warning must not hide the failure.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning"),
]

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
EXAMPLES = int(__import__("os").environ.get("NEWSMON_FUZZ_EXAMPLES", "10000"))


def _settings(n: int = EXAMPLES) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def _read(path: Path, limit: int = 60_000) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data[:limit]


def _corpus(pattern: str, count: int) -> list[bytes]:
    files = sorted(CORPUS.glob(pattern))[:count] if CORPUS.exists() else []
    return [_read(f) for f in files]


INLINE_HTML = [
    b"<html><head><title>T</title><meta charset='utf-8'></head><body><article><h1>Hello</h1><p>"
    + b"Word " * 200
    + b"</p></article></body></html>",
    b"<p>x</p>",
]
INLINE_FEED = [
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>a &amp; b</title>'
    b"<link>http://example.com/a</link><pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate></item>"
    b"</channel></rss>",
    b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>x</title><link href="/a"/></entry></feed>',
    b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"url": "https://e.com/a", "title": "t"}]}',
]
INLINE_SITEMAP = [
    b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
    b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>https://e.com/a</loc>'
    b"<news:news><news:title>T</news:title><news:publication_date>2024-01-01</news:publication_date>"
    b"</news:news></url></urlset>",
    b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>/s2.xml</loc>'
    b"</sitemap></sitemapindex>",
    b"https://e.com/a\nhttps://e.com/b\n",
]
PAGES = _corpus("articles/*/*.html.gz", 40) + INLINE_HTML
LISTINGS = _corpus("listings/*.html.gz", 9) + INLINE_HTML
FEEDS = [d for d in _corpus("feeds/*/*", 60) if d] + INLINE_FEED
SITEMAPS = _corpus("feeds/sitemaps/*", 2) + INLINE_SITEMAP
RULES = [p.read_bytes() for p in sorted((ROOT / "rules").glob("*.yaml"))] or [
    b"rules:\n  - id: a\n    any: ['x']\n"
]
CONFIGS = [(ROOT / "config.example.toml").read_bytes()]
URLS = [
    "https://www.Example.com:443/a/./b/../c/?utm_source=x&b=2&a=1#frag",
    "http://user:pw@xn--bcher-kva.example/%7euser/amp/",
    "https://www.google.com/amp/s/example.com/news/x.amp.html?amp=1",
    "//cdn.example.com/x?&&a=%41",
    "https://[::1]:8080/path;p?q",
]

MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "overwrite", "truncate", "splice", "repeat"]),
        st.integers(min_value=0, max_value=1 << 24),
        st.binary(max_size=24)
        | st.sampled_from(
            [
                b"<",
                b">",
                b"&",
                b"&#0;",
                b"]]>",
                b"<!DOCTYPE x [",
                b"<![CDATA[",
                b"\x00",
                b"\xff\xfe",
                b"\xe2\x80\xae",
                b"<script>",
                b"</html>",
                b"<a href='javascript:x'>",
                b"%",
                b"\r\n",
                b'"',
                b"{",
                b"}",
            ]
        ),
    ),
    max_size=8,
)


def _mutate(seed: bytes, ops: list[tuple[str, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for op, at, chunk in ops:
        pos = at % (len(data) + 1)
        if op == "insert":
            data[pos:pos] = chunk
        elif op == "delete":
            del data[pos : pos + len(chunk) + 1]
        elif op == "overwrite":
            data[pos : pos + len(chunk)] = chunk
        elif op == "truncate":
            del data[pos:]
        elif op == "splice":
            data[pos:pos] = data[: at % 64]
        else:  # repeat: deep nesting and long runs
            data[pos:pos] = chunk * (at % 200)
    return bytes(data)


def inputs(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    mutated = st.builds(_mutate, st.sampled_from(seeds), MUTATIONS)
    return st.one_of(mutated, mutated, mutated, st.binary(max_size=2048))


class Counter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0
        self.rejected = 0
        self.started = time.monotonic()

    def done(self) -> None:
        assert self.n >= EXAMPLES, f"{self.name}: only {self.n} inputs ran"
        record(
            f"fuzz: {self.name}",
            self.n,
            note=f"{self.rejected} rejected with the typed error, the rest parsed; "
            f"{time.monotonic() - self.started:.0f}s",
        )


def _run(counter: Counter, fn: Callable[[], Any], allowed: type[BaseException]) -> None:
    counter.n += 1
    try:
        fn()
    except allowed:
        counter.rejected += 1


def test_fuzz_html_extractor() -> None:
    counter = Counter("HTML extractor (extract)")

    @_settings()
    @given(inputs(PAGES), st.sampled_from([None, "utf-8", "gb2312", "latin-1", "bogus-charset", "utf-16"]))
    def one(body: bytes, charset: str | None) -> None:
        fetched = Fetched(url="https://example.com/a", status=200, body=body, charset=charset)
        _run(counter, lambda: extract(fetched, source="s"), ParseError)

    one()
    counter.done()


def test_fuzz_html_listing_parser() -> None:
    counter = Counter("listing parser (parse_listing)")
    source = Source(name="s", kind="html", url="https://example.com/", interval=60)

    @_settings()
    @given(inputs(LISTINGS))
    def one(body: bytes) -> None:
        fetched = Fetched(url="https://example.com/", status=200, body=body)
        _run(counter, lambda: parse_listing(fetched, source), ParseError)

    one()
    counter.done()


def test_fuzz_feed_parser() -> None:
    counter = Counter("feed parser (parse_feed)")

    @_settings()
    @given(inputs(FEEDS), st.sampled_from([None, "application/rss+xml", "application/feed+json"]))
    def one(body: bytes, ctype: str | None) -> None:
        fetched = Fetched(url="https://example.com/feed", status=200, body=body, content_type=ctype)
        _run(counter, lambda: parse_feed(fetched), ParseError)

    one()
    counter.done()


def test_fuzz_sitemap_parser() -> None:
    counter = Counter("sitemap parser (parse_sitemap)")

    @_settings()
    @given(inputs(SITEMAPS) | inputs(SITEMAPS).map(gzip.compress))
    def one(body: bytes) -> None:
        fetched = Fetched(url="https://example.com/sitemap.xml", status=200, body=body)
        _run(counter, lambda: parse_sitemap(fetched), ParseError)

    one()
    counter.done()


def test_fuzz_url_canonicalizer() -> None:
    counter = Counter("URL canonicalizer (canonicalize)")
    url_bytes = [u.encode() for u in URLS]

    @_settings()
    @given(
        inputs(url_bytes).map(lambda b: b.decode("utf-8", "replace")) | st.text(max_size=200),
        st.sampled_from([None, "https://example.com/dir/page", "http://[::1]/", "not a url"]),
    )
    def one(url: str, base: str | None) -> None:
        counter.n += 1
        first = canonicalize(url, base=base)
        if first is not None:
            assert canonicalize(first) == first, (url, base, first)

    one()
    counter.done()


def test_fuzz_rule_loader() -> None:
    counter = Counter("rule loader (rules_from_text)")

    @_settings()
    @given(inputs(RULES).map(lambda b: b.decode("utf-8", "replace")))
    def one(text: str) -> None:
        _run(counter, lambda: rules_from_text(text, "fuzz.yaml"), RuleError)

    one()
    counter.done()


def test_fuzz_config_loader(tmp_path: Path) -> None:
    counter = Counter("config loader (parse_config)")
    path = tmp_path / "config.toml"

    @_settings()
    @given(inputs(CONFIGS).map(lambda b: b.decode("utf-8", "replace")))
    def one(text: str) -> None:
        _run(counter, lambda: parse_config(text, path), ConfigError)

    one()
    counter.done()
