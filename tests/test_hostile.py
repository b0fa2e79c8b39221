"""Bombs and traps: what a hostile or broken server can send, against the real client and parsers.

Every server is an aiohttp app on loopback. Sizes are asserted on both sides: the client's typed error
and how much the server actually managed to write (a body that is "capped" after being buffered whole
would pass the first check and fail the second).
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import re
import stat
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.cli import main
from monitor.config import HttpConfig
from monitor.crawl.http import HttpClient
from monitor.crawl.sources import MAX_DECOMPRESSED, parse_feed, parse_listing, parse_sitemap
from monitor.errors import FetchError, ParseError, Refused, TooLarge
from monitor.extract import extract
from monitor.model import Fetched, Source
from monitor.opml import parse_opml
from tests.cli_config import cli_config

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
MAX_BYTES = 1_000_000
CONFIG = HttpConfig(
    allow_private_networks=True, per_host_delay=0, respect_robots=False, timeout=5, max_bytes=MAX_BYTES
)
GB = 1 << 30


def _bomb(encoding: str, size: int) -> bytes:
    """``size`` zero bytes compressed; built in chunks so the test itself never holds ``size`` bytes."""
    block = b"\0" * (1 << 20)
    if encoding == "br":
        import brotli

        packer = brotli.Compressor(quality=5)
        return b"".join([*(packer.process(block) for _ in range(size >> 20)), packer.finish()])
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}[encoding]
    comp = zlib.compressobj(9, zlib.DEFLATED, wbits)
    parts = [comp.compress(block) for _ in range(size >> 20)]
    return b"".join([*parts, comp.flush()])


BOMBS: dict[str, bytes] = {}
NO_BROTLI = "no Brotli package (a core dependency): `pip install -e .` installs it"
BR_PAGE = b"<html><body><article><p>Served with Content-Encoding: br.</p></article></body></html>"


def bomb(encoding: str) -> bytes:
    if encoding not in BOMBS:
        BOMBS[encoding] = _bomb(encoding, 256 << 20)  # 256 MB inflated from ~250 KB
    return BOMBS[encoding]


class Served:
    """Counters the handlers update: bytes written per path, and whether the client went away."""

    def __init__(self) -> None:
        self.written: dict[str, int] = {}
        self.accept_encoding = ""


@pytest.fixture
async def hostile() -> AsyncIterator[tuple[TestServer, Served]]:
    served = Served()

    async def compressed(request: web.Request) -> web.Response:
        encoding = request.match_info["enc"]
        body = bomb(encoding)
        served.written[request.path] = len(body)
        return web.Response(body=body, headers={"Content-Encoding": encoding, "Content-Type": "text/html"})

    async def br_page(request: web.Request) -> web.Response:
        import brotli

        served.accept_encoding = request.headers.get("Accept-Encoding", "")
        return web.Response(
            body=brotli.compress(BR_PAGE), headers={"Content-Encoding": "br", "Content-Type": "text/html"}
        )

    async def lazy_gigabyte(request: web.Request) -> web.StreamResponse:
        """1 GB, generated as it is sent: with or without an honest Content-Length."""
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        if request.query.get("length") == "1":
            resp.content_length = GB
        await resp.prepare(request)
        chunk = b"<p>" + b"a" * 65_530 + b"</p>"
        sent = 0
        try:
            while sent < GB:
                await resp.write(chunk)
                sent += len(chunk)
                served.written[request.path + request.query_string] = sent
        except (ConnectionResetError, ConnectionError):
            pass  # the client hung up: what we want
        return resp

    async def trickle(request: web.Request) -> web.StreamResponse:
        """One byte at a time, forever; the pause is the scenario being tested, not synchronisation."""
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        try:
            while True:
                await resp.write(b"x")
                served.written["/trickle"] = served.written.get("/trickle", 0) + 1
                await asyncio.sleep(0.25)
        except (ConnectionResetError, ConnectionError):
            pass
        return resp

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/loop/{int(request.match_info['n']) + 1}")

    async def self_loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/self")

    async def to_scheme(request: web.Request) -> web.Response:
        target = {"file": "file:///etc/passwd", "ftp": "ftp://127.0.0.1/pub", "gopher": "gopher://x/"}
        raise web.HTTPFound(target[request.match_info["scheme"]])

    async def binary(request: web.Request) -> web.Response:
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
        return web.Response(body=png, headers={"Content-Type": "text/html; charset=utf-8"})

    app = web.Application()
    app.router.add_get("/bomb/{enc}", compressed)
    app.router.add_get("/br-page", br_page)
    app.router.add_get("/gigabyte", lazy_gigabyte)
    app.router.add_get("/trickle", trickle)
    app.router.add_get("/loop/{n}", loop)
    app.router.add_get("/self", self_loop)
    app.router.add_get("/to/{scheme}", to_scheme)
    app.router.add_get("/binary", binary)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server, served
    finally:
        await server.close()


# -- compression bombs -------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_content_encoding_bomb_is_capped_after_decompression(
    hostile: tuple[TestServer, Served], encoding: str
) -> None:
    server, _ = hostile
    tracemalloc.start()
    try:
        async with HttpClient(CONFIG) as client:
            with pytest.raises(TooLarge, match="max_bytes"):
                await client.fetch(str(server.make_url(f"/bomb/{encoding}")))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 256 MB inflated would show; aiohttp inflates in bounded pieces and we stop at the cap.
    assert peak < 40 * MAX_BYTES, peak


async def test_brotli_is_advertised_and_decoded(hostile: tuple[TestServer, Served]) -> None:
    """Brotli is a core dependency: real news sites answer ``Accept-Encoding: br`` with br bodies."""
    pytest.importorskip("brotli", reason=NO_BROTLI)
    server, served = hostile
    async with HttpClient(CONFIG) as client:
        fetched = await client.fetch(str(server.make_url("/br-page")))
    assert "br" in served.accept_encoding.replace(" ", "").split(",")
    assert fetched.body == BR_PAGE


async def test_brotli_bomb_is_capped(hostile: tuple[TestServer, Served]) -> None:
    """256 MB of zeros in ~400 bytes of br stop at max_bytes, counted after decompression."""
    pytest.importorskip("brotli", reason=NO_BROTLI)
    server, served = hostile
    tracemalloc.start()
    try:
        async with HttpClient(CONFIG) as client:
            with pytest.raises(TooLarge, match="max_bytes"):
                await client.fetch(str(server.make_url("/bomb/br")))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert served.written["/bomb/br"] < 4096  # the whole bomb went out: the cap is on the inflated size
    assert peak < 40 * MAX_BYTES, peak


@pytest.mark.parametrize("parse", [parse_feed, parse_sitemap])
def test_gzip_body_bomb_in_feeds_and_sitemaps_is_capped(parse: Callable[[Fetched], object]) -> None:
    """Sitemaps come as .xml.gz with no Content-Encoding, so the parser inflates them itself."""
    body = _bomb("gzip", MAX_DECOMPRESSED + (8 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(ParseError, match="inflates beyond"):
            parse(Fetched(url="http://example.com/sitemap.xml.gz", status=200, body=body))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_DECOMPRESSED + (16 << 20), peak


# -- XML entity attacks ------------------------------------------------------------------------------
LOL = "".join(
    [
        '<!ENTITY lol "lol">',
        '<!ENTITY lol1 "' + "&lol;" * 10 + '">',
        *(f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(2, 10)),
    ]
)


def _feed(doctype: str, title: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{doctype}]><rss version="2.0"><channel><title>t</title>'
        f"<item><title>{title}</title><link>http://example.com/a</link></item></channel></rss>"
    ).encode()


def _sitemap(doctype: str, loc: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE urlset [{doctype}]>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>http://example.com/{loc}</loc></url></urlset>"
    ).encode()


def test_billion_laughs_in_a_feed_is_never_expanded() -> None:
    parse_feed(Fetched(url="http://e.com/", status=200, body=_feed("", "warm-up")))  # imports
    started = time.process_time()
    (entry,) = parse_feed(Fetched(url="http://example.com/feed", status=200, body=_feed(LOL, "&lol9;")))
    assert "lollol" not in (entry.title or "")
    # expat alone would expand ~10^6 characters (seconds of CPU) before its amplification limit.
    assert time.process_time() - started < 0.2


def test_billion_laughs_in_a_sitemap_is_never_expanded() -> None:
    started = time.process_time()
    urls, _ = parse_sitemap(Fetched(url="http://example.com/s.xml", status=200, body=_sitemap(LOL, "&lol9;")))
    assert all("lollol" not in c.url for c in urls)
    assert time.process_time() - started < 0.2


@pytest.mark.parametrize("target", ["file:///etc/hostname", "http://127.0.0.1:9/xxe"])
def test_external_entities_are_never_loaded(tmp_path: Path, target: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    target = target if target.startswith("http") else secret.as_uri()
    decl = f'<!ENTITY xxe SYSTEM "{target}">'
    (entry,) = parse_feed(Fetched(url="http://example.com/feed", status=200, body=_feed(decl, "&xxe;")))
    assert "TOPSECRET" not in repr(entry)
    urls, _ = parse_sitemap(Fetched(url="http://example.com/s.xml", status=200, body=_sitemap(decl, "&xxe;")))
    assert "TOPSECRET" not in repr(urls)


# -- huge, slow, looping -----------------------------------------------------------------------------
@pytest.mark.parametrize("honest_length", [False, True])
async def test_a_gigabyte_body_is_cut_while_streaming(
    hostile: tuple[TestServer, Served], honest_length: bool
) -> None:
    server, served = hostile
    query = "?length=1" if honest_length else ""
    async with HttpClient(CONFIG) as client:
        with pytest.raises(TooLarge):
            await client.fetch(str(server.make_url("/gigabyte" + query)))
    written = served.written.get("/gigabyte" + query.lstrip("?"), 0)
    # The socket buffers a few MB at most before the server notices the hang-up.
    assert written < 64 * MAX_BYTES, written


async def test_a_trickling_server_hits_the_total_deadline(hostile: tuple[TestServer, Served]) -> None:
    server, served = hostile
    config = HttpConfig(allow_private_networks=True, per_host_delay=0, respect_robots=False, timeout=1.0)
    started = time.monotonic()
    async with HttpClient(config) as client:
        with pytest.raises(FetchError, match="timed out"):
            await client.fetch(str(server.make_url("/trickle")))
    elapsed = time.monotonic() - started
    # One retry after a 1 s pause: two deadlines plus the pause, never "as long as bytes keep coming".
    assert elapsed < 2 * config.timeout + 1.0 + 1.0, elapsed
    assert served.written["/trickle"] >= 2  # it really was sending


@pytest.mark.parametrize("path", ["/loop/0", "/self"])
async def test_redirect_loops_end_with_a_fetch_error(hostile: tuple[TestServer, Served], path: str) -> None:
    server, _ = hostile
    async with HttpClient(CONFIG) as client:
        with pytest.raises(FetchError, match="redirects"):
            await client.fetch(str(server.make_url(path)))


@pytest.mark.parametrize("scheme", ["file", "ftp", "gopher"])
async def test_redirects_to_other_schemes_are_refused(
    hostile: tuple[TestServer, Served], scheme: str
) -> None:
    server, _ = hostile
    async with HttpClient(CONFIG) as client:
        with pytest.raises(Refused, match="not http or https"):
            await client.fetch(str(server.make_url(f"/to/{scheme}")))


async def test_binary_served_as_html_is_a_parse_error(hostile: tuple[TestServer, Served]) -> None:
    server, _ = hostile
    async with HttpClient(CONFIG) as client:
        fetched = await client.fetch(str(server.make_url("/binary")))
    with pytest.raises(ParseError, match="not HTML"):
        extract(fetched, source="s")


# -- charsets ----------------------------------------------------------------------------------------
def _corpus_page(name: str) -> tuple[bytes, dict[str, object]]:
    path = CORPUS / "articles" / "fundus" / name
    if not path.exists():
        pytest.skip(f"corpus page {name} not present (../shared/corpus)")
    truth = json.loads(path.with_name(name.replace(".html.gz", ".json")).read_text())
    return gzip.decompress(path.read_bytes()), truth


def _first_sentence(truth: dict[str, object]) -> str:
    body = str(truth["body_text"])
    return body.split("\n")[0].strip()[:40]


@pytest.mark.parametrize("header", ["gb2312", None, "utf-8", "iso-8859-1"])
def test_gb2312_page_decodes_whatever_the_server_claims(header: str | None) -> None:
    raw, truth = _corpus_page("cn_People_2024_04_24.html.gz")
    article = extract(Fetched(url=str(truth["url"]), status=200, body=raw, charset=header), source="s")
    # The ground-truth title keeps the site suffix ("--时政--人民网") that extract strips.
    assert article.title and str(truth["title"]).startswith(article.title)
    assert _first_sentence(truth) in article.body


@pytest.mark.parametrize("header", ["windows-1252", None, "utf-8", "iso-8859-1"])
def test_windows_1252_page_decodes_whatever_the_server_claims(header: str | None) -> None:
    raw, truth = _corpus_page("es_ElMundo_2024_12_02.html.gz")  # declares iso-8859-15, stored as UTF-8
    text = raw.decode("utf-8")
    # Re-encode as windows-1252 with curly quotes (0x93/0x94), which latin-1 decoding would garble.
    cp1252 = re.sub(r"(?i)iso-8859-15|utf-8", "windows-1252", text)
    cp1252 = cp1252.replace("<title>", "<title>\u201cCita\u201d ", 1)
    body = cp1252.encode("cp1252", errors="replace")
    assert not body.isascii()
    article = extract(Fetched(url=str(truth["url"]), status=200, body=body, charset=header), source="s")
    assert "Nada más cruzar la meta" in article.body
    assert "Ã" not in article.body and "\ufffd" not in article.body  # no mojibake


def test_utf8_page_with_a_lying_latin1_header_decodes_as_utf8() -> None:
    html = (
        "<html><head><title>Kyiv — Київ</title></head><body><p>Київ " + "слово " * 200 + "</p></body></html>"
    )
    article = extract(
        Fetched(url="http://e.com/a", status=200, body=html.encode(), charset="iso-8859-1"), source="s"
    )
    assert article.title == "Kyiv — Київ"


@pytest.mark.parametrize(
    "name", ["gerapy_netease_rolling_news.html.gz", "gerapy_netease_international_news.html.gz"]
)
def test_gb_listing_pages_give_readable_titles(name: str) -> None:
    path = CORPUS / "listings" / name
    if not path.exists():
        pytest.skip("corpus listing not present")
    raw = gzip.decompress(path.read_bytes())
    source = Source(name="n", kind="html", url="https://news.163.com/", interval=60)
    found = parse_listing(Fetched(url="https://news.163.com/", status=200, body=raw, charset=None), source)
    titles = [c.title for c in found if c.title]
    assert titles and not any("\ufffd" in t for t in titles)
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in titles)


# -- too many links, self-referencing sitemaps -------------------------------------------------------
def test_ten_thousand_links_are_bounded_per_poll() -> None:
    links = "".join(f'<a href="/news/story-{i}">Story number {i}</a>' for i in range(10_000))
    body = f"<html><body>{links}</body></html>".encode()
    source = Source(name="big", kind="html", url="https://example.com/", interval=60)
    started = time.process_time()
    found = parse_listing(Fetched(url="https://example.com/", status=200, body=body), source)
    assert len(found) == 500  # parse_listing's default limit
    assert found[0].url == "https://example.com/news/story-0"
    assert time.process_time() - started < 5.0


def test_a_sitemap_index_pointing_at_itself_lists_no_children() -> None:
    url = "https://example.com/sitemap_index.xml"
    body = (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{url}</loc></sitemap><sitemap><loc>{url}</loc></sitemap>"
        "<sitemap><loc>https://example.com/news.xml</loc></sitemap></sitemapindex>"
    ).encode()
    articles, children = parse_sitemap(Fetched(url=url, status=200, body=body))
    assert articles == [] and children == ["https://example.com/news.xml"]


@pytest.mark.parametrize("junk", [b"\x80bogus", b"\x00bogus"])
def test_a_bogus_xml_encoding_name_is_a_parse_error(junk: bytes) -> None:
    """Found by tests/test_fuzz.py: feedparser raised UnicodeDecodeError / ValueError on these."""
    body = b'<?xml version="1.0" encoding="' + junk + b'"?>\n<rss>\n</rss>'
    with pytest.raises(ParseError, match="not a readable feed"):
        parse_feed(Fetched(url="http://example.com/feed", status=200, body=body))


# -- padded DTDs and undeclared gzip ------------------------------------------------------------------
# Up to 10^5 "lol"s: below expat's own amplification limit, so any expansion shows in the title.
LOL5 = "".join(
    [
        '<!ENTITY lol "lol">',
        *(f'\n<!ENTITY lol{i} "' + (f"&lol{i - 1};" if i > 1 else "&lol;") * 10 + '">' for i in range(1, 6)),
    ]
)
# Whatever may precede a DOCTYPE: whitespace, comments (holding a "<a" that ends feedparser's own
# prolog scan), processing instructions; far past any fixed-size window.
PADDINGS = {
    "spaces": " " * 100_000,
    "comment": "<!-- <a " + "x" * 100_000 + " -->",
    "pi": "<?pad <a " + "x" * 100_000 + "?>",
}


def _padded(padding: str, doctype: str, root: str) -> bytes:
    return f'<?xml version="1.0"?>\n{padding}\n<!DOCTYPE {doctype}>\n{root}'.encode()


def _padded_feed(padding: str, subset: str = LOL5) -> bytes:
    item = "<item><title>&lol5;</title><link>http://example.com/a</link></item>"
    return _padded(
        padding, f"rss [{subset}]", f'<rss version="2.0"><channel><title>t</title>{item}</channel></rss>'
    )


@pytest.mark.parametrize("padding", PADDINGS)
def test_billion_laughs_after_padding_is_never_expanded(padding: str) -> None:
    (entry,) = parse_feed(
        Fetched(url="http://example.com/feed", status=200, body=_padded_feed(PADDINGS[padding]))
    )
    assert "lollol" not in (entry.title or "")
    sitemap = _padded(
        PADDINGS[padding],
        f"urlset [{LOL5}]",
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        '<url><loc>http://example.com/&lol5;</loc></url><url><loc a="&lol5;">http://example.com/b</loc></url>'
        "</urlset>",
    )
    urls, _ = parse_sitemap(Fetched(url="http://example.com/s.xml", status=200, body=sitemap))
    assert all("lollol" not in c.url for c in urls)
    opml = _padded(
        PADDINGS[padding],
        f"opml [{LOL5}]",
        '<opml version="2.0"><body><outline type="rss" text="&lol5;" xmlUrl="http://example.com/f"/></body></opml>',
    )
    try:
        feeds, _ = parse_opml(opml, "subs.opml")
    except ParseError:
        feeds = []
    assert all("lollol" not in (f.title or "") for f in feeds)


def test_a_subset_cannot_hide_its_end_in_a_quoted_value() -> None:
    # "]>" inside an entity value must not end the cut: the declarations after it would survive.
    subset = '<!ENTITY q "]>">' + LOL5
    (entry,) = parse_feed(Fetched(url="http://example.com/feed", status=200, body=_padded_feed("", subset)))
    assert "lollol" not in (entry.title or "")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_billion_laughs_in_a_wide_encoding_is_never_expanded(encoding: str) -> None:
    body = (
        _padded_feed(PADDINGS["comment"])
        .decode()
        .replace('version="1.0"?', f'version="1.0" encoding="{encoding}"?')
    )
    (entry,) = parse_feed(Fetched(url="http://example.com/feed", status=200, body=body.encode(encoding)))
    assert "lollol" not in (entry.title or "")


def test_feedparser_is_given_an_expat_that_refuses_entity_declarations() -> None:
    import xml.sax

    import feedparser.api

    parser = xml.sax.make_parser(feedparser.api.PREFERRED_XML_PARSERS)
    parser.setContentHandler(xml.sax.handler.ContentHandler())
    with pytest.raises(xml.sax.SAXParseException, match="not expanded"):
        parser.parse(io.BytesIO(_feed(LOL, "&lol3;")))


async def test_undeclared_gzip_obeys_max_bytes(tmp_path: Path) -> None:
    """A .gz sitemap (no Content-Encoding) inflating to 3x max_bytes is refused by the client."""
    urlset = b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    entry = b"<url><loc>http://example.com/%d</loc></url>"
    body = urlset + b"".join(entry % i for i in range(3 * MAX_BYTES // len(entry))) + b"</urlset>"
    small = urlset + entry % 1 + b"</urlset>"

    async def handler(request: web.Request) -> web.Response:
        data = body if request.match_info["name"] == "big" else small
        return web.Response(body=gzip.compress(data), content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/{name}.xml.gz", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with HttpClient(CONFIG) as client:
            with pytest.raises(TooLarge, match="max_bytes"):
                await client.fetch(str(server.make_url("/big.xml.gz")))
            fetched = await client.fetch(str(server.make_url("/small.xml.gz")))
    finally:
        await server.close()
    assert fetched.body == small  # inflated by the client, within max_bytes
    assert [c.url for c in parse_sitemap(fetched)[0]] == ["http://example.com/1"]


async def test_once_with_a_padded_gzip_bomb_feed_alerts_without_expanding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through `newsmon once`: gzip without Content-Encoding, 100 KB of padding, then the DOCTYPE."""
    feed = _padded_feed(PADDINGS["comment"]).replace(b"<title>&lol5;", b"<title>lol feed &lol5;")

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(feed), content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/feed.xml", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/feed.xml"))
    rules = "rules:\n  - id: lol\n    any: ['lol feed']\n"
    config = cli_config(tmp_path, [("lol", "feed", url)], rules, source_extra="fetch_articles = false")
    try:
        code = await asyncio.to_thread(main, ["once", "-c", str(config), "--dry-run"])
    finally:
        await server.close()
    out = capsys.readouterr().out
    assert code == 0 and "lol feed" in out
    assert "lollol" not in out


# -- a hostile sitemap cannot take a run down (item 11) -------------------------------------------------
async def test_a_sitemap_that_trips_a_parser_fails_its_own_source_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def index(request: web.Request) -> web.Response:
        xml = "<sitemapindex><sitemap><loc>http://[::1</loc></sitemap></sitemapindex>"
        return web.Response(text=xml, content_type="application/xml")

    async def feed(request: web.Request) -> web.Response:
        xml = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>Good news item'
            f"</title><link>{request.url.origin()}/a</link></item></channel></rss>"
        )
        return web.Response(text=xml, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/sitemap.xml", index)
    app.router.add_get("/feed.xml", feed)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    sources = [
        ("hostile", "sitemap", str(server.make_url("/sitemap.xml"))),
        ("good", "feed", str(server.make_url("/feed.xml"))),
    ]
    rules = "rules:\n  - id: good\n    any: ['good news']\n"
    config = cli_config(tmp_path, sources, rules, source_extra="fetch_articles = false")
    try:
        code = await asyncio.to_thread(main, ["once", "-c", str(config)])
    finally:
        await server.close()
    out = capsys.readouterr().out
    assert code == 0
    assert "good: 1 new article(s), 1 alert(s)" in out and "Good news item" in out


# -- per-host state is freed (item 12) -------------------------------------------------------------------
async def test_per_host_state_of_idle_hosts_is_freed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Links to ever new host names (a link farm) must not grow the client's per-host state forever."""
    import monitor.crawl.http as http_mod
    from tests.test_ssrf import FakeResolver

    monkeypatch.setattr(http_mod, "HOSTS_KEPT", 50, raising=False)

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<p>ok</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    names = [f"h{i}.farm.example" for i in range(200)]
    resolver = FakeResolver({name: [["127.0.0.1"]] for name in names})
    try:
        async with HttpClient(CONFIG, resolver=resolver) as client:
            for name in names:
                await client.fetch(f"http://{name}:{server.port}/")
            kept = len(client.limiter._hosts)
    finally:
        await server.close()
    assert kept <= 50


# -- the store is private (item 13) ---------------------------------------------------------------------
def test_the_sqlite_store_and_its_folders_are_created_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = os.umask(0o022)
    try:
        config = tmp_path / "config.toml"
        config.write_text('[store]\nurl = "sqlite://state/deep/newsmon.db"\n[rules]\npaths = ["rules"]\n')
        (tmp_path / "rules").mkdir()
        (tmp_path / "rules" / "r.yaml").write_text("rules:\n  - id: r\n    any: [x]\n")
        # Exit 1: no sources or notifiers, so the daemon would refuse this config; the store opens anyway.
        assert main(["status", "-c", str(config)]) == 1
    finally:
        os.umask(old)
    assert "no [[sources]]" in capsys.readouterr().out
    db = tmp_path / "state" / "deep" / "newsmon.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    for extra in db.parent.glob("newsmon.db-*"):  # -wal, -shm while open
        assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra
