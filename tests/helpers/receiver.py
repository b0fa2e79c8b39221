"""The webhook receiver of the tests: a real aiohttp app (``POST /hook``) that records every request and
answers as a test tells it to; the test serves ``app()`` on loopback wherever it needs it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.daemon import until


class Post(dict[str, Any]):
    """One request: its JSON payload (this dict; empty for a body that is no JSON object), its headers,
    body and path (with the query), and its arrival (``time.monotonic()``)."""

    def __init__(self, headers: dict[str, str], body: bytes, path: str, at: float) -> None:
        payload: object = None
        with contextlib.suppress(ValueError):
            payload = json.loads(body)
        super().__init__(payload if isinstance(payload, dict) else {})
        self.headers, self.body, self.path, self.at = headers, body, path, at

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")


@dataclass
class Receiver:
    """Takes requests on any path. Drops the connection of the first ``reset_first`` unanswered and
    answers the next ``fail_first`` 500; then answers from ``replies`` (status, headers[, text]) in turn,
    then 200. While ``hold``
    is on, requests wait for ``release`` before they are answered (``hold_from``: only the N-th, 1-based,
    and later ones; ``hold_to``: up to the N-th)."""

    fail_first: int = 0
    reset_first: int = 0
    replies: list[tuple[int, dict[str, str]] | tuple[int, dict[str, str], str]] = field(default_factory=list)
    hold: bool = False
    hold_from: int = 1
    hold_to: int | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)
    posts: list[Post] = field(default_factory=list)  # every request, as it arrived
    acked: list[Post] = field(default_factory=list)  # every request answered 2xx
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set at every request
    held: asyncio.Event = field(default_factory=asyncio.Event)  # set when a request waits for release
    acknowledged: asyncio.Event = field(default_factory=asyncio.Event)  # set at every 2xx answer
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set at every request and answer
    in_flight: int = 0
    max_in_flight: int = 0
    base: str = ""  # where the test serves ``app()`` (scheme, host and port), for ``url``

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    def raw(self) -> list[tuple[dict[str, str], bytes, str]]:
        """(headers, body, path) of every request."""
        return [(p.headers, p.body, p.path) for p in self.posts]

    def keys(self) -> list[str]:
        """The Idempotency-Key of every request."""
        return [p.key for p in self.posts]

    def acked_keys(self) -> list[str]:
        return [p.key for p in self.acked]

    def acked_ids(self) -> list[str]:
        return [p["id"] for p in self.acked]

    def id_keys(self) -> list[tuple[str, str]]:
        """(alert id, Idempotency-Key) of every request."""
        return [(p["id"], p.key) for p in self.posts]

    def ids(self) -> Counter[str]:
        """How many requests came for each alert id."""
        return Counter(p["id"] for p in self.posts)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._hook)
        return app

    async def _hook(self, request: web.Request) -> web.Response:
        post = Post(dict(request.headers), await request.read(), request.path_qs, time.monotonic())
        self.posts.append(post)
        for event in (self.arrived, self.changed):
            event.set()
        n = len(self.posts)
        if n <= self.reset_first and request.transport is not None:
            request.transport.abort()  # the client never sees a status line
            await asyncio.Event().wait()
        text: str | None = "ok"
        if n <= self.reset_first + self.fail_first:
            status, headers, text = 500, {}, "receiver down"
        elif self.replies:
            status, headers, *given = self.replies.pop(0)
            text = given[0] if given else None
        else:
            status, headers = 200, {}
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hold and n >= self.hold_from and (self.hold_to is None or n <= self.hold_to):
                self.held.set()
                await self.release.wait()
        finally:
            self.in_flight -= 1
        if status < 300:
            self.acked.append(post)
            self.acknowledged.set()
        self.changed.set()
        return web.Response(status=status, headers=headers, text=text)

    async def wait_acked(self, count: int, within: float) -> None:
        """Until ``count`` distinct alerts were acknowledged."""
        acked = self.acked_ids
        await until(
            self.changed,
            lambda: len(set(acked())) >= count,
            within,
            lambda: f"{count} alerts acknowledged ({len(set(acked()))} were)",
        )

    async def wait_posted(self, count: int, within: float) -> None:
        """Until requests for ``count`` distinct alerts arrived."""
        await until(
            self.changed,
            lambda: len(self.ids()) >= count,
            within,
            lambda: f"{count} alerts delivered ({len(self.ids())} were)",
        )
