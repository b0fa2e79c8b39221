from __future__ import annotations

import pytest

from monitor.crawl.urls import canonicalize, compile_filter, matches_filters, registrable_domain, same_site

BASE = "https://news.example.com/world/europe/index.html"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # tracking parameters, including prefix and case-insensitive names
        ("https://ex.com/a?utm_source=x&utm_MEDIUM=y&id=3", "https://ex.com/a?id=3"),
        ("https://ex.com/a?fbclid=1&gclid=2&dclid=3&msclkid=4", "https://ex.com/a"),
        ("https://ex.com/a?mc_cid=1&mc_eid=2&igshid=3&_ga=4&ref_src=twsrc", "https://ex.com/a"),
        ("https://ex.com/a?cmpid=1&ocid=2&at_medium=3&at_campaign=4&CMP=share", "https://ex.com/a"),
        (
            "http://edition.cnn.com/2014/07/23/x/index.html?hpt=hp_t2",
            "http://edition.cnn.com/2014/07/23/x/index.html",
        ),
        # remaining parameters sorted by name, stable for repeated names, empty pairs dropped
        ("https://ex.com/a?b=2&a=1", "https://ex.com/a?a=1&b=2"),
        ("https://ex.com/a?id=2&x=0&id=1", "https://ex.com/a?id=2&id=1&x=0"),
        ("https://ex.com/a?&&b=2&", "https://ex.com/a?b=2"),
        ("https://ex.com/a?", "https://ex.com/a"),
        ("https://ex.com/a?flag", "https://ex.com/a?flag"),
        # case of scheme and host, never of the path
        ("HTTPS://WWW.Example.COM/Path/To", "https://www.example.com/Path/To"),
        # ports
        ("http://ex.com:80/a", "http://ex.com/a"),
        ("https://ex.com:443/a", "https://ex.com/a"),
        ("https://ex.com:80/a", "https://ex.com:80/a"),
        ("http://ex.com:8080/a", "http://ex.com:8080/a"),
        # fragments and userinfo
        ("https://ex.com/a#section-2", "https://ex.com/a"),
        ("https://ex.com/a#!/hashbang", "https://ex.com/a"),
        ("https://user:secret@ex.com/a", "https://ex.com/a"),
        # trailing slash: dropped except on the root
        ("https://ex.com/a/", "https://ex.com/a"),
        ("https://ex.com/a/b/", "https://ex.com/a/b"),
        ("https://ex.com/", "https://ex.com/"),
        ("https://ex.com", "https://ex.com/"),
        # kept on purpose: index.html, double slashes
        ("https://ex.com/dir/index.html", "https://ex.com/dir/index.html"),
        ("https://ex.com/a//b", "https://ex.com/a//b"),
        # dot segments, percent-encoding
        ("https://ex.com/a/./b/../c", "https://ex.com/a/c"),
        ("https://ex.com/%7euser/%e2%82%ac", "https://ex.com/~user/%E2%82%AC"),
        ("https://ex.com/a%2Fb", "https://ex.com/a%2Fb"),
        ("https://ex.com/caf\u00e9 bar", "https://ex.com/caf%C3%A9%20bar"),
        ("https://ex.com/100%", "https://ex.com/100%25"),
        ("https://ex.com/s?q=a%20b&q2=%c3%a9", "https://ex.com/s?q=a%20b&q2=%C3%A9"),
        # IDN hosts
        ("https://m\u00fcnchen.de/x", "https://xn--mnchen-3ya.de/x"),
        ("https://B\u00dcCHER.example/", "https://xn--bcher-kva.example/"),
        ("https://ex.com./a", "https://ex.com/a"),
        # AMP variants
        ("https://ex.com/amp/world/story-1", "https://ex.com/world/story-1"),
        ("https://ex.com/world/story-1/amp/", "https://ex.com/world/story-1"),
        ("https://www.bbc.co.uk/news/world-123.amp", "https://www.bbc.co.uk/news/world-123"),
        ("https://ex.com/2024/story.amp.html", "https://ex.com/2024/story.html"),
        ("https://ex.com/story?amp=1", "https://ex.com/story"),
        ("https://ex.com/story?amp", "https://ex.com/story"),
        ("https://ex.com/story?outputType=amp&id=4", "https://ex.com/story?id=4"),
        ("https://www-ex-com.cdn.ampproject.org/c/s/www.ex.com/a/b/?x=1", "https://www.ex.com/a/b?x=1"),
        ("https://www.google.com/amp/s/www.ex.com/a/amp/", "https://www.ex.com/a"),
        ("https://ex.com/amp", "https://ex.com/amp"),  # a lone segment may be a real page
        ("https://ex.com/story?amp=0", "https://ex.com/story?amp=0"),
        # IPv6 literal
        ("http://[::1]:8080/a", "http://[::1]:8080/a"),
    ],
)
def test_canonicalize(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("story-2", "https://news.example.com/world/europe/story-2"),
        ("../asia/x", "https://news.example.com/world/asia/x"),
        ("/top", "https://news.example.com/top"),
        ("//cdn.example.net/a.html", "https://cdn.example.net/a.html"),
        ("?page=2", "https://news.example.com/world/europe/index.html?page=2"),
        ("  /spaced\n/path  ", "https://news.example.com/spaced/path"),
        ("http://other.org/a", "http://other.org/a"),
    ],
)
def test_canonicalize_relative(url: str, expected: str) -> None:
    assert canonicalize(url, base=BASE) == expected


@pytest.mark.parametrize(
    "url",
    [
        "ftp://ex.com/a",
        "mailto:desk@ex.com",
        "javascript:alert(1)",
        "data:text/html,hi",
        "file:///etc/passwd",
        "/relative/without/base",
        "",
        "   ",
        "http://",
        "https://ex.com:99999/",
        "https://ex.com:port/",
        "http://[::1/",
        "https://" + "a" * 9000 + ".com/",
    ],
)
def test_canonicalize_rejects(url: str) -> None:
    assert canonicalize(url) is None


def test_canonicalize_is_idempotent() -> None:
    for url in (
        "https://ex.com/a/?b=2&a=1&utm_source=x#f",
        "https://m\u00fcnchen.de/caf\u00e9/",
        "https://ex.com/%7e/%zz",
        "https://ex.com/story/amp/amp",  # stripping one AMP segment exposes another
        "https://wwhttps://www.google.comhttps://wwhttps://www.google.com/amp/amp",  # found by fuzzing
    ):
        once = canonicalize(url)
        assert once is not None
        assert canonicalize(once) == once


@pytest.mark.parametrize(
    ("url", "site", "expected"),
    [
        ("https://www.cnn.com/x", "https://cnn.com/", True),
        ("https://cnn.com/x", "https://www.cnn.com/", True),
        ("https://edition.cnn.com/x", "https://cnn.com/", True),
        ("https://money.cnn.com/x", "http://edition.cnn.com/", True),  # sibling subdomain
        ("https://news.bbc.co.uk/x", "https://www.bbc.co.uk/", True),
        ("https://evil.co.uk/x", "https://www.bbc.co.uk/", False),
        ("https://cnn.com.evil.net/x", "https://cnn.com/", False),
        ("https://notcnn.com/x", "https://cnn.com/", False),
        ("https://alice.blogspot.com/x", "https://bob.blogspot.com/", False),
        ("https://alice.blogspot.com/x", "https://alice.blogspot.com/", True),
        ("http://EXAMPLE.org:8080/x", "https://example.org/", True),
        ("not a url", "https://example.org/", False),
        # Public Suffix List: ICANN suffixes deeper than two labels, and platforms' private suffixes.
        ("https://evil.wixsite.com/x", "https://news.wixsite.com/", False),
        ("https://news.wixsite.com/a/b", "https://news.wixsite.com/", True),
        ("https://evil.myshopify.com/x", "https://shop.myshopify.com/", False),
        ("https://evil.s3.amazonaws.com/x", "https://news.s3.amazonaws.com/", False),
        ("https://evil.kyiv.ua/x", "https://news.kyiv.ua/", False),
        ("https://www.news.kyiv.ua/x", "https://news.kyiv.ua/", True),
        ("https://a.evil.kawasaki.jp/x", "https://a.news.kawasaki.jp/", False),  # *.kawasaki.jp
        ("https://www.city.kawasaki.jp/x", "https://city.kawasaki.jp/", True),  # its !exception
        ("https://пример.рф/x", "https://www.xn--e1afmkfd.xn--p1ai/", True),  # IDNA either way
    ],
)
def test_same_site(url: str, site: str, expected: bool) -> None:
    assert same_site(url, site) is expected


def test_registrable_domain() -> None:
    assert registrable_domain("edition.cnn.com") == "cnn.com"
    assert registrable_domain("news.bbc.co.uk") == "bbc.co.uk"
    assert registrable_domain("example.com") == "example.com"
    assert registrable_domain("127.0.0.1") == "127.0.0.1"
    assert registrable_domain("a.b.news.kyiv.ua") == "news.kyiv.ua"
    assert registrable_domain("x.alice.github.io") == "alice.github.io"
    assert registrable_domain("localhost") == "localhost"
    assert registrable_domain("wixsite.com") == "wixsite.com"  # a bare suffix is its own site


@pytest.mark.parametrize(
    ("url", "include", "exclude", "expected"),
    [
        ("https://ex.com/news/a", (), (), True),
        ("https://ex.com/news/a", ("/news/",), (), True),
        ("https://ex.com/sport/a", ("/news/",), (), False),
        ("https://ex.com/News/a", ("/news/",), (), True),  # substrings ignore case
        ("https://ex.com/news/live/a", ("/news/",), ("/live/",), False),  # exclude wins
        ("https://ex.com/video/a", (), ("/video/",), False),
        ("https://ex.com/a?id=7", ("?id=",), (), True),  # the query counts
        ("https://news.ex.com/a", ("news",), (), False),  # the host does not
        ("https://ex.com/2024/05/03/x", ("re:^/\\d{4}/\\d{2}/\\d{2}/",), (), True),
        ("https://ex.com/tag/2024/05/03/x", ("re:^/\\d{4}/",), (), False),
        ("https://ex.com/News/a", ("re:/news/",), (), False),  # regexes keep case
        ("https://ex.com/News/a", ("re:(?i)/news/",), (), True),
        ("https://ex.com/a/b", ("/x/", "/a/"), (), True),  # any include
    ],
)
def test_matches_filters(
    url: str, include: tuple[str, ...], exclude: tuple[str, ...], expected: bool
) -> None:
    assert matches_filters(url, include, exclude) is expected


def test_bad_regex_filter_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bad regular expression"):
        compile_filter("re:(unclosed")
