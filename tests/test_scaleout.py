"""Several ``newsmon run`` processes sharing one real redis-server: each source polled by one instance per
tick, every (rule, story) alert delivered once, and an instance SIGKILLed mid-run taken over.

100 feeds on ten loopback hosts (127.0.0.2 ... 127.0.0.11), 300 articles of which 120 match, published in
waves while the daemons run. Waits are on receiver/server state and log lines with deadlines.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from datetime import datetime
from pathlib import Path

from tests.conftest import OwnRedis
from tests.daemon import instances, until
from tests.helpers.scaleout_net import (
    DEADLINE,
    HOST_DELAY,
    INTERVAL,
    LEASE,
    MATCHING,
    WAVES,
    Net,
    article_body,
    drained,
    expected_matching,
    is_matching,
    leases_by_instance,
    serve_net,
    settled,
    write_config,
)


async def publish_all(net: Net) -> None:
    for wave in range(WAVES):
        net.publish_wave(wave)
        # Paced by the daemons themselves: the next wave once this one's matches reached the receiver
        # would serialise the test; a fixed share of an interval keeps waves overlapping polls instead.
        await asyncio.sleep(INTERVAL / 2)


def assert_polled_once_per_tick(net: Net, start: float, end: float) -> None:
    counts = net.polls_between(start, end)
    window = end - start
    names = {f"{h.ip}{p}" for h, p, _ in net.sources}
    assert set(counts) == names, f"never polled: {sorted(names - set(counts))[:5]}"
    # One instance per tick: at most window / interval polls (+1 for the window's edges, + jitter). Three
    # instances each polling on their own would make about three times that.
    ceiling = window / (INTERVAL * 0.9) + 1
    too_often = {n: c for n, c in counts.items() if c > ceiling}
    assert not too_often, f"polled more than once per tick over {window:.1f}s: {too_often}"


def assert_host_politeness(net: Net) -> None:
    """Request starts per host keep per_host_delay apart across the three instances (allowing for the
    scheduling noise of three busy processes on one machine)."""
    for host in net.hosts:
        starts = sorted(host.starts)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        close = [g for g in gaps if g < HOST_DELAY / 4]
        # Arrival times carry the noise of three busy processes and this loop; the shared slots keep
        # the bunched ones rare, not absent.
        assert len(close) <= max(3, len(gaps) * 15 // 100), (host.ip, len(close), len(gaps))


async def test_three_instances_share_sources_and_alert_exactly_once(
    tmp_path: Path, own_redis: OwnRedis
) -> None:
    async with serve_net() as net:
        config = write_config(tmp_path, net, own_redis.url)
        async with instances(config, 3) as daemons:
            held = await settled(own_redis.url, daemons)
            assert len(held) == 3
            window_start = time.monotonic()
            await publish_all(net)
            await net.receiver.wait_posted(expected_matching(), within=DEADLINE)
            await drained(own_redis.url)  # so a second delivery of anything would have arrived too
            window_end = time.monotonic()
            for daemon in daemons:
                daemon.proc.send_signal(signal.SIGTERM)
            assert [await d.exit_code() for d in daemons] == [0, 0, 0]
        ids = net.receiver.ids()
        assert len(ids) == MATCHING
        assert max(ids.values()) == 1, [i for i, c in ids.items() if c > 1]
        assert_polled_once_per_tick(net, window_start, window_end)
        assert_host_politeness(net)
        # Clean shutdown released every lease and membership.
        assert await leases_by_instance(own_redis.url) == {}


async def test_an_instance_killed_mid_run_is_taken_over(tmp_path: Path, own_redis: OwnRedis) -> None:
    """One instance SIGKILLed mid-run, the others take its sources over; nothing is lost and no
    acknowledged delivery is sent again. A delivery counts as acknowledged once an instance logged it
    delivered: the outbox writes that line only after recording the outcome (XACK)."""
    async with serve_net() as net:
        config = write_config(tmp_path, net, own_redis.url)
        async with instances(config, 3) as daemons:
            held = await settled(own_redis.url, daemons)
            victim = max(daemons, key=lambda d: len(held[str(d.proc.pid)]))
            survivors = [d for d in daemons if d is not victim]
            orphans = held[str(victim.proc.pid)]
            net.publish_wave(0)
            net.publish_wave(1)
            # Mid-run: alerts are flowing, and the victim has acknowledged some of them.
            await victim.log(lambda e: e["event"] == "delivery" and e.get("outcome") == "delivered")
            killed_at, killed_wall = time.monotonic(), time.time()
            victim.proc.send_signal(signal.SIGKILL)
            await victim.exit_code()
            # Requests the victim sent before dying may reach the receiver (in this loop) just after.
            dead_at = time.monotonic()
            for wave in range(2, WAVES):
                net.publish_wave(wave)
            await net.receiver.wait_posted(expected_matching(), within=DEADLINE)

            # Every orphaned source polled again within lease TTL + one interval (+ scheduling slack: three
            # daemons and 100 sources share 2 cores, and a 1 s slack failed about once in five full runs).
            # The alerts may all be in before an orphan without news was polled: wait for every one.
            took_over = INTERVAL + LEASE + INTERVAL + 3.0
            hosts = {h.ip: h for h in net.hosts}

            def first_poll(name: str) -> float | None:
                ip, path = name[: name.index("/")], name[name.index("/") :]
                return next((at for at, p in list(hosts[ip].polls) if p == path and at > killed_at), None)

            await until(
                net.polled, lambda: all(first_poll(n) is not None for n in orphans), DEADLINE, "takeover"
            )
            late = {
                n: at - killed_at for n in orphans if (at := first_poll(n)) and at - killed_at > took_over
            }
            assert not late, f"polled again later than {took_over}s after the kill: {late}"
            # The victim's unacknowledged sends come back after the outbox lease and go out again; once
            # the outbox is empty nothing more is sent.
            await drained(own_redis.url)
            # The survivors have re-shared the sources among themselves before they stop, so neither hands
            # a lease to the other on its way out.
            await settled(own_redis.url, survivors)
            for daemon in survivors:
                daemon.proc.send_signal(signal.SIGTERM)
            assert [await d.exit_code() for d in survivors] == [0, 0]

        ids = net.receiver.ids()
        assert len(ids) == MATCHING  # nothing lost
        # Acknowledged before the kill: everything the victim logged delivered, and what the survivors had.
        acked_before = set(victim.delivered()) | {
            e["alert_id"]
            for d in survivors
            for e in d.events("delivery")
            if e.get("outcome") == "delivered" and datetime.fromisoformat(e["ts"]).timestamp() < killed_wall
        }
        assert acked_before, "no delivery was acknowledged before the kill: the kill was not mid-run"
        assert not [i for i in acked_before if ids[i] > 1], "an acknowledged delivery was sent again"
        # At-least-once across a SIGKILL: only a send the victim had in flight (the receiver answered,
        # the victim died before XACK) may arrive twice, under the same Idempotency-Key, and the receiver
        # dedupes it.
        assert [(i, k) for i, k in net.receiver.id_keys() if k != i] == []
        first_seen: dict[str, float] = {}
        for at, alert_id in ((p.at, p["id"]) for p in net.receiver.posts):
            first_seen.setdefault(alert_id, at)
        twice = [i for i, c in ids.items() if c > 1]
        assert all(first_seen[i] <= dead_at for i in twice), twice
        assert len(twice) <= 8  # the outbox's concurrency: what one instance can have in flight
        # The survivors released theirs on SIGTERM; only the victim's may still be lapsing.
        assert set(await leases_by_instance(own_redis.url)) <= {str(victim.proc.pid)}


def test_vocabulary_makes_distinct_stories() -> None:
    """The fixture's premise: 300 articles are 300 stories (else 'exactly 120 alerts' would be wrong)."""
    from monitor.fingerprint import fingerprint, same_story

    bodies = [fingerprint(article_body(n, is_matching(n))) for n in range(40)]
    assert not any(same_story(a, b) for i, a in enumerate(bodies) for b in bodies[i + 1 :])
