"""The one HTTP client: politeness per host, conditional GET, caps, redirects checked hop by hop, SSRF guard.

Every aiohttp / OS error is translated into ``FetchError`` here, so nothing above this module knows aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from zlib_ng import zlib_ng

from monitor.cadence import fresh_until
from monitor.config import HttpConfig
from monitor.crawl.robots import RobotsTxt, parse_robots
from monitor.dates import parse_retry_after
from monitor.errors import FetchError, ParseError, Refused, TooLarge
from monitor.model import Fetched

log = logging.getLogger("newsmon.http")

# Process-wide in aiohttp. zlib-ng inflates gzipped pages faster than zlib, and inflating is a visible
# part of the per-article HTTP cost in benchmarks/throughput.py (figures: benchmarks/README.md).
aiohttp.set_zlib_backend(zlib_ng)

MAX_REDIRECTS = 5
# Retry-After beyond this is not waited out inside a poll: the host is blocked and the poll fails fast.
MAX_INLINE_WAIT = 10.0
ROBOTS_TTL = 3600.0
# Per-host state (politeness, robots.txt) is swept of idle hosts whenever it grows past this many: a
# daemon following links to ever new hosts must not keep every one it ever met.
HOSTS_KEPT = 1024
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# URLs whose check has passed, kept with their origin and host (interned: shared by every URL of a host):
# every poll of a source asks about the same URL, and parsing it twice (urllib, yarl) cost more than the
# rest of an unchanged poll's bookkeeping. The oldest go first; one forgotten is only parsed again.
URLS_KEPT = 100_000


# IPv6 forms that carry an IPv4 address in their low 32 bits and reach it through a translator
# (NAT64, RFC 6052) or an old compatibility mode (IPv4-compatible ::a.b.c.d, RFC 4291 2.5.5.1).
_EMBEDS_IPV4_LOW32 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::/96"))


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to (mapped, 6to4, NAT64, IPv4-compatible), if any."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if any(addr in net for net in _EMBEDS_IPV4_LOW32) and int(addr) > 1:  # not :: or ::1
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def is_public_address(ip: str) -> bool:
    """Whether ``ip`` is a global unicast address, judging IPv6 forms that embed IPv4 by what they embed."""
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            addr = embedded
    return addr.is_global and not addr.is_multicast


def request_host(url: str) -> str | None:
    """The host exactly as the HTTP stack will connect to it: yarl applies IDNA (with NFKC), so
    fullwidth digits and ideographic full stops become an ASCII dotted quad here, not after the check."""
    try:
        host = yarl.URL(url).host
    except (ValueError, TypeError, UnicodeError):
        return None
    return host.rstrip(".").lower() if host else None


class PrivateAddressError(OSError):
    """A name resolved only to loopback / private / link-local / multicast / unspecified addresses."""


class GuardedResolver(AbstractResolver):
    """Drops non-public addresses after resolution, so a public name cannot rebind to 127.0.0.1.

    The connector connects only to the addresses this returns, so the address checked is the address
    connected to: there is no earlier "is it public?" lookup that a second, rebinding answer could undo.
    ``inner`` is the real resolver (tests inject one that answers what they want).
    """

    def __init__(self, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return results
        public = [r for r in results if is_public_address(r["host"])]
        if not public:
            raise PrivateAddressError(f"{host} resolves only to non-public addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()


def guarded_socket_factory(addr_info: tuple[Any, ...]) -> socket.socket:
    """The connector's socket factory: the last word on the address actually connected to.

    aiohttp skips the resolver for an IP literal, so a literal that slipped past :meth:`HttpClient.check_url`
    (any spelling the URL parser and the check might disagree on) is stopped here, before the SYN.
    """
    family, type_, proto, _, sockaddr = addr_info
    if not is_public_address(str(sockaddr[0])):
        raise PrivateAddressError(f"{sockaddr[0]} is not a public address")
    return socket.socket(family, type_, proto)


def _fresh(resp: aiohttp.ClientResponse) -> float | None:
    headers = resp.headers
    if "Cache-Control" not in headers and "Expires" not in headers:
        return None
    return fresh_until(headers, time.time())


class _Retryable(Exception):
    """A failure worth one more try after ``wait`` seconds; ``error`` is what the caller sees otherwise."""

    def __init__(self, error: FetchError, wait: float) -> None:
        self.error = error
        self.wait = wait


@dataclass(slots=True)
class _Host:
    semaphore: asyncio.Semaphore
    next_start: float = 0.0  # loop time before which no request may start
    blocked_until: float = 0.0  # loop time; set by 429/503 Retry-After
    crawl_delay: float = 0.0  # the host's robots.txt Crawl-delay; the larger of it and the config's wins
    users: int = 0  # tasks inside slot(), waiting or holding

    def idle(self, now: float) -> bool:
        """Forgetting it changes nothing: no one uses it, no spacing or back-off is pending, and it holds no
        robots.txt Crawl-delay (that lasts as long as the cached robots.txt)."""
        return (
            self.users == 0
            and self.next_start <= now
            and self.blocked_until <= now
            and self.crawl_delay == 0.0
        )


@dataclass(slots=True)
class HostLimiter:
    """Per-host concurrency and minimum delay between request starts, shared by every source."""

    concurrency: int
    delay: float
    _hosts: dict[str, _Host] = field(default_factory=dict)
    # Optional hook (``Store.host_slot``) spacing request starts across every instance sharing a store:
    # (host, delay) -> seconds to wait. Errors fall back to this process's own spacing.
    remote: Callable[[str, float], Awaitable[float]] | None = None

    def _host(self, host: str) -> _Host:
        state = self._hosts.get(host)
        if state is None:
            if len(self._hosts) >= HOSTS_KEPT:
                now = asyncio.get_running_loop().time()
                for name in [name for name, s in self._hosts.items() if s.idle(now)]:
                    del self._hosts[name]
            state = self._hosts[host] = _Host(asyncio.Semaphore(self.concurrency))
        return state

    def blocked_for(self, host: str) -> float:
        state = self._hosts.get(host)
        if state is None:
            return 0.0
        return max(0.0, state.blocked_until - asyncio.get_running_loop().time())

    def spacing(self, host: str) -> float:
        """Seconds between request starts to ``host``: the config's delay or its robots.txt Crawl-delay."""
        state = self._hosts.get(host)
        return max(self.delay, state.crawl_delay if state is not None else 0.0)

    def set_crawl_delay(self, host: str, seconds: float) -> None:
        self._host(host).crawl_delay = seconds

    def back_off(self, host: str, seconds: float) -> None:
        state = self._host(host)
        state.blocked_until = max(state.blocked_until, asyncio.get_running_loop().time() + seconds)

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        state = self._host(host)
        loop = asyncio.get_running_loop()
        state.users += 1  # every task waiting for the host's semaphore or holding it
        try:
            async with state.semaphore:
                # Reserve a start time before waiting so concurrent waiters queue up `delay` apart.
                delay = max(self.delay, state.crawl_delay)
                start = max(loop.time(), state.next_start, state.blocked_until)
                state.next_start = start + delay
                wait = start - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if self.remote is not None and delay > 0:
                    try:
                        wait = await self.remote(host, delay)
                    except Exception as exc:
                        log.debug("shared host slot unavailable", extra={"url": host, "error": str(exc)})
                        wait = 0.0
                    if wait > 0:
                        await asyncio.sleep(wait)
                yield
        finally:
            state.users -= 1


@dataclass(slots=True)
class _Robots:
    rules: RobotsTxt | None  # None: everything allowed
    fetched_at: float
    # URL -> allowed, for this copy of robots.txt: a source is asked about every poll, and the parser's
    # answer costs more than the rest of an unchanged poll's bookkeeping.
    decisions: dict[str, bool] = field(default_factory=dict)


class HttpClient:
    """Owns the shared ``aiohttp.ClientSession``. Use as an async context manager."""

    def __init__(self, config: HttpConfig, *, resolver: AbstractResolver | None = None) -> None:
        self.config = config
        self._resolver = resolver  # the DNS behind the SSRF guard; None: the system's
        self.limiter = HostLimiter(config.per_host_concurrency, config.per_host_delay)
        self._session: aiohttp.ClientSession | None = None
        self._robots: dict[str, _Robots] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._checked: dict[str, tuple[str, str]] = {}  # URL -> (origin, host), see URLS_KEPT

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("HttpClient is not open")
        return self._session

    async def open(self) -> None:
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.config.allow_private_networks, self._resolver),
            limit=200,
            ttl_dns_cache=300,
            socket_factory=None if self.config.allow_private_networks else guarded_socket_factory,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.config.user_agent},
            timeout=aiohttp.ClientTimeout(
                total=self.config.timeout, sock_connect=self.config.connect_timeout
            ),
            # Redirects are followed by hand so each hop is checked (scheme, address, count).
            trust_env=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> HttpClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def check_url(self, url: str) -> str:
        """The URL's host if it may be fetched at all; raises Refused otherwise."""
        checked = self._checked.get(url)
        if checked is not None:
            return checked[1]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise Refused(url, f"scheme {parts.scheme or '(none)'!r} is not http or https")
        host = request_host(url)
        if not host:
            raise Refused(url, "no host (or one that does not encode as IDNA)")
        if not self.config.allow_private_networks:
            try:
                literal = ipaddress.ip_address(host)
            except ValueError:
                literal = None
            if literal is not None and not is_public_address(host):
                raise Refused(url, f"{host} is not a public address (allow_private_networks is off)")
            if host == "localhost" or host.endswith(".localhost"):
                raise Refused(url, "localhost is not a public address (allow_private_networks is off)")
        if len(self._checked) >= URLS_KEPT:
            del self._checked[next(iter(self._checked))]
        self._checked[url] = (sys.intern(f"{parts.scheme}://{parts.netloc}"), sys.intern(host))
        return host

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        robots: bool = True,
    ) -> Fetched:
        """GET ``url`` politely. 304 comes back as ``Fetched(status=304)``; every failure as FetchError."""
        if robots and self.config.respect_robots and not await self.allowed_by_robots(url):
            raise Refused(url, "disallowed by robots.txt")
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempts = 2
        for attempt in range(attempts):
            try:
                return await self._fetch_following(url, headers)
            except _Retryable as exc:
                if attempt + 1 >= attempts or exc.wait > MAX_INLINE_WAIT:
                    raise exc.error from None
                await asyncio.sleep(exc.wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch_following(self, url: str, headers: dict[str, str]) -> Fetched:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            host = self.check_url(current)
            blocked = self.limiter.blocked_for(host)
            if blocked > MAX_INLINE_WAIT:
                raise FetchError(current, f"host {host} is backing off for {blocked:.0f}s (Retry-After)")
            async with self.limiter.slot(host):
                result = await self._get_once(current, host, headers)
            if isinstance(result, Fetched):
                return result
            current = result
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects")

    async def _get_once(self, url: str, host: str, headers: dict[str, str]) -> Fetched | str:
        """One request: a Fetched, or the next URL of a redirect."""
        try:
            async with self.session.get(url, headers=headers, allow_redirects=False) as resp:
                if resp.status in (301, 302, 303, 307, 308):
                    location = resp.headers.get("Location")
                    if not location:
                        raise FetchError(url, f"HTTP {resp.status} without Location", status=resp.status)
                    return urljoin(url, location)
                if resp.status in RETRYABLE_STATUS:
                    wait = parse_retry_after(
                        resp.headers.get("Retry-After"), time.time(), resp.headers.get("Date")
                    )
                    if wait is not None and resp.status in (429, 503):
                        self.limiter.back_off(host, wait)
                    error = FetchError(url, f"HTTP {resp.status}", status=resp.status)
                    raise _Retryable(error, wait if wait is not None else 1.0)
                if resp.status == 304:
                    return Fetched(
                        url=url, status=304, etag=resp.headers.get("ETag"), fresh_until=_fresh(resp)
                    )
                if resp.status >= 400:
                    raise FetchError(url, f"HTTP {resp.status}", status=resp.status)
                body = await self._read_capped(url, resp)
                return Fetched(
                    url=str(resp.url),
                    status=resp.status,
                    body=body,
                    content_type=resp.content_type.lower() if resp.content_type else None,
                    charset=resp.charset,
                    etag=resp.headers.get("ETag"),
                    last_modified=resp.headers.get("Last-Modified"),
                    fresh_until=_fresh(resp),
                )
        except (FetchError, _Retryable):
            raise
        except TimeoutError as exc:
            raise _Retryable(FetchError(url, f"timed out after {self.config.timeout:g}s"), 1.0) from exc
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, PrivateAddressError):
                # Not retried: the answer is the policy, not a transient failure.
                raise Refused(url, f"{exc.os_error} (allow_private_networks is off)") from exc
            raise _Retryable(FetchError(url, f"cannot connect: {exc.os_error or exc}"), 1.0) from exc
        except aiohttp.ClientPayloadError as exc:
            raise FetchError(url, f"broken response body: {exc}") from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise FetchError(url, f"{type(exc).__name__}: {exc}") from exc

    async def _read_capped(self, url: str, resp: aiohttp.ClientResponse) -> bytes:
        limit = self.config.max_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise TooLarge(url, f"Content-Length {resp.content_length} exceeds max_bytes {limit}")
        chunks: list[bytes] = []
        size = 0
        # Counted after decompression, so a gzip bomb hits the cap as early as a huge body does.
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > limit:
                raise TooLarge(url, f"body exceeds max_bytes {limit}")
            chunks.append(chunk)
        body = b"".join(chunks)
        if body[:2] == b"\x1f\x8b":  # gzip's magic number
            # gzip the server did not declare (a .gz sitemap, or a server that lies) is inflated here,
            # within the same max_bytes, so no parser ever inflates a body by its own rules. xmlsafe
            # (lxml, feedparser) loads with the first such body: a run of 304s never needs it.
            from monitor.crawl.xmlsafe import InflatesTooFar, inflate

            try:
                body = await asyncio.to_thread(inflate, body, limit, url)
            except InflatesTooFar as exc:
                raise TooLarge(url, exc.reason) from exc
            except ParseError as exc:
                raise FetchError(url, exc.reason) from exc
        return body

    async def allowed_by_robots(self, url: str) -> bool:
        checked = self._checked.get(url)
        if checked is not None:
            origin = checked[0]
        else:
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}"
        entry = self._robots.get(origin)
        # Fast path without the lock: almost every call finds a fresh entry, and taking an
        # asyncio.Lock per fetch costs more than the lookup itself.
        if entry is None or time.monotonic() - entry.fetched_at > ROBOTS_TTL:
            if entry is None and len(self._robots) >= HOSTS_KEPT:
                self._forget_stale_robots()
            lock = self._robots_locks.setdefault(origin, asyncio.Lock())
            async with lock:
                entry = self._robots.get(origin)  # another task may have loaded it while we waited
                if entry is None or time.monotonic() - entry.fetched_at > ROBOTS_TTL:
                    entry = _Robots(await self._load_robots(origin), time.monotonic())
                    self._robots[origin] = entry
        if entry.rules is None:
            return True
        allowed = entry.decisions.get(url)
        if allowed is None:
            allowed = entry.decisions[url] = entry.rules.allowed(url, self.config.user_agent)
        return allowed

    def _forget_stale_robots(self) -> None:
        now = time.monotonic()
        for origin in [o for o, e in self._robots.items() if now - e.fetched_at > ROBOTS_TTL]:
            del self._robots[origin]
        for origin in [
            o for o, lock in self._robots_locks.items() if o not in self._robots and not lock.locked()
        ]:
            del self._robots_locks[origin]

    async def _load_robots(self, origin: str) -> RobotsTxt | None:
        # Missing or unreadable robots.txt allows everything (RFC 9309 4xx rule); a 5xx is treated the
        # same rather than as "disallow all", so a flaky robots.txt never silently stops monitoring.
        try:
            fetched = await self.fetch(origin + "/robots.txt", robots=False)
        except FetchError as exc:
            log.debug("robots.txt unavailable", extra={"url": origin, "error": str(exc)})
            return None
        rules = parse_robots(fetched.body, origin)
        host = urlsplit(origin).hostname
        if host:
            self.limiter.set_crawl_delay(host, rules.crawl_delay(self.config.user_agent))
        return rules
