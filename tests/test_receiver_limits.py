"""Digests against receivers that enforce their documented size limits, through the real outbox and store.

The "Discord" and "Slack" here are aiohttp apps on loopback that refuse (HTTP 400, as the services do) any
message over the limits their documentation states. Realistic digests (long titles, three snippets an
alert, several copies) must arrive whole, split as needed; and a digest refused as a whole for its shape
must never turn its alerts into dead letters.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.model import Alert, Hit
from monitor.notify.outbox import Outbox
from monitor.notify.webhook import WebhookNotifier, WebhookOptions
from monitor.store.sqlite import SqliteStore
from tests.helpers.clock import FakeClock

WINDOW = 900.0


def discord_violations(payload: dict[str, Any]) -> list[str]:
    """Discord's documented message limits (embeds: 10 a message, 6000 characters across them)."""
    embeds = payload.get("embeds", [])
    problems = []
    if len(payload.get("content", "")) > 2000:
        problems.append("content over 2000")
    if len(embeds) > 10:
        problems.append(f"{len(embeds)} embeds")
    total = 0
    for e in embeds:
        fields = e.get("fields", [])
        sizes = [
            len(e.get("title", "")),
            len(e.get("description", "")),
            len(e.get("footer", {}).get("text", "")),
        ]
        sizes += [len(f["name"]) + len(f["value"]) for f in fields]
        total += sum(sizes)
        if len(e.get("title", "")) > 256 or len(e.get("description", "")) > 4096 or len(fields) > 25:
            problems.append("embed part over its limit")
        if any(len(f["name"]) > 256 or len(f["value"]) > 1024 for f in fields):
            problems.append("field over its limit")
    if total > 6000:
        problems.append(f"{total} embed characters")
    return problems


def slack_violations(payload: dict[str, Any]) -> list[str]:
    """Slack's documented Block Kit limits: 50 blocks, 3000 characters a section text."""
    blocks = payload.get("blocks", [])
    problems = [f"{len(blocks)} blocks"] if len(blocks) > 50 else []
    for b in blocks:
        text = b.get("text", {}).get("text", "") if isinstance(b.get("text"), dict) else ""
        if len(text) > 3000:
            problems.append("section text over 3000")
    return problems


@dataclass
class Service:
    server: TestServer
    messages: list[dict[str, Any]] = field(default_factory=list)  # accepted
    refused: list[list[str]] = field(default_factory=list)
    refuse_digests: bool = False  # as if a limit newsmon does not know about ruled out every digest

    @property
    def url(self) -> str:
        return str(self.server.make_url("/hook"))


@pytest.fixture(params=["discord", "slack"])
async def service(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Service]]:
    fmt: str = request.param
    app = web.Application()
    svc = Service(TestServer(app, host="127.0.0.1"))

    async def hook(req: web.Request) -> web.Response:
        payload = json.loads(await req.read())
        problems = discord_violations(payload) if fmt == "discord" else slack_violations(payload)
        if svc.refuse_digests and "newsmon digest" in json.dumps(payload):
            problems.append("digest")
        if problems:
            svc.refused.append(problems)
            return web.json_response({"message": "Invalid Form Body", "problems": problems}, status=400)
        svc.messages.append(payload)
        return web.Response(status=204)

    app.router.add_post("/hook", hook)
    await svc.server.start_server()
    try:
        yield fmt, svc
    finally:
        await svc.server.close()


def long_alert(n: int) -> Alert:
    when = datetime(2024, 11, 19, 8, 0, tzinfo=UTC)
    words = " ".join(f"word{i}" for i in range(80))
    return Alert(
        id=f"alert-{n}",
        rule_id="nk",
        rule_title="North Korean troops deployed near the Ukrainian border, according to officials " * 3,
        story_key=f"story-{n}",
        url=f"https://news.example/world/2024/11/19/a-long-path-for-story-number-{n}?ref=front",
        title=f"Story {n}: " + "a very long headline that keeps going " * 8,
        source="ap",
        published=when,
        detected_at=when,
        hits=tuple(Hit("troops", None, f, 0, 6, f"troops {words}") for f in ("title", "summary", "body")),
        also_seen_at=tuple(f"https://mirror{i}.example/world/story-{n}" for i in range(6)),
    )


async def digest_through_the_outbox(svc: Service, fmt: str, tmp_path: Path, count: int) -> list[str]:
    """``count`` alerts claimed, parked for a digest, the window closed, one outbox pass: their states."""
    clock = FakeClock(WINDOW * 2_000_000 + 10)
    store = SqliteStore(str(tmp_path / "s.db"), retention=86400.0, clock=clock)
    await store.open()
    hook = WebhookNotifier("chat", WebhookOptions(url=svc.url, format=fmt, digest=WINDOW), clock=clock)  # type: ignore[arg-type]
    outbox = Outbox(store, lambda: {"chat": hook}, clock, rng=random.Random(3))
    try:
        for n in range(count):
            await store.claim(long_alert(n), ["chat"])
        assert await outbox.deliver_due() == count  # parked for the digest
        clock.advance(WINDOW)
        await outbox.deliver_due()
        return [d.state for d in await store.deliveries()]
    finally:
        await hook.close()
        await store.close()


async def test_realistic_digests_arrive_whole_within_the_receivers_limits(
    service: tuple[str, Service], tmp_path: Path
) -> None:
    fmt, svc = service
    states = set(await digest_through_the_outbox(svc, fmt, tmp_path, 25))
    assert svc.refused == []
    assert states == {"delivered"}
    carried = sum(len(m["embeds"]) if fmt == "discord" else len(m["blocks"]) - 1 for m in svc.messages)
    assert carried == 25
    # Discord's 6000 characters split the digest; Slack's 40 sections of 3000 hold it in one message.
    assert 1 < len(svc.messages) < 25 if fmt == "discord" else len(svc.messages) == 1


async def test_a_digest_refused_for_its_shape_goes_out_alert_by_alert(
    service: tuple[str, Service], tmp_path: Path
) -> None:
    fmt, svc = service
    svc.refuse_digests = True
    states = await digest_through_the_outbox(svc, fmt, tmp_path, 3)
    assert len(svc.refused) == 1  # the digest, once
    assert states == ["delivered"] * 3  # never a dead letter for a size we chose
    assert len(svc.messages) == 3
