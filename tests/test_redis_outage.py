"""Redis stopped for ~10 s under three running daemons, then started again on its AOF: the daemons live
on, report the outage once and turn /healthz unhealthy, then resume on their own -- no alert lost, none
sent twice."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp

from tests.conftest import OwnRedis
from tests.daemon import Daemon, instances
from tests.helpers.scaleout_net import (
    DEADLINE,
    INTERVAL,
    MATCHING,
    WAVES,
    drained,
    expected_matching,
    serve_net,
    settled,
    write_config,
)

OUTAGE = 10.0  # seconds Redis is down
# Longer than the outage: a send whose outcome could not be recorded while Redis was down is recorded
# when it returns, before any other instance could consider the delivery abandoned.
LEASE = 15.0


async def healthz(session: aiohttp.ClientSession, daemon: Daemon) -> int:
    listening = await daemon.log(lambda e: e["event"] == "metrics_listening")
    url = listening["url"].replace("/metrics", "/healthz")
    async with session.get(url) as response:
        return response.status


async def wait_health(session: aiohttp.ClientSession, daemon: Daemon, status: int, within: float) -> None:
    async with asyncio.timeout(within):
        while await healthz(session, daemon) != status:  # noqa: ASYNC110 - polling the endpoint under the deadline
            await asyncio.sleep(0.1)


async def test_daemons_ride_out_a_redis_restart(tmp_path: Path, own_redis: OwnRedis) -> None:
    async with serve_net() as net, aiohttp.ClientSession() as session:
        config = write_config(tmp_path, net, own_redis.url, lease=LEASE, metrics="127.0.0.1:0")
        async with instances(config, 3) as daemons:
            await settled(own_redis.url, daemons)
            for daemon in daemons:
                assert await healthz(session, daemon) == 200
            net.publish_wave(0)
            net.publish_wave(1)
            await net.receiver.wait_posted(1, within=DEADLINE)  # alerts are flowing

            down_at = time.monotonic()
            own_redis.stop()
            for wave in range(2, WAVES - 1):
                net.publish_wave(wave)  # news keeps coming while the store is away
            for daemon in daemons:
                await daemon.log(lambda e: e["event"] == "store_unavailable", within=OUTAGE)
                await wait_health(session, daemon, 503, within=OUTAGE)
            assert all(d.proc.returncode is None for d in daemons)  # alive, not crashed
            # The outage itself: its length is the point of the test, not a synchronisation.
            await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
            up_at = time.monotonic()
            own_redis.start()

            for daemon in daemons:
                await daemon.log(lambda e: e["event"] == "store_recovered", within=INTERVAL + 5)
                await wait_health(session, daemon, 200, within=5)
            assert time.monotonic() - up_at < 10  # resumed within seconds, without a restart
            net.publish_wave(WAVES - 1)
            await net.receiver.wait_posted(expected_matching(), within=DEADLINE)
            await drained(own_redis.url)  # so a second delivery, if there were one, has arrived
            for daemon in daemons:
                # Once per outage, not per operation (hundreds failed). A restarting server may answer one
                # command and refuse the next while it comes up: at most one such flap, and it ends recovered.
                down, up = daemon.events("store_unavailable"), daemon.events("store_recovered")
                assert 1 <= len(down) <= 2 and len(up) == len(down), daemon.raw[-20:]
                assert up[-1]["ts"] > down[-1]["ts"]
                daemon.proc.send_signal(signal.SIGTERM)
            assert [await d.exit_code() for d in daemons] == [0, 0, 0]

        ids = net.receiver.ids()
        assert len(ids) == MATCHING  # nothing lost
        assert max(ids.values()) == 1, [i for i, c in ids.items() if c > 1]  # nothing sent twice
