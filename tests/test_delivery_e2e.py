"""Story dedup and durable delivery through the whole daemon, on both stores: five local sites, a
webhook receiver, a fake clock; polls and deliveries driven explicitly."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from monitor import pipeline
from monitor.config import Config, parse_config
from monitor.fingerprint import legacy_fingerprint
from monitor.service import Service
from monitor.store import keys
from tests.helpers.clock import FakeClock
from tests.helpers.e2e_world import RULES, Site
from tests.helpers.receiver import Receiver
from tests.helpers.wire_copies import FIVE_SITES, OTHER_ATACMS

HEADLINES = [
    "Ukraine fires ATACMS into Russia",
    "Russia says Ukraine fired US ATACMS missiles",
    "ATACMS strike on Bryansk depot, Moscow says",
    "Kyiv uses ATACMS inside Russia for first time",
    "Ukraine hits Russia with ATACMS - defence ministry",
]


def html_body(text: str) -> str:
    return "".join(f"<p>{p}</p>" for p in text.split("\n\n"))


class World:
    def __init__(self, sites: list[Site], receiver: Receiver, config: Config) -> None:
        self.sites, self.receiver, self.config, self.clock = sites, receiver, config, FakeClock(time.time())

    async def poll(self, service: Service) -> int:
        total = 0
        for source in self.config.sources:  # in order: the first site is where the story breaks
            result = await service.poll(source)
            assert not result.errors, result.errors
            total += len(result.alerts)
        return total


@pytest.fixture(params=["sqlite", "redis"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    if request.param == "redis":
        store_url = request.getfixturevalue("redis_server")
        client = aioredis.from_url(store_url)
        await client.flushdb()
        await client.aclose()
    else:
        store_url = f"sqlite://{tmp_path / 'state.db'}"
    sites, receiver = [Site() for _ in range(5)], Receiver()
    servers = [TestServer(s.app(), host="127.0.0.1") for s in sites]
    hook = TestServer(receiver.app(), host="127.0.0.1")
    for server in [*servers, hook]:
        await server.start_server()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "test.yaml").write_text(RULES)
    sources = "".join(
        f'[[sources]]\nname = "site{i}"\nkind = "feed"\nurl = "{server.make_url("/feed.xml")}"\n'
        for i, server in enumerate(servers)
    )
    text = f"""
[store]
url = "{store_url}"
[http]
allow_private_networks = true
respect_robots = false
per_host_delay = "0s"
[rules]
paths = ["rules/"]
[alerts]
give_up_after = "1h"
{sources}
[[notifiers]]
name = "hook"
kind = "webhook"
url = "{hook.make_url("/hook")}"
[service]
shutdown_timeout = "2s"
"""
    yield World(sites, receiver, parse_config(text, tmp_path / "config.toml"))
    for server in [*servers, hook]:
        await server.close()


async def test_one_story_on_five_sites_is_one_alert_and_edits_do_not_realert(world: World) -> None:
    service = Service(world.config, clock=world.clock)
    await service.start()
    try:
        assert await world.poll(service) == 0  # first crawl of empty feeds
        for site, headline, body in zip(world.sites, HEADLINES, FIVE_SITES, strict=True):
            site.publish("atacms", (headline, html_body(body)))
        world.sites[0].publish("airbase", ("ATACMS hit air base near Kursk", html_body(OTHER_ATACMS)))
        assert await world.poll(service) == 2  # the wire story once, the other report once
        assert service.outbox is not None
        await service.outbox.deliver_due()
        by_title = {p["article"]["title"]: p for p in world.receiver.acked}
        wire = by_title[HEADLINES[0]]
        assert wire["rule"]["id"] == "atacms-in-russia"
        others = sorted(url.split("/news/")[0] for url in wire["also_seen_at"])
        first_site = wire["article"]["url"].split("/news/")[0]
        assert len(others) == 4 and first_site not in others
        assert by_title["ATACMS hit air base near Kursk"]["also_seen_at"] == []

        # An edit (new headline and body on the same URL) that now also names North Korean troops.
        edited = FIVE_SITES[0] + "\n\nThousands of North Korean troops are in the Kursk region."
        world.sites[0].publish("atacms", (HEADLINES[0] + " (updated)", html_body(edited)))
        assert await world.poll(service) == 1
        await service.outbox.deliver_due()
        assert sorted(p["rule"]["id"] for p in world.receiver.acked) == [
            "atacms-in-russia",
            "atacms-in-russia",
            "nk-troops",
        ]
        assert await world.poll(service) == 0  # the edit is processed once
    finally:
        await service.stop()


async def test_copies_after_an_upgrade_of_the_fingerprint_join_the_story_from_before(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The version before: its stories are keyed and banded by the version 1 fingerprint.
    with monkeypatch.context() as before:
        before.setattr(pipeline, "fingerprint", legacy_fingerprint)
        old = Service(world.config, clock=world.clock)
        await old.start()
        try:
            await world.poll(old)
            world.sites[0].publish("atacms", (HEADLINES[0], html_body(FIVE_SITES[0])))
            assert await world.poll(old) == 1
        finally:
            await old.stop()
    if world.config.store.url.startswith("redis"):  # the version before left no upgrade marker
        client = aioredis.from_url(world.config.store.url)
        await client.delete(keys.STORY_LEGACY)
        await client.aclose()
    world.clock.now += 3600
    upgraded = Service(world.config, clock=world.clock)
    await upgraded.start()
    try:
        for site, headline, body in zip(world.sites[1:], HEADLINES[1:], FIVE_SITES[1:], strict=True):
            site.publish("atacms", (headline, html_body(body)))
        assert await world.poll(upgraded) == 0  # the four copies join the story that alerted
    finally:
        await upgraded.stop()


async def test_restart_mid_backoff_resumes_and_delivers_once(world: World) -> None:
    world.receiver.fail_first = 1
    first = Service(world.config, clock=world.clock)
    await first.start()
    try:
        await world.poll(first)
        world.sites[0].publish("atacms", (HEADLINES[0], html_body(FIVE_SITES[0])))
        assert await world.poll(first) == 1
        assert first.outbox is not None
        await first.outbox.deliver_due()
        assert len(world.receiver.posts) == 1 and world.receiver.acked == []
    finally:
        await first.stop()  # mid-backoff: the retry is not due yet, so the drain leaves it

    world.clock.now += 3600 - 1  # past any backoff, inside give_up_after
    second = Service(world.config, clock=world.clock)
    await second.start()
    try:
        assert second.outbox is not None and second.store is not None
        await second.outbox.deliver_due()
        await second.outbox.deliver_due()
        assert len(world.receiver.acked) == 1
        assert world.receiver.posts[0]["id"] == world.receiver.acked[0]["id"]
        assert await second.store.outbox_pending() == 0
    finally:
        await second.stop()
