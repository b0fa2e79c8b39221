"""SSRF guard: names that resolve to non-public addresses are refused after DNS resolution.

The resolver is the test's own (``FakeResolver``), so "evil.example" can resolve to 127.0.0.1 without any
real DNS. Every server is on loopback. URLs reach the client from listing pages, feeds and redirects; each
path is tried, through the real pipeline where it matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import monitor.crawl.http as http_mod
from monitor.cli import main
from monitor.config import AlertsConfig, HttpConfig
from monitor.crawl.http import GuardedResolver, HttpClient, PrivateAddressError, is_public_address
from monitor.errors import Refused
from monitor.matching.engine import Engine
from monitor.matching.rules import rules_from_text
from monitor.model import Source
from monitor.pipeline import Pipeline
from monitor.store.sqlite import SqliteStore
from tests.cli_config import cli_config
from tests.helpers.clock import FakeClock
from tests.helpers.resolver import FakeResolver

GUARDED = HttpConfig(allow_private_networks=False, per_host_delay=0, respect_robots=False, timeout=5)
OPEN = HttpConfig(allow_private_networks=True, per_host_delay=0, respect_robots=False, timeout=5)
RULES = "rules:\n  - id: secret\n    any: ['internal secret']\n"
ARTICLE = "<html><head><title>Internal secret page</title></head><body><p>internal secret</p></body></html>"
BLOCKED_ADDRESSES = [
    "127.0.0.1",  # loopback
    "10.1.2.3",  # private
    "192.168.0.10",
    "172.16.5.4",
    "169.254.169.254",  # link-local: cloud metadata
    "224.0.0.1",  # multicast
    "0.0.0.0",  # unspecified
    "::1",
    "fe80::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "fd00::1",  # unique local
]


def _internal_app(hits: list[tuple[str, str]]) -> web.Application:
    """The "internal service" an attacker wants the crawler to reach; records (listening address, path)."""

    async def any_path(request: web.Request) -> web.Response:
        sockname = request.transport.get_extra_info("sockname") if request.transport else ("?",)
        hits.append((sockname[0], request.path))
        if request.path == "/to-internal":
            raise web.HTTPFound(f"http://evil.example:{request.url.port}/secret")
        return web.Response(text=ARTICLE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", any_path)
    return app


@dataclass
class Internal:
    port: int
    hits: list[tuple[str, str]]


@pytest.fixture
async def internal() -> AsyncIterator[Internal]:
    """The same service on 127.0.0.1 (private) and 127.0.0.2 (made "public" by ``_loopback_2_is_public``),
    one port, so a URL's host name alone decides which one a connection reaches."""
    hits: list[tuple[str, str]] = []
    private = TestServer(_internal_app(hits), host="127.0.0.1")
    await private.start_server()
    public = TestServer(_internal_app(hits), host="127.0.0.2", port=private.port)
    await public.start_server()
    try:
        yield Internal(private.port, hits)
    finally:
        await public.close()
        await private.close()


@pytest.mark.parametrize("address", BLOCKED_ADDRESSES)
def test_every_non_public_class_is_refused(address: str) -> None:
    assert not is_public_address(address)


def test_public_addresses_pass() -> None:
    assert is_public_address("93.184.216.34") and is_public_address("2606:2800:220:1::1")


async def test_resolver_drops_private_answers_and_refuses_all_private() -> None:
    inner = FakeResolver({"mixed.example": [["93.184.216.34", "127.0.0.1"]], "evil.example": [["10.0.0.1"]]})
    guard = GuardedResolver(False, inner)
    assert [r["host"] for r in await guard.resolve("mixed.example", 80)] == ["93.184.216.34"]
    with pytest.raises(PrivateAddressError):
        await guard.resolve("evil.example", 80)
    assert [r["host"] for r in await GuardedResolver(True, inner).resolve("evil.example")] == ["10.0.0.1"]


async def test_name_resolving_to_loopback_is_refused_and_never_connected(internal: Internal) -> None:
    resolver = FakeResolver({"evil.example": [["127.0.0.1"]]})
    async with HttpClient(GUARDED, resolver=resolver) as client:
        with pytest.raises(Refused, match="non-public"):
            await client.fetch(f"http://evil.example:{internal.port}/secret")
    assert resolver.calls == ["evil.example"]  # refused at once: a policy answer is not retried
    assert internal.hits == []


async def test_with_allow_private_the_same_name_is_fetched(internal: Internal) -> None:
    resolver = FakeResolver({"evil.example": [["127.0.0.1"]]})
    async with HttpClient(OPEN, resolver=resolver) as client:
        fetched = await client.fetch(f"http://evil.example:{internal.port}/secret")
    assert b"internal secret" in fetched.body
    assert internal.hits == [("127.0.0.1", "/secret")]


async def test_redirect_into_a_private_name_is_refused(internal: Internal) -> None:
    # The first hop is "public" by policy (the test treats 127.0.0.2 as public), the redirect is not.
    resolver = FakeResolver({"news.example": [["127.0.0.2"]], "evil.example": [["127.0.0.1"]]})
    async with HttpClient(GUARDED, resolver=resolver) as client:
        with _loopback_2_is_public(), pytest.raises(Refused, match="non-public"):
            await client.fetch(f"http://news.example:{internal.port}/to-internal")
    assert internal.hits == [("127.0.0.2", "/to-internal")]


class _loopback_2_is_public:
    """Make 127.0.0.2 count as a public address, so a loopback-only test can model "public"."""

    def __enter__(self) -> None:
        self._saved = http_mod.is_public_address
        http_mod.is_public_address = lambda ip: ip == "127.0.0.2" or self._saved(ip)

    def __exit__(self, *exc: object) -> None:
        http_mod.is_public_address = self._saved


async def test_dns_rebinding_connects_only_to_the_checked_address(internal: Internal) -> None:
    """The name answers "public" and "private" in turn, and mixed answers too: every connection goes to
    an address that passed the check, because the check filters what the connector connects to."""
    resolver = FakeResolver(
        {
            "rebind.example": [
                ["127.0.0.2"],
                ["127.0.0.1"],
                ["127.0.0.1", "127.0.0.2"],
                ["127.0.0.1"],
                ["127.0.0.2"],
            ]
        }
    )
    config = HttpConfig(allow_private_networks=False, per_host_delay=0, respect_robots=False, timeout=5)
    outcomes: list[str] = []
    with _loopback_2_is_public():
        for i in range(5):
            # A fresh client per fetch: no DNS cache or pooled connection hides a second resolution.
            async with HttpClient(config, resolver=resolver) as client:
                try:
                    await client.fetch(f"http://rebind.example:{internal.port}/page{i}")
                    outcomes.append("fetched")
                except Refused:
                    outcomes.append("refused")
    assert outcomes == ["fetched", "refused", "fetched", "refused", "fetched"]
    assert [addr for addr, _ in internal.hits] == ["127.0.0.2"] * 3


def test_literal_private_urls_are_refused_before_any_lookup() -> None:
    client = HttpClient(GUARDED)
    for url in (
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8080/",
        "http://0.0.0.0/",
        "file:///etc/passwd",
        "ftp://x.example/",
    ):
        with pytest.raises(Refused):
            client.check_url(url)


# -- URLs discovered on pages and in feeds, through the pipeline ---------------------------------------
async def _poll(source: Source, resolver: FakeResolver, config: HttpConfig, tmp_path: Path) -> list[str]:
    tmp_path.mkdir(exist_ok=True)  # noqa: ASYNC240 - test setup, before any I/O under test
    store = SqliteStore(str(tmp_path / f"{source.name}.db"), retention=86400.0, clock=FakeClock())

    async def matcher() -> Engine:
        return Engine(rules_from_text(RULES).rules)

    await store.open()
    try:
        async with HttpClient(config, resolver=resolver) as client:
            pipeline = Pipeline(
                store=store,
                http=client,
                engine=matcher,
                alerts=lambda: AlertsConfig(first_run="alert", max_age=0),
                notifiers=lambda: ["hook"],
                clock=FakeClock(datetime.now(UTC).timestamp()),
            )
            result = await pipeline.poll(source)
        return [a.url for a in result.alerts] + [f"error: {e}" for e in result.errors]
    finally:
        await store.close()


@pytest.fixture
async def lure() -> AsyncIterator[TestServer]:
    """A "public" site (127.0.0.2 by policy) whose listing and feed link to evil.example."""

    async def listing(request: web.Request) -> web.Response:
        port = request.url.port
        html = f'<html><body><a href="http://news.example:{port}/story/evil-link">x</a></body></html>'
        return web.Response(text=html, content_type="text/html")

    async def feed(request: web.Request) -> web.Response:
        port = request.url.port
        xml = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>x</title>'
            f"<link>http://evil.example:{port}/secret-from-feed</link></item></channel></rss>"
        )
        return web.Response(text=xml, content_type="application/rss+xml")

    async def story(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://evil.example:{request.url.port}/secret-via-redirect")

    app = web.Application()
    app.router.add_get("/", listing)
    app.router.add_get("/feed.xml", feed)
    app.router.add_get("/story/{slug}", story)
    server = TestServer(app, host="127.0.0.2")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


async def test_links_from_feeds_and_pages_to_private_names_are_refused(
    lure: TestServer, tmp_path: Path
) -> None:
    internal_hits: list[str] = []

    async def secret(request: web.Request) -> web.Response:
        internal_hits.append(request.path)
        return web.Response(text=ARTICLE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", secret)
    internal = TestServer(app, host="127.0.0.1", port=lure.port)
    await internal.start_server()
    try:
        resolver = FakeResolver({"news.example": [["127.0.0.2"]], "evil.example": [["127.0.0.1"]]})
        base = f"http://news.example:{lure.port}"
        feed = Source(name="feed", kind="feed", url=f"{base}/feed.xml", interval=60)
        page = Source(name="page", kind="html", url=f"{base}/", interval=60)
        with _loopback_2_is_public():
            from_feed = await _poll(feed, resolver, GUARDED, tmp_path)
            from_page = await _poll(page, resolver, GUARDED, tmp_path)
        assert internal_hits == []
        assert len(from_feed) == 1 and "non-public" in from_feed[0], from_feed
        assert len(from_page) == 1 and "non-public" in from_page[0], from_page
        # The control: the same polls with allow_private_networks reach the internal page and alert.
        with _loopback_2_is_public():
            opened = await _poll(feed, resolver, OPEN, tmp_path / "open")
        assert internal_hits == ["/secret-from-feed"]
        assert opened == [f"http://evil.example:{lure.port}/secret-from-feed"]
    finally:
        await internal.close()


# -- spellings of a private address that the HTTP stack normalises (IDNA/NFKC) or that embed IPv4 -----
UNICODE_LOOPBACKS = [
    "１２７．０．０．１",  # fullwidth digits and full stops
    "127。0。0。1",  # ideographic full stop
    "①②⑦.⓪.⓪.①",  # circled digits
    "127｡0｡0｡1",  # halfwidth ideographic full stop
]
EMBEDDED_IPV4 = [
    "64:ff9b::7f00:1",  # NAT64 (RFC 6052) of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.1",
]


@pytest.mark.parametrize("address", EMBEDDED_IPV4)
def test_ipv6_forms_are_judged_by_the_ipv4_they_embed(address: str) -> None:
    assert not is_public_address(address)


def test_ipv6_forms_embedding_a_public_ipv4_pass() -> None:
    assert is_public_address("64:ff9b::5db8:d822") and is_public_address("2002:5db8:d822::1")


@pytest.mark.parametrize("host", UNICODE_LOOPBACKS + [f"[{a}]" for a in EMBEDDED_IPV4])
def test_unicode_and_embedded_spellings_are_refused_before_any_connection(host: str) -> None:
    with pytest.raises(Refused, match="not a public address"):
        HttpClient(GUARDED).check_url(f"http://{host}:8080/admin")


async def test_the_connected_address_is_checked_even_past_check_url(internal: Internal) -> None:
    """aiohttp skips the resolver for an IP literal: the socket factory is the last word."""
    async with HttpClient(GUARDED) as client:
        with pytest.raises(Refused, match="not a public address"):
            await client._get_once(f"http://127.0.0.1:{internal.port}/admin", "127.0.0.1", {})
    assert internal.hits == []


@pytest.mark.parametrize("host", UNICODE_LOOPBACKS)
async def test_once_never_fetches_a_unicode_spelled_loopback_source(
    host: str, internal: Internal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://{host}:{internal.port}/admin"
    config = cli_config(tmp_path, [("src", "html", url)], RULES, allow_private=False)
    # main() runs its own event loop; the internal server lives on this one.
    code = await asyncio.to_thread(main, ["once", "-c", str(config)])
    out = capsys.readouterr()
    assert internal.hits == []
    assert "internal secret" not in out.out.lower()
    assert code != 0 or "not a public address" in out.err + out.out
