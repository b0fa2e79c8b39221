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
        self.done_with(EXAMPLES)

    def done_with(self, expected: int) -> None:
        assert self.n >= expected, f"{self.name}: only {self.n} inputs ran"
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


# -- hostile-input classes: each with a property, not only "no crash" -----------------------------------
FEW = max(1, EXAMPLES // 10)  # these build large inputs; a tenth of the examples keeps the suite's time

# Spellings of digits and dots that IDNA (NFKC) turns into ASCII ones, as the HTTP stack will.
_DIGIT_FORMS = [
    "0123456789",
    "０１２３４５６７８９",  # fullwidth
    "⓪①②③④⑤⑥⑦⑧⑨",  # circled
    "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗",  # mathematical bold
    "𝟘𝟙𝟚𝟛𝟜𝟝𝟞𝟟𝟠𝟡",  # mathematical double-struck
]
_DOTS = [".", "。", "．", "｡"]
_PRIVATE = ["127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.169.254", "172.16.0.1", "0.0.0.0", "100.64.0.1"]
_EMBEDDED = ["[::ffff:{}]", "[::{}]", "[64:ff9b::{}]"]


def test_fuzz_unicode_hosts_never_pass_the_ssrf_guard() -> None:
    import ipaddress

    from monitor.config import HttpConfig
    from monitor.crawl.http import HttpClient, is_public_address, request_host
    from monitor.errors import Refused

    counter = Counter("SSRF guard: Unicode and embedded spellings of private hosts (check_url)")
    client = HttpClient(HttpConfig(allow_private_networks=False))

    @_settings(FEW)
    @given(
        st.sampled_from(_PRIVATE),
        st.lists(st.sampled_from(range(len(_DIGIT_FORMS))), min_size=1, max_size=12),
        st.lists(st.sampled_from(_DOTS), min_size=3, max_size=3),
        st.sampled_from(["{}", *_EMBEDDED]),
        st.sampled_from(["", ":8080", ":1"]),
    )
    def one(address: str, forms: list[int], dots: list[str], wrap: str, port: str) -> None:
        counter.n += 1
        if wrap != "{}":
            host = wrap.format(address)  # IPv6 literals: ASCII inside brackets, as URLs require
        else:
            digits = iter(forms * 12)
            host = "".join(_DIGIT_FORMS[next(digits)][int(c)] if c.isdigit() else c for c in address)
            parts = host.split(".")
            host = parts[0] + "".join(d + p for d, p in zip(dots, parts[1:], strict=True))
        url = f"http://{host}{port}/admin"
        try:
            client.check_url(url)
        except Refused:
            counter.rejected += 1
            return
        # Accepted: then the stack must not be heading for a private literal (names go to the resolver).
        spelled = request_host(url)
        assert spelled is not None
        try:
            literal = ipaddress.ip_address(spelled.strip("[]"))
        except ValueError:
            return
        assert is_public_address(str(literal)), (url, spelled)

    one()
    counter.done_with(FEW)


_PADDINGS = st.one_of(
    st.integers(0, 120_000).map(lambda n: " " * n),
    st.integers(0, 120_000).map(lambda n: "<!-- <a " + "x" * n + " -->"),
    st.integers(0, 120_000).map(lambda n: "<?pad <a " + "x" * n + "?>"),
)
_LOL_DECLS = '<!ENTITY l0 "lol">' + "".join(f'\n<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 6))


def test_fuzz_padded_dtds_never_expand() -> None:
    from monitor.opml import parse_opml

    counter = Counter("XML entry points: padded DTDs, any encoding (feeds, sitemaps, OPML)")

    @_settings(FEW)
    @given(
        _PADDINGS,
        st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32"]),
        st.sampled_from(["feed", "sitemap", "opml"]),
        st.sampled_from(["", '<!ENTITY q "]>">', "<!-- ]> -->", "<!ELEMENT x ANY>"]),
        st.booleans(),
    )
    def one(padding: str, encoding: str, kind: str, extra: str, gz: bool) -> None:
        counter.n += 1
        root = {
            "feed": '<rss version="2.0"><channel><title>t</title><item><title>&l5;</title>'
            "<link>http://example.com/a</link></item></channel></rss>",
            "sitemap": '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            '<url><loc a="&l5;">http://example.com/&l5;</loc></url></urlset>',
            "opml": '<opml version="2.0"><body><outline type="rss" text="&l5;" xmlUrl="http://e.com/f"/>'
            "</body></opml>",
        }[kind]
        head = f'<?xml version="1.0" encoding="{encoding}"?>\n{padding}\n'
        doc = f"{head}<!DOCTYPE r [{extra}{_LOL_DECLS}]>\n{root}"
        body = doc.encode(encoding)
        body = gzip.compress(body) if gz else body
        fetched = Fetched(url="http://example.com/x", status=200, body=body)
        try:
            if kind == "feed":
                got = repr(parse_feed(fetched))
            elif kind == "sitemap":
                got = repr(parse_sitemap(fetched))
            else:
                got = repr(parse_opml(body, "subs.opml"))
        except ParseError:
            counter.rejected += 1
            return
        assert "lollol" not in got

    one()
    counter.done_with(FEW)


def test_fuzz_undeclared_gzip_obeys_its_budget() -> None:
    from monitor.crawl.xmlsafe import InflatesTooFar, inflate

    counter = Counter("gzip without Content-Encoding: layers, sizes around the budget (inflate)")
    limit = 100_000

    @_settings(FEW)
    @given(
        st.integers(0, 3 * limit),
        st.integers(1, 4),
        st.binary(min_size=1, max_size=64),
        st.integers(0, 64),
    )
    def one(size: int, layers: int, unit: bytes, cut: int) -> None:
        counter.n += 1
        plain = (unit * (size // len(unit) + 1))[:size]
        body = plain
        for _ in range(layers):
            body = gzip.compress(body)
        body = body[: len(body) - cut] if cut else body
        try:
            out = inflate(body, limit, "http://example.com/s.xml.gz")
        except InflatesTooFar:
            counter.rejected += 1
            assert size > limit or layers > 3 or len(gzip.compress(plain)) > limit
            return
        except ParseError:
            counter.rejected += 1  # truncated, or nested deeper than any real server sends
            assert cut or layers > 3
            return
        assert len(out) <= limit
        assert out == plain or out[:2] != b"\x1f\x8b" or layers > 3

    one()
    counter.done_with(FEW)


_NESTABLE = ["div", "span", "b", "i", "a href=x", "section", "x-custom", "font", "table", "ul", "blockquote"]


def test_fuzz_nesting_depth_is_bounded_before_parsing() -> None:
    from monitor.html_guard import MAX_DEPTH, nesting_depth

    counter = Counter("HTML nesting depth: refused past MAX_DEPTH, before lexbor (extract)")

    @_settings(max(1, FEW // 4))
    @given(
        st.sampled_from([3, 50, 600, 3000, MAX_DEPTH - 5, MAX_DEPTH + 5, 20_000]),
        st.lists(st.sampled_from(_NESTABLE), min_size=1, max_size=4),
        st.booleans(),
        st.sampled_from(["", "<script>" + "'<div>'+" * 3000 + "</script>", "<!--" + "</div>" * 3000 + "-->"]),
    )
    def one(depth: int, tags: list[str], closed: bool, noise: str) -> None:
        counter.n += 1
        opens = "".join(f"<{tags[i % len(tags)]}>" for i in range(depth))
        closes = (
            "".join(f"</{tags[i % len(tags)].split()[0]}>" for i in reversed(range(depth))) if closed else ""
        )
        text = "<p>ATACMS text long enough to count as a body.</p>"
        html = f"<html><body>{noise}{opens}{text}{closes}</body></html>"
        try:
            extract(Fetched(url="https://example.com/a", status=200, body=html.encode()), source="s")
        except ParseError as exc:
            counter.rejected += 1
            if "nested more than" in str(exc):
                assert nesting_depth(html) > MAX_DEPTH
            return
        assert depth <= MAX_DEPTH or "table" in tags  # tables nest no deeper than their cells allow

    one()
    counter.done_with(max(1, FEW // 4))
