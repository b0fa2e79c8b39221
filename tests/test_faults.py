"""Store and receiver faults, in-process with real servers and an injected clock.

* the SQLite database locked by another connection (an exclusive transaction held by the test):
  errors are logged, nothing is lost once the lock is released (slow: it waits out busy_timeout);
* the webhook receiver down for a long stretch (20 hours of injected clock, not real waiting), then back;
* the receiver resetting the connection mid-response, then healthy.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config import load_config
from monitor.service import Service
from tests._reliability import record

RULES = "rules:\n  - id: zorblax\n    title: Zorblax sighted\n    any: ['zorblax']\n"


def body(slug: str) -> str:
    """A distinct story per slug (random vocabulary), so story dedup never merges two test articles."""
    rng = random.Random(slug)
    words = [
        "".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(120)
    ]
    return f"<p>The zorblax {' '.join(words)}.</p>"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


@dataclass
class Site:
    slugs: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        async def feed(request: web.Request) -> web.Response:
            base = f"http://{request.host}"
            date = format_datetime(datetime.now(UTC))
            items = "".join(
                f"<item><title>Zorblax {s}</title><link>{base}/news/{s}</link><guid>{s}</guid>"
                f"<pubDate>{date}</pubDate></item>"
                for s in self.slugs
            )
            return web.Response(
                text=f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>',
                content_type="application/rss+xml",
            )

        async def article(request: web.Request) -> web.Response:
            slug = request.match_info["slug"]
            html = (
                f"<html><head><title>Zorblax {slug}</title></head>"
                f"<body><article>{body(slug)}</article></body></html>"
            )
            return web.Response(text=html, content_type="text/html")

        app = web.Application()
        app.router.add_get("/feed.xml", feed)
        app.router.add_get("/news/{slug}", article)
        return app


@dataclass
class Receiver:
    reset_first: int = 0  # drop the connection without an answer for the first N requests
    posts: list[tuple[str, str]] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            payload = await request.json()
            self.posts.append((payload["id"], request.headers.get("Idempotency-Key", "")))
            if len(self.posts) <= self.reset_first and request.transport is not None:
                request.transport.abort()  # RST mid-response: the client never sees a status line
                await asyncio.Event().wait()
            self.acked.append(payload["id"])
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/hook", hook)
        return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def site() -> AsyncIterator[tuple[Site, str]]:
    s = Site()
    server = TestServer(s.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield s, str(server.make_url("/feed.xml"))
    finally:
        await server.close()


def write_config(tmp_path: Path, feed: str, hook: str) -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "r.yaml").write_text(RULES)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[store]
url = "sqlite://{tmp_path / "state.db"}"
[http]
allow_private_networks = true
respect_robots = false
per_host_delay = "0s"
[rules]
paths = ["rules/"]
[alerts]
first_run = "alert"
give_up_after = "48h"
[[sources]]
name = "feed"
url = "{feed}"
[[notifiers]]
name = "hook"
kind = "webhook"
url = "{hook}"
timeout = 2
[service]
metrics = ""
"""
    )
    return path


async def _drain(service: Service, clock: Clock, *, hours: int) -> None:
    """Advance the injected clock an hour at a time, running every delivery that comes due."""
    assert service.outbox is not None
    for _ in range(hours):
        clock.now += 3600
        await service.outbox.deliver_due()


async def test_webhook_down_for_twenty_hours_then_back_delivers_everything(
    tmp_path: Path, site: tuple[Site, str]
) -> None:
    s, feed = site
    s.slugs = [f"s{i}" for i in range(5)]
    port = _free_port()  # nothing listens here yet: connection refused
    clock = Clock()
    service = Service(load_config(write_config(tmp_path, feed, f"http://127.0.0.1:{port}/hook")), clock=clock)
    await service.start()
    receiver = Receiver()
    try:
        await service.poll(service.config.sources[0])
        await _drain(service, clock, hours=20)
        assert service.store is not None and await service.store.outbox_pending() == 5
        server = TestServer(receiver.app(), host="127.0.0.1", port=port)
        await server.start_server()
        try:
            await _drain(service, clock, hours=3)  # the backoff caps well below an hour
        finally:
            await server.close()
        pending = await service.store.outbox_pending()
    finally:
        await service.stop()
    lost = 5 - len(set(receiver.acked))
    record(
        "webhook receiver down 20 h (injected clock), then back",
        5,
        lost=lost,
        duplicated=len(receiver.acked) - len(set(receiver.acked)),
    )
    assert sorted(set(receiver.acked)) == sorted({i for i, _ in receiver.posts}) and lost == 0
    assert pending == 0


async def test_connection_reset_mid_response_is_retried_with_the_same_key(
    tmp_path: Path, site: tuple[Site, str]
) -> None:
    s, feed = site
    s.slugs = ["a", "b"]
    receiver = Receiver(reset_first=3)
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    clock = Clock()
    service = Service(load_config(write_config(tmp_path, feed, str(server.make_url("/hook")))), clock=clock)
    await service.start()
    try:
        await service.poll(service.config.sources[0])
        await _drain(service, clock, hours=4)
    finally:
        await service.stop()
        await server.close()
    assert len(set(receiver.acked)) == 2 and len(receiver.acked) == 2
    assert all(i == k for i, k in receiver.posts)  # every retry carries the alert id as its key
    record(
        "webhook connection reset mid-response",
        3,
        lost=0,
        duplicated=0,
        note="3 resets, each retried with the same Idempotency-Key",
    )


@pytest.mark.slow
async def test_sqlite_locked_by_another_connection_loses_nothing(
    tmp_path: Path, site: tuple[Site, str], caplog: pytest.LogCaptureFixture
) -> None:
    s, feed = site
    receiver = Receiver()
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    clock = Clock()
    config = load_config(write_config(tmp_path, feed, str(server.make_url("/hook"))))
    service = Service(config, clock=clock)
    await service.start()
    errors: list[str] = []
    try:
        await service.poll(config.sources[0])  # first poll: nothing yet, the source is now known
        s.slugs = ["x", "y"]
        holder = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with caplog.at_level(logging.WARNING):
                try:
                    await service.poll(config.sources[0])
                except Exception as exc:  # what a poll under a lock raises is the finding
                    errors.append(f"{type(exc).__name__}: {exc}")
            errors += [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        await service.poll(config.sources[0])
        await _drain(service, clock, hours=1)
    finally:
        await service.stop()
        await server.close()
    assert errors, "a locked database must be reported"
    assert (
        sorted(set(receiver.acked)) == sorted({i for i, _ in receiver.posts})
        and len(set(receiver.acked)) == 2
    )
    record("SQLite locked by another connection", 1, lost=0, note=f"reported as: {errors[0][:80]}")
