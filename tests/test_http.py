"""HttpClient against real aiohttp servers on loopback."""

from __future__ import annotations

import asyncio
import gzip
import itertools
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config import HttpConfig
from monitor.crawl.http import HostLimiter, HttpClient, is_public_address
from monitor.errors import FetchError, Refused, TooLarge

STATE = web.AppKey("state", dict)
LOCAL = HttpConfig(allow_private_networks=True, per_host_delay=0, respect_robots=False, timeout=5)


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    state: dict[str, int] = {"flaky": 0, "concurrent": 0, "max_concurrent": 0}

    async def page(request: web.Request) -> web.Response:
        etag = '"v1"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            text="<p>hello</p>",
            content_type="text/html",
            charset="utf-8",
            headers={"ETag": etag, "Last-Modified": "Tue, 01 Oct 2024 10:00:00 GMT"},
        )

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b"x" * 10_000)
        return resp

    async def bomb(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(b"\0" * 5_000_000), headers={"Content-Encoding": "gzip"})

    async def loop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        raise web.HTTPFound(f"/loop/{n + 1}")

    async def to_ftp(request: web.Request) -> web.Response:
        raise web.HTTPFound("ftp://127.0.0.1/file")

    async def redirect_ok(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/page")

    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "120"})

    async def flaky(request: web.Request) -> web.Response:
        state["flaky"] += 1
        if state["flaky"] == 1:
            return web.Response(status=503, headers={"Retry-After": "0"})
        return web.Response(text="ok")

    async def slow(request: web.Request) -> web.Response:
        state["concurrent"] += 1
        state["max_concurrent"] = max(state["max_concurrent"], state["concurrent"])
        await asyncio.sleep(0.05)  # the server being slow is the scenario, not synchronisation
        state["concurrent"] -= 1
        return web.Response(text="ok")

    async def robots(request: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nDisallow: /private\n")

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/big", big)
    app.router.add_get("/bomb", bomb)
    app.router.add_get("/loop/{n}", loop)
    app.router.add_get("/ftp", to_ftp)
    app.router.add_get("/moved", redirect_ok)
    app.router.add_get("/busy", busy)
    app.router.add_get("/flaky", flaky)
    app.router.add_get("/slow", slow)
    app.router.add_get("/robots.txt", robots)
    app.router.add_get("/private", page)
    app[STATE] = state
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


async def test_conditional_get_round_trip(server: TestServer) -> None:
    async with HttpClient(LOCAL) as http:
        first = await http.fetch(url(server, "/page"))
        assert first.status == 200 and first.body == b"<p>hello</p>"
        assert first.etag == '"v1"' and first.last_modified and first.charset == "utf-8"
        assert first.content_type == "text/html"
        second = await http.fetch(url(server, "/page"), etag=first.etag)
        assert second.not_modified and second.body == b""


async def test_size_cap_is_streamed(server: TestServer) -> None:
    config = HttpConfig(
        allow_private_networks=True, per_host_delay=0, respect_robots=False, max_bytes=100_000
    )
    async with HttpClient(config) as http:
        with pytest.raises(TooLarge):
            await http.fetch(url(server, "/big"))
        with pytest.raises(TooLarge):  # decompressed size counts, not transfer size
            await http.fetch(url(server, "/bomb"))


async def test_redirects_are_followed_and_bounded(server: TestServer) -> None:
    async with HttpClient(LOCAL) as http:
        moved = await http.fetch(url(server, "/moved"))
        assert moved.url.endswith("/page") and moved.body == b"<p>hello</p>"
        with pytest.raises(FetchError, match="more than 5 redirects"):
            await http.fetch(url(server, "/loop/0"))
        with pytest.raises(Refused, match="ftp"):
            await http.fetch(url(server, "/ftp"))


async def test_retry_after_backs_off_the_host(server: TestServer) -> None:
    async with HttpClient(LOCAL) as http:
        with pytest.raises(FetchError, match="429"):
            await http.fetch(url(server, "/busy"))
        assert http.limiter.blocked_for("127.0.0.1") > 100
        with pytest.raises(FetchError, match="backing off"):
            await http.fetch(url(server, "/page"))


async def test_transient_503_is_retried_once(server: TestServer) -> None:
    async with HttpClient(LOCAL) as http:
        fetched = await http.fetch(url(server, "/flaky"))
        assert fetched.body == b"ok"
    assert server.app[STATE]["flaky"] == 2


async def test_per_host_concurrency_is_shared(server: TestServer) -> None:
    config = HttpConfig(
        allow_private_networks=True, per_host_delay=0, respect_robots=False, per_host_concurrency=2
    )
    async with HttpClient(config) as http:
        await asyncio.gather(*(http.fetch(url(server, "/slow")) for _ in range(8)))
    assert server.app[STATE]["max_concurrent"] == 2


async def test_per_host_delay_spaces_request_starts() -> None:
    limiter = HostLimiter(concurrency=4, delay=0.05)
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def one() -> None:
        async with limiter.slot("example.org"):
            starts.append(loop.time())

    await asyncio.gather(*(one() for _ in range(4)))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.045 for gap in gaps), gaps


async def test_robots_txt_is_respected(server: TestServer) -> None:
    config = HttpConfig(allow_private_networks=True, per_host_delay=0, respect_robots=True)
    async with HttpClient(config) as http:
        assert (await http.fetch(url(server, "/page"))).status == 200
        with pytest.raises(Refused, match="robots"):
            await http.fetch(url(server, "/private"))


async def test_private_addresses_refused_unless_allowed(server: TestServer) -> None:
    async with HttpClient(HttpConfig(respect_robots=False)) as http:
        with pytest.raises(Refused, match="not a public address"):
            await http.fetch(url(server, "/page"))
        with pytest.raises(Refused):
            await http.fetch("http://localhost:1/")
        with pytest.raises(Refused, match="scheme"):
            await http.fetch("file:///etc/passwd")


async def test_connection_refused_is_a_fetch_error() -> None:
    async with HttpClient(LOCAL) as http:
        with pytest.raises(FetchError, match="cannot connect"):
            await http.fetch("http://127.0.0.1:9/")


def test_public_address() -> None:
    assert is_public_address("93.184.216.34")
    for ip in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1", "224.0.0.1", "0.0.0.0"):
        assert not is_public_address(ip), ip
