"""WebhookNotifier against a real aiohttp receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.errors import DeliveryError
from monitor.model import Alert, Hit
from monitor.notify import REGISTRY
from monitor.notify.base import digest_id
from monitor.notify.webhook import WebhookNotifier, WebhookOptions
from monitor.secret import Secret
from tests.helpers.clock import FakeClock
from tests.helpers.receiver import Receiver

NOW = 1_732_000_000.0


def make_alert(**changes: object) -> Alert:
    base: dict[str, object] = {
        "id": "a1b2c3d4e5f6",
        "rule_id": "atacms-strikes-in-russia",
        "rule_title": "ATACMS used inside Russia",
        "story_key": "0123456789abcdef",
        "url": "https://news.example/world/atacms-kursk",
        "title": "Ukraine fires ATACMS at Kursk region",
        "source": "reuters",
        "published": datetime(2024, 11, 19, 8, 0, tzinfo=UTC),
        "detected_at": datetime(2024, 11, 19, 8, 2, 30, tzinfo=UTC),
        "hits": (
            Hit("ATACMS", "atacms", "title", 13, 19, "Ukraine fires ATACMS at Kursk"),
            Hit("Kursk", None, "body", 40, 45, "struck targets in the Kursk region"),
        ),
        "also_seen_at": ("https://mirror.example/atacms",),
    }
    base.update(changes)
    return Alert(**base)  # type: ignore[arg-type]


def notifier(url: str, **options: object) -> WebhookNotifier:
    return WebhookNotifier("ops", WebhookOptions(url=url, **options), clock=FakeClock(NOW))  # type: ignore[arg-type]


def test_registered() -> None:
    assert REGISTRY["webhook"] is WebhookNotifier


async def test_json_payload_shape_and_headers(receiver: Receiver) -> None:
    async with notifier(receiver.url()) as hook:
        answer = await hook.send(make_alert())
    assert answer == "HTTP 200"
    [(headers, body, _)] = receiver.raw()
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == "a1b2c3d4e5f6"
    assert "X-Newsmon-Signature" not in headers
    payload = json.loads(body)
    assert payload == {
        "id": "a1b2c3d4e5f6",
        "rule": {"id": "atacms-strikes-in-russia", "title": "ATACMS used inside Russia"},
        "article": {
            "url": "https://news.example/world/atacms-kursk",
            "title": "Ukraine fires ATACMS at Kursk region",
            "source": "reuters",
            "published": "2024-11-19T08:00:00+00:00",
            "detected_at": "2024-11-19T08:02:30+00:00",
        },
        "hits": [
            {
                "term": "ATACMS",
                "entity": "atacms",
                "field": "title",
                "snippet": "Ukraine fires ATACMS at Kursk",
            },
            {
                "term": "Kursk",
                "entity": None,
                "field": "body",
                "snippet": "struck targets in the Kursk region",
            },
        ],
        "also_seen_at": ["https://mirror.example/atacms"],
    }


async def test_unknown_published_is_null(receiver: Receiver) -> None:
    async with notifier(receiver.url()) as hook:
        await hook.send(make_alert(published=None, also_seen_at=()))
    payload = json.loads(receiver.raw()[0][1])
    assert payload["article"]["published"] is None
    assert payload["also_seen_at"] == []


async def test_signature_verifies_over_exact_body(receiver: Receiver) -> None:
    key = "s3cret-key"
    async with notifier(receiver.url(), secret=Secret(key)) as hook:
        await hook.send(make_alert(title="Ünïcode “quotes” & <tags>"))
    headers, body, _ = receiver.raw()[0]
    assert headers["X-Newsmon-Timestamp"] == str(int(NOW))
    expected = hmac.new(key.encode(), f"{int(NOW)}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Newsmon-Signature"] == f"sha256={expected}"
    assert json.loads(body)["article"]["title"] == "Ünïcode “quotes” & <tags>"


async def test_slack_escapes_mrkdwn(receiver: Receiver) -> None:
    hostile = make_alert(
        title="Q&A: <!channel> <https://evil.example|click> > here",
        hits=(Hit("x", None, "body", 0, 1, "a <b> & c"),),
        url="https://news.example/a|b>c",
    )
    async with notifier(receiver.url(), format="slack") as hook:
        await hook.send(hostile)
    payload = json.loads(receiver.raw()[0][1])
    assert set(payload) == {"text", "blocks"}
    assert "<!channel>" not in payload["text"]
    title = "Q&amp;A: &lt;!channel&gt; &lt;https://evil.example|click&gt; &gt; here"
    assert payload["text"] == f"[newsmon] ATACMS used inside Russia: {title}"
    section = payload["blocks"][0]["text"]["text"]
    assert "<https://news.example/a%7Cb%3Ec|Q&amp;A: &lt;!channel&gt;" in section
    assert "a &lt;b&gt; &amp; c" in payload["blocks"][1]["text"]["text"]


async def test_discord_escapes_markdown_and_mentions(receiver: Receiver) -> None:
    hostile = make_alert(title="@everyone **breaking** [x](https://evil.example) <@123>")
    async with notifier(receiver.url(), format="discord") as hook:
        await hook.send(hostile)
    payload = json.loads(receiver.raw()[0][1])
    assert payload["allowed_mentions"] == {"parse": []}
    check_discord(payload)
    [embed] = payload["embeds"]
    assert embed["title"] == r"\@everyone \*\*breaking\*\* \[x\]\(https\://evil\.example\) \<\@123\>"
    assert embed["url"] == "https://news.example/world/atacms-kursk"


# -- the shapes Slack and Discord document --------------------------------------------------------------
def check_slack(payload: dict[str, Any]) -> None:
    """Block Kit, as api.slack.com/reference/block-kit documents it (the parts we use)."""
    assert isinstance(payload["text"], str) and payload["text"]
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        if kind == "section":
            assert block["text"]["type"] == "mrkdwn" and 0 < len(block["text"]["text"]) <= 3000
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for button in block["elements"]:
                assert button["type"] == "button"
                assert button["text"]["type"] == "plain_text" and len(button["text"]["text"]) <= 75
                assert button["url"].startswith(("http://", "https://")) and len(button["url"]) <= 3000
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(e["type"] == "mrkdwn" and len(e["text"]) <= 3000 for e in block["elements"])
        else:
            raise AssertionError(f"unexpected block type {kind}")


def check_discord(payload: dict[str, Any]) -> None:
    """An execute-webhook body, as discord.com/developers/docs/resources/webhook documents it."""
    assert len(payload.get("content", "")) <= 2000
    embeds = payload["embeds"]
    assert 1 <= len(embeds) <= 10
    total = 0
    for embed in embeds:
        assert 0 < len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
        assert "url" not in embed or embed["url"].startswith(("http://", "https://"))
        assert isinstance(embed["color"], int) and datetime.fromisoformat(embed["timestamp"])
        assert len(embed["fields"]) <= 25
        for f in embed["fields"]:
            assert 0 < len(f["name"]) <= 256 and 0 < len(f["value"]) <= 1024 and isinstance(f["inline"], bool)
        total += len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
        total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000


async def test_slack_block_kit_with_bold_terms_and_a_button(receiver: Receiver) -> None:
    async with notifier(receiver.url(), format="slack") as hook:
        await hook.send(make_alert())
    payload = json.loads(receiver.raw()[0][1])
    check_slack(payload)
    head, hits, actions, context = payload["blocks"]
    assert (
        "<https://news.example/world/atacms-kursk|Ukraine fires ATACMS at Kursk region>"
        in head["text"]["text"]
    )
    assert hits["text"]["text"].splitlines() == [
        "• _title_: Ukraine fires *ATACMS* at Kursk",
        "• _body_: struck targets in the *Kursk* region",
    ]
    assert actions["elements"][0]["url"] == "https://news.example/world/atacms-kursk"
    assert "mirror.example/atacms" in context["elements"][0]["text"]


async def test_discord_embed_with_snippet_and_fields(receiver: Receiver) -> None:
    async with notifier(receiver.url(), format="discord") as hook:
        await hook.send(make_alert(hits=(Hit("ATACM", None, "body", 0, 6, "ATACMs hit a depot"),)))
    payload = json.loads(receiver.raw()[0][1])
    check_discord(payload)
    [embed] = payload["embeds"]
    assert embed["title"] == "Ukraine fires ATACMS at Kursk region"
    assert embed["description"] == r"body: **ATACMs** hit a depot"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Rule"] == "ATACMS used inside Russia" and fields["Source"] == "reuters"
    assert fields["Also seen at"] == "<https://mirror.example/atacms>"


@pytest.mark.parametrize("fmt", ["json", "slack", "discord"])
async def test_digest_is_one_request_with_every_alert(receiver: Receiver, fmt: str) -> None:
    alerts = [make_alert(id=f"a{i}", title=f"Story {i}") for i in range(12)]
    async with notifier(receiver.url(), format=fmt) as hook:
        chunk = alerts[: hook.digest_limit]
        await hook.send_digest(chunk)
        await hook.send_digest(list(reversed(chunk)))
    (headers, body, _), (again, _, _) = receiver.raw()
    assert headers["Idempotency-Key"] == again["Idempotency-Key"] == digest_id(chunk)
    payload = json.loads(body)
    if fmt == "json":
        assert payload["id"] == digest_id(chunk) and payload["digest"] is True
        assert [a["id"] for a in payload["alerts"]] == [a.id for a in chunk]
    elif fmt == "slack":
        check_slack(payload)
        assert len(payload["blocks"]) == len(chunk) + 1
    else:
        check_discord(payload)
        assert [e["title"] for e in payload["embeds"]] == [f"Story {i}" for i in range(10)]


async def test_javascript_url_is_never_a_link(receiver: Receiver) -> None:
    async with notifier(receiver.url(), format="slack") as hook:
        await hook.send(make_alert(url="javascript:alert(1)"))
    section = json.loads(receiver.raw()[0][1])["blocks"][0]["text"]["text"]
    assert section.split("\n")[1] == "Ukraine fires ATACMS at Kursk region"
    assert b"javascript" not in receiver.raw()[0][1]


async def test_503_retry_after_seconds_is_retryable(receiver: Receiver) -> None:
    receiver.replies.append((503, {"Retry-After": "120"}, "busy"))
    async with notifier(receiver.url()) as hook:
        with pytest.raises(DeliveryError) as caught:
            await hook.send(make_alert())
    assert not caught.value.permanent
    assert caught.value.retry_after == 120.0
    assert "HTTP 503" in caught.value.reason


async def test_429_retry_after_http_date(receiver: Receiver) -> None:
    receiver.replies.append(
        (429, {"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT", "Date": "Wed, 21 Oct 2015 07:28:00 GMT"}, "")
    )
    async with notifier(receiver.url()) as hook:
        with pytest.raises(DeliveryError) as caught:
            await hook.send(make_alert())
    assert not caught.value.permanent
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize("status", [500, 502, 408])
async def test_server_errors_are_retryable(receiver: Receiver, status: int) -> None:
    receiver.replies.append((status, {}, "oops"))
    async with notifier(receiver.url()) as hook:
        with pytest.raises(DeliveryError) as caught:
            await hook.send(make_alert())
    assert not caught.value.permanent
    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [400, 401, 404, 410, 301])
async def test_client_errors_are_permanent(receiver: Receiver, status: int) -> None:
    receiver.replies.append((status, {"Location": "/elsewhere"}, "bad payload"))
    async with notifier(receiver.url()) as hook:
        with pytest.raises(DeliveryError) as caught:
            await hook.send(make_alert())
    assert caught.value.permanent
    assert f"HTTP {status}" in caught.value.reason
    assert len(receiver.raw()) == 1  # redirects are not followed


async def test_error_text_hides_url_secrets_and_key(receiver: Receiver) -> None:
    base = receiver.url("/services/T0001/B0002/XXXXSECRETPATH?token=tok3n")
    url = base.replace("http://", "http://user:hunter2@")
    # A receiver that echoes the request back must not get the credentials into our logs either.
    receiver.replies.append(
        (400, {}, "bad token tok3n for /services/T0001/B0002/XXXXSECRETPATH key=k3y-value")
    )
    async with notifier(url, secret=Secret("k3y-value")) as hook:
        with pytest.raises(DeliveryError) as caught:
            await hook.send(make_alert())
    text = str(caught.value)
    for leak in ("hunter2", "user", "XXXXSECRETPATH", "tok3n", "k3y-value", "services"):
        assert leak not in text
    assert text.startswith(f"{receiver.base}/…: HTTP 400")
    assert "hunter2" not in repr(hook.options) and "XXXXSECRETPATH" not in repr(hook.options)


async def test_connection_refused_is_retryable_and_redacted() -> None:
    # Bind and release a port so nothing listens there.
    server = TestServer(web.Application(), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/hook/SECRETPATH?token=abc"))
    await server.close()
    async with notifier(url) as hook:
        with pytest.raises(DeliveryError) as caught:
            await hook.send(make_alert())
    assert not caught.value.permanent
    assert isinstance(caught.value.__cause__, aiohttp.ClientError)
    assert "SECRETPATH" not in str(caught.value) and "abc" not in str(caught.value)


async def test_timeout_is_retryable(receiver: Receiver) -> None:
    receiver.hold = True
    async with notifier(receiver.url(), timeout=0.2) as hook:
        with pytest.raises(DeliveryError) as caught:
            await hook.send(make_alert())
    assert not caught.value.permanent
    assert "no answer within 0.2s" in caught.value.reason
    assert isinstance(caught.value.__cause__, TimeoutError)


async def test_invalid_url_is_permanent() -> None:
    async with notifier("http://") as hook:
        with pytest.raises(DeliveryError) as caught:
            await hook.send(make_alert())
    assert caught.value.permanent


async def test_shared_session_is_used_and_left_open(receiver: Receiver) -> None:
    async with aiohttp.ClientSession() as session:
        hook = WebhookNotifier("ops", WebhookOptions(url=receiver.url()), session=session)
        assert await hook.send(make_alert()) == "HTTP 200"
        await hook.close()
        assert not session.closed
        assert await hook.send(make_alert()) == "HTTP 200"
    assert len(receiver.raw()) == 2
