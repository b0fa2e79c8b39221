"""Delivery when receivers misbehave, through the real daemon wiring on both stores.

Each test starts a ``Service`` from a config file, claims one alert into its store and drives the outbox
by hand (``Outbox.deliver_due``) with a fake clock: a retry happens when the test moves the clock to the
moment the store says it is due, never after a real pause. Receivers are real loopback servers (aiohttp,
aiosmtpd with STARTTLS and AUTH); "down" is a port nobody listens on, until a server starts there.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from tlsutil import Pki, make_pki

from monitor import cli
from monitor.config import load_config
from monitor.model import Alert, Hit
from monitor.service import Service
from monitor.store.base import Store
from tests.helpers.clock import FakeClock
from tests.helpers.receiver import Receiver
from tests.helpers.smtp import Mailbox, accept_login, controller, starttls, stop

RULES = "rules:\n  - id: nk-troops\n    title: North Korean troops\n    any: ['North Korean troops']\n"
GIVE_UP_AFTER = 3600.0  # the config's alerts.give_up_after below
MAX_ATTEMPTS = 40  # far more than backoff needs to pass GIVE_UP_AFTER; a bound, not an expectation
WAIT = 5.0  # seconds: a bound for what should end at once, never a pause


def unique(keys: list[str]) -> list[str]:
    """What a receiver deduping by Idempotency-Key keeps."""
    return list(dict.fromkeys(keys))


@pytest.fixture(params=["sqlite", "redis"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("redis_server")
    client = aioredis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return url


def write_config(tmp_path: Path, store_url: str, notifier: str) -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "test.yaml").write_text(RULES)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[store]
url = "{store_url}"
[rules]
paths = ["rules/"]
[alerts]
give_up_after = "{GIVE_UP_AFTER:g}s"
[[notifiers]]
{notifier}
[service]
metrics = ""
shutdown_timeout = "2s"
"""
    )
    return path


def webhook(port: int, timeout: str = "5s") -> str:
    return f'name = "hook"\nkind = "webhook"\nurl = "http://127.0.0.1:{port}/hook"\ntimeout = "{timeout}"'


def make_alert(clock: FakeClock) -> Alert:
    now = datetime.fromtimestamp(clock.time(), UTC)
    return Alert(
        id="nk-troops-0123456789abcdef",
        rule_id="nk-troops",
        rule_title="North Korean troops",
        story_key="0123456789abcdef",
        url="https://news.example/world/nk-troops",
        title="North Korean troops seen in Kursk",
        source="ap",
        published=now,
        detected_at=now,
        hits=(Hit("North Korean troops", None, "title", 0, 19, "North Korean troops seen in Kursk"),),
    )


@asynccontextmanager
async def daemon(config_path: Path, clock: FakeClock) -> AsyncIterator[Service]:
    """A started service with one alert claimed for its only notifier."""
    service = Service(load_config(config_path), clock=clock)
    await service.start()
    try:
        assert service.store is not None and service.outbox is not None
        [name] = [n.name for n in service.config.notifiers]
        assert await service.store.claim(make_alert(clock), [name]) is not None
        yield service
    finally:
        await service.stop()


def store_of(service: Service) -> Store:
    assert service.store is not None
    return service.store


async def deliver(service: Service) -> int:
    assert service.outbox is not None
    return await service.outbox.deliver_due()


async def until_next_attempt(service: Service, clock: FakeClock) -> None:
    """Move the clock to when the (single) retrying delivery is due; it must not be due already."""
    [delivery] = await store_of(service).deliveries("pending")
    assert delivery.next_attempt_at > clock.now
    assert await deliver(service) == 0  # not due, not sent
    clock.now = delivery.next_attempt_at


async def test_500_three_times_then_200_is_one_acknowledged_delivery(store_url: str, tmp_path: Path) -> None:
    receiver, clock = Receiver(fail_first=3), FakeClock(time.time())
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    try:
        config = write_config(tmp_path, store_url, webhook(server.port or 0))
        async with daemon(config, clock) as service:
            for attempt in range(1, 4):
                assert await deliver(service) == 1
                [delivery] = await store_of(service).deliveries("pending")
                assert delivery.attempts == attempt and "HTTP 500" in (delivery.last_error or "")
                await until_next_attempt(service, clock)
            assert await deliver(service) == 1
            assert receiver.keys() == ["nk-troops-0123456789abcdef"] * 4  # one key for every attempt
            assert unique(receiver.acked_keys()) == ["nk-troops-0123456789abcdef"]
            [delivered] = await store_of(service).deliveries()
            assert (delivered.state, delivered.attempts) == ("delivered", 4)
            clock.now += 7 * 86400  # nothing comes back, however long we wait
            assert await deliver(service) == 0
            assert len(receiver.keys()) == 4
    finally:
        await server.close()


async def test_receiver_down_past_give_up_is_dead_then_alerts_retry_delivers(
    store_url: str, tmp_path: Path, free_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock(time.time())
    config = write_config(tmp_path, store_url, webhook(free_port))  # nothing listens there yet
    receiver = Receiver()
    server = TestServer(receiver.app(), host="127.0.0.1", port=free_port)
    async with daemon(config, clock) as service:
        claimed_at = clock.now
        for _ in range(MAX_ATTEMPTS):
            assert await deliver(service) == 1
            pending = await store_of(service).deliveries("pending")
            if not pending:
                break
            assert "ClientConnectorError" in (pending[0].last_error or "")
            await until_next_attempt(service, clock)
        assert [d.state for d in await store_of(service).deliveries()] == ["dead"]
        assert clock.now - claimed_at > GIVE_UP_AFTER  # dead only once give_up_after had passed
        assert await deliver(service) == 0  # a dead letter is not retried on its own

        # The CLI runs its own event loop, so it gets a thread; it opens the store the daemon uses.
        assert (
            await asyncio.to_thread(cli.main, ["alerts", "list", "--failed", "--json", "-c", str(config)])
            == 0
        )
        [row] = json.loads(capsys.readouterr().out)
        assert (row["id"], row["state"]) == ("nk-troops-0123456789abcdef", "dead")
        await server.start_server()
        try:
            assert await asyncio.to_thread(cli.main, ["alerts", "retry", "--failed", "-c", str(config)]) == 0
            out = capsys.readouterr().out
            # No daemon heartbeat on this store (the service here runs no scheduler): the CLI sent it now.
            assert "1 delivery queued for retry" in out and "sent now, 1 delivered, 0 not" in out
            assert await deliver(service) == 0
            assert unique(receiver.acked_keys()) == ["nk-troops-0123456789abcdef"]
            assert [d.state for d in await store_of(service).deliveries()] == ["delivered"]
            assert await asyncio.to_thread(cli.main, ["alerts", "retry", "--failed", "-c", str(config)]) == 1
        finally:
            await server.close()


async def test_slow_receiver_is_retried_not_lost_and_delivered_once(store_url: str, tmp_path: Path) -> None:
    receiver, clock = Receiver(hold=True, hold_to=1, replies=[(503, {})]), FakeClock(time.time())
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    try:
        config = write_config(tmp_path, store_url, webhook(server.port or 0, timeout="0.3s"))
        async with daemon(config, clock) as service:
            async with asyncio.timeout(WAIT):  # the webhook timeout ends it, not the receiver
                assert await deliver(service) == 1
            [delivery] = await store_of(service).deliveries("pending")
            assert "no answer within 0.3s" in (delivery.last_error or "")
            assert unique(receiver.acked_keys()) == []
            await until_next_attempt(service, clock)
            assert await deliver(service) == 1
            assert receiver.keys() == ["nk-troops-0123456789abcdef"] * 2
            assert unique(receiver.acked_keys()) == ["nk-troops-0123456789abcdef"]
            assert await store_of(service).outbox_pending() == 0
    finally:
        receiver.release.set()
        await server.close()


# -- SMTP --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@dataclass
class LateSmtp:
    """An SMTP server (STARTTLS required, then AUTH required) for a port, started only when asked."""

    mailbox: Mailbox
    controller: Controller
    started: bool = False

    def start(self) -> None:
        self.controller.start()
        self.started = True


@pytest.fixture
def smtp_later(free_port: int, pki: Pki) -> Iterator[LateSmtp]:
    mailbox = Mailbox()
    server = controller(mailbox, free_port, **starttls(pki), authenticator=accept_login, auth_required=True)
    late = LateSmtp(mailbox, server)
    yield late
    if late.started:
        stop(server)


async def test_smtp_down_is_queued_and_delivered_when_it_returns(
    store_url: str, tmp_path: Path, free_port: int, pki: Pki, smtp_later: LateSmtp
) -> None:
    mailbox = smtp_later.mailbox
    password = tmp_path / "smtp.password"
    password.write_text("hunter2\n")
    notifier = f"""name = "desk"
kind = "email"
host = "127.0.0.1"
port = {free_port}
tls = "starttls"
tls_ca_file = "{pki.ca}"
username = "newsmon"
password_file = "{password}"
from = "newsmon@example.org"
to = ["desk@example.org"]
timeout = "5s"
"""
    clock = FakeClock(time.time())
    config = write_config(tmp_path, store_url, notifier)
    async with daemon(config, clock) as service:
        for _ in range(2):  # down for a while: each attempt fails, the delivery stays queued
            assert await deliver(service) == 1
            [delivery] = await store_of(service).deliveries("pending")
            assert "smtp://127.0.0.1" in (delivery.last_error or "")
            await until_next_attempt(service, clock)
        assert mailbox.messages == []

        smtp_later.start()
        assert await deliver(service) == 1
        [message] = mailbox.messages
        assert message["Message-ID"] == "<nk-troops-0123456789abcdef.newsmon@example.org>"
        assert message["Subject"] == "[newsmon] North Korean troops: North Korean troops seen in Kursk"
        [delivered] = await store_of(service).deliveries()
        assert (delivered.state, delivered.attempts) == ("delivered", 3)
