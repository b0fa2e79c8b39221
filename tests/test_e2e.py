"""The whole daemon on each store: a real local news site, webhook receiver and SMTP server.

Polls and deliveries are driven explicitly (``Service.poll`` / ``Outbox.deliver_due``) with a fake clock,
so the assertions are exact; one test runs the scheduled daemon (``Service.run``) for real.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from monitor.errors import ConfigError
from monitor.service import Service
from tests.helpers.e2e_world import ATACMS, HARVEST, NK, World, deliver, poll_all, world

__all__ = ["world"]  # fixtures, imported for pytest


async def test_one_alert_per_rule_per_notifier_across_passes_and_restarts(world: World) -> None:
    world.site.publish("harvest", HARVEST)
    service = Service(world.config, clock=world.clock)
    await service.start()
    try:
        assert await poll_all(service) == 0  # first crawl: existing articles are marked seen, not alerted
        world.site.publish("atacms-kursk", ATACMS)
        world.site.publish("nk-soldiers", NK)
        assert await poll_all(service) == 2  # one per (rule, story), though every source lists both articles
        await deliver(service)
        rules = sorted(p["rule"]["id"] for p in world.receiver.acked)
        assert all(p.key == p["id"] for p in world.receiver.acked)  # Idempotency-Key: the alert id
        assert rules == ["atacms-in-russia", "nk-troops"]
        by_rule = {p["rule"]["id"]: p for p in world.receiver.acked}
        assert by_rule["atacms-in-russia"]["article"]["url"].endswith("/news/atacms-kursk")
        assert by_rule["atacms-in-russia"]["article"]["title"].startswith("Ukraine fires ATACMS into Kursk")
        assert {h["field"] for h in by_rule["atacms-in-russia"]["hits"]} <= {"title", "summary", "body"}
        assert len(world.mailbox.messages) == 2
        subjects = sorted(m["Subject"] for m in world.mailbox.messages)
        assert subjects[0].startswith("[newsmon] ATACMS used inside Russia: Ukraine fires ATACMS")

        assert await poll_all(service) == 0  # second pass: nothing new
        await deliver(service)
        assert len(world.receiver.posts) == 2 and len(world.mailbox.messages) == 2
    finally:
        await service.stop()

    restarted = Service(world.config, clock=world.clock)
    await restarted.start()
    try:
        assert await poll_all(restarted) == 0
        world.site.publish("harvest-2", ("Harvest festival part two", HARVEST[1].replace("Twenty", "Thirty")))
        assert await poll_all(restarted) == 0  # a new article that matches nothing
        await deliver(restarted)
        assert len(world.receiver.posts) == 2 and len(world.mailbox.messages) == 2
    finally:
        await restarted.stop()


async def test_failing_receiver_gets_the_alert_once_acknowledged(world: World) -> None:
    world.receiver.fail_first = 2
    service = Service(world.config, clock=world.clock)
    await service.start()
    try:
        await poll_all(service)
        world.site.publish("atacms-kursk", ATACMS)
        assert await poll_all(service) == 1
        for _ in range(3):
            await deliver(service)
            world.clock.now += 3600  # past any backoff
        assert len(world.receiver.posts) == 3
        assert len(world.receiver.acked) == 1
        ids = {p["id"] for p in world.receiver.posts}
        assert len(ids) == 1  # every retry carries the same alert id / Idempotency-Key
        await deliver(service)
        assert len(world.receiver.posts) == 3
        assert len(world.mailbox.messages) == 1
        assert service.store is not None and await service.store.outbox_pending() == 0
    finally:
        await service.stop()


async def test_broken_inputs_are_reported_and_the_rest_keeps_working(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.site.feed_broken = True
    bad_rules = world.config.rule_paths[0] / "broken.yaml"
    bad_rules.write_text("rules:\n  - id: typo\n    any: ['@nowhere']\n")
    # A bad rule file is named and located, and the daemon refuses to start without it: running on the
    # other files would mark seen the articles that the broken rule was written for.
    with pytest.raises(ConfigError, match=r"broken\.yaml:3:11: unknown entity '@nowhere'"):
        await Service(world.config, clock=world.clock).start()
    bad_rules.unlink()
    service = Service(world.config, clock=world.clock)
    await service.start()
    try:
        assert service.rules is not None and {r.id for r in service.rules.rules} == {
            "atacms-in-russia",
            "nk-troops",
        }
        for source in world.config.sources:
            await service.poll(source)
        world.site.publish("nk-soldiers", NK)
        world.site.publish("junk", ATACMS)
        world.site.binary_pages.add("junk")
        results = {s.name: await service.poll(s) for s in world.config.sources}
        assert results["feed"].errors and "feed.xml" in results["feed"].errors[0]
        assert any("/news/junk" in e for e in results["front"].errors)
        assert sum(len(r.alerts) for r in results.values()) == 1  # the good article on the good sources
        assert service.store is not None
        state = await service.store.source_state("feed")
        assert state.last_error and "feed.xml" in state.last_error
    finally:
        await service.stop()


async def test_scheduled_daemon_alerts_and_drains(world: World) -> None:
    world.site.publish("harvest", HARVEST)
    feed = next(s for s in world.config.sources if s.name == "feed")
    # A source that hangs must not hold up the others.
    stuck = dataclasses.replace(feed, name="stuck", url=feed.url.replace("feed.xml", "slow.xml"))
    config = dataclasses.replace(world.config, sources=(*world.config.sources, stuck))
    service = Service(config)
    task = asyncio.create_task(service.run())
    try:
        # Wait (with a deadline) for the first scheduled poll of every other source to be recorded.
        async with asyncio.timeout(15):
            while True:
                if service.store is not None:
                    states = await service.store.source_states()
                    if len([s for s in states if s.last_success]) == 3:
                        break
                await asyncio.sleep(0.05)
        world.site.publish("atacms-kursk", ATACMS)
        async with asyncio.timeout(15):
            await world.receiver.acknowledged.wait()
        assert [p["rule"]["id"] for p in world.receiver.acked] == ["atacms-in-russia"]
        assert service.store is not None
        assert (await service.store.source_state("stuck")).last_attempt is None  # still on its first poll
    finally:
        world.site.slow_release.set()
        service.request_stop()
        async with asyncio.timeout(15):
            await task
