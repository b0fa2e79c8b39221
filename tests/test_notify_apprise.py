"""The Apprise notifier against a real loopback receiver (Apprise's ``json://`` posts JSON over HTTP)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from monitor.config import parse_config
from monitor.errors import ConfigError, DeliveryError
from monitor.notify import REGISTRY
from monitor.notify.apprise import INSTALL_HINT, AppriseNotifier, AppriseOptions, render
from monitor.notify.base import sample_alert
from tests.helpers.receiver import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    runner = web.AppRunner(rec.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield rec, f"json://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        rec.release.set()
        await runner.cleanup()


def notifier(*urls: str, timeout: float = 10.0) -> AppriseNotifier:
    return AppriseNotifier("chat", AppriseOptions(urls=list(urls), timeout=timeout))


async def test_delivers_with_the_alert_title(receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    alert = sample_alert()
    answer = await notifier(f"{base}/hook").send(alert)
    assert answer == "apprise: 1 service notified"
    [body] = rec.posts
    assert body["title"] == f"[newsmon] {alert.rule_title}: {alert.title}"
    assert alert.url in body["message"] and "your newsmon notifier" in body["message"]


async def test_digest_is_one_message(receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    first = sample_alert()
    second = dataclasses.replace(first, id="other", title="Second story", url="https://example.org/2")
    await notifier(f"{base}/hook").send_digest([first, second])
    [body] = rec.posts
    assert body["title"] == "[newsmon] 2 alerts"
    assert (
        f"{first.rule_title}: {first.title}" in body["message"] and "https://example.org/2" in body["message"]
    )


async def test_receiver_failure_is_retryable(receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    rec.replies.append((500, {}, "receiver broke"))
    with pytest.raises(DeliveryError) as caught:
        await notifier(f"{base}/hook").send(sample_alert())
    assert not caught.value.permanent and caught.value.reason.startswith("apprise:")
    assert "500" in caught.value.reason, caught.value.reason
    assert len(rec.posts) == 1


async def test_one_failing_url_of_two_fails_the_delivery(receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    with pytest.raises(DeliveryError):
        # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        await notifier(f"{base}/hook", "json://127.0.0.1:9/x").send(sample_alert())
    assert len(rec.posts) == 1


async def test_unknown_service_is_permanent() -> None:
    with pytest.raises(DeliveryError) as caught:
        await notifier("nosuchservice://token-abcdef").send(sample_alert())
    assert caught.value.permanent and "#1 (nosuchservice://)" in caught.value.reason
    assert "token-abcdef" not in caught.value.reason


async def test_no_answer_within_timeout(receiver: tuple[Receiver, str]) -> None:
    rec, base = receiver
    rec.hold = True
    with pytest.raises(DeliveryError) as caught:
        await notifier(f"{base}/hook", timeout=0.3).send(sample_alert())
    assert not caught.value.permanent


def test_render_is_one_line_per_value() -> None:
    alert = sample_alert()
    hostile = dataclasses.replace(alert, title="a\nFAKE: b\x1b[2J")
    title, body = render(hostile, "[newsmon]")
    assert "\n" not in title and "\x1b" not in body
    assert body.splitlines()[0] == "a FAKE: b [2J"


def test_config_options_and_redacted_repr(tmp_path: Path) -> None:
    text = '[[notifiers]]\nname = "chat"\nkind = "apprise"\nurls = ["tgram://123456:SECRETTOKEN/987"]\n'
    config = parse_config(text, tmp_path / "c.toml")
    [nc] = config.notifiers
    assert nc.kind == "apprise" and nc.options.urls == ["tgram://123456:SECRETTOKEN/987"]
    assert "SECRETTOKEN" not in repr(nc.options) and "tgram://" in repr(nc.options)
    assert REGISTRY["apprise"] is AppriseNotifier
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config(text + 'url = "x"\n', tmp_path / "c.toml")


def test_missing_package_is_a_config_error_with_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # makes `import apprise` raise ImportError
    text = '[[notifiers]]\nname = "chat"\nkind = "apprise"\nurls = ["json://127.0.0.1/x"]\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, tmp_path / "c.toml")
    assert f"notifiers[0].kind: {INSTALL_HINT}" in str(caught.value)
    assert INSTALL_HINT == 'kind "apprise" needs: pip install newsmon[apprise]'


async def test_missing_package_at_send_is_permanent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)
    with pytest.raises(DeliveryError) as caught:
        await notifier("json://127.0.0.1/x").send(sample_alert())
    assert caught.value.permanent and "pip install newsmon[apprise]" in caught.value.reason
