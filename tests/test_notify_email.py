"""EmailNotifier against a real aiosmtpd server on loopback."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from monitor.errors import DeliveryError
from monitor.model import Alert, Hit
from monitor.notify import REGISTRY
from monitor.notify.email import EmailNotifier, EmailOptions
from monitor.secret import Secret


@dataclass
class Recorder:
    """aiosmtpd handler: keeps every accepted message; ``rcpt_reply``/``data_reply`` force refusals."""

    messages: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed))
        return "250 OK queued as NM42"


@pytest.fixture
def smtp(free_port: int) -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port)
    controller.start()
    try:
        yield recorder, controller.port
    finally:
        controller.stop()


def make_alert(**changes: Any) -> Alert:
    base: dict[str, Any] = {
        "id": "a1b2c3d4e5f6",
        "rule_id": "north-korean-troops",
        "rule_title": "North Korean troops",
        "story_key": "0123456789abcdef",
        "url": "https://news.example/world/nk-troops",
        "title": "North Korean troops seen in Kursk",
        "source": "ap",
        "published": datetime(2024, 11, 19, 8, 0, tzinfo=UTC),
        "detected_at": datetime(2024, 11, 19, 8, 2, 30, tzinfo=UTC),
        "hits": (Hit("@nk_troops", "nk_troops", "body", 0, 20, "North Korean troops <b>were</b> & seen"),),
        "also_seen_at": ("https://mirror.example/nk",),
    }
    base.update(changes)
    return Alert(**base)


def notifier(port: int, **changes: Any) -> EmailNotifier:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "sender": "newsmon@example.org",
        "to": ["desk@example.org", "Night Desk <night@example.org>"],
        "timeout": 5.0,
    }
    options.update(changes)
    return EmailNotifier("desk", EmailOptions(**options))


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_registered_and_aliases() -> None:
    assert REGISTRY["email"] is EmailNotifier
    assert EmailOptions.KEY_ALIASES == {"from": "sender"}
    assert "hunter2" not in repr(EmailOptions(host="h", sender="a@b", to=["c@d"], password=Secret("hunter2")))


async def test_delivers_one_multipart_message(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    answer = await notifier(port).send(make_alert())
    assert answer == "250 OK queued as NM42"
    [(envelope, message)] = recorder.messages
    assert envelope.mail_from == "newsmon@example.org"
    assert envelope.rcpt_tos == ["desk@example.org", "night@example.org"]
    assert message["Subject"] == "[newsmon] North Korean troops: North Korean troops seen in Kursk"
    assert message["From"] == "newsmon@example.org"
    assert message["Message-ID"] == "<a1b2c3d4e5f6.newsmon@example.org>"
    assert message["X-Newsmon-Alert-Id"] == "a1b2c3d4e5f6"
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert "URL:       https://news.example/world/nk-troops" in text
    assert "body: North Korean troops <b>were</b> & seen" in text
    assert "https://mirror.example/nk" in text
    assert '<a href="https://news.example/world/nk-troops">North Korean troops seen in Kursk</a>' in html
    assert "North Korean troops &lt;b&gt;were&lt;/b&gt; &amp; seen" in html


async def test_message_id_is_stable_across_retries(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    mailer = notifier(port)
    await mailer.send(make_alert())
    await mailer.send(make_alert())
    first, second = (message for _, message in recorder.messages)
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Date"] == second["Date"]


async def test_html_part_escapes_everything(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    hostile = make_alert(
        title='<script>alert("x")</script>',
        rule_title="R&D <i>",
        source='"><img src=x onerror=alert(1)>',
        url="javascript:alert(1)",
    )
    await notifier(port).send(hostile)
    _, html = parts(recorder.messages[0][1])
    assert "<script>" not in html and "<img" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "R&amp;D &lt;i&gt;" in html
    assert "javascript:" not in html.split("</h2>")[0].split("href=")[-1]
    assert 'href="javascript' not in html


async def test_crlf_in_title_cannot_inject_headers(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    hostile = make_alert(title="Hello\r\nBcc: victim@example.org\r\nX-Evil: 1", rule_title="a\nb")
    await notifier(port).send(hostile)
    [(envelope, message)] = recorder.messages
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert "victim@example.org" not in envelope.rcpt_tos
    assert message["Subject"] == "[newsmon] a b: Hello Bcc: victim@example.org X-Evil: 1"


async def test_non_ascii_subject_round_trips(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    await notifier(port).send(make_alert(title="Войска КНДР в Курской области — “срочно”"))
    assert recorder.messages[0][1]["Subject"].endswith("Войска КНДР в Курской области — “срочно”")


async def test_550_is_permanent(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    recorder.data_reply = "550 5.7.1 message rejected"
    with pytest.raises(DeliveryError) as caught:
        await notifier(port).send(make_alert())
    assert caught.value.permanent
    assert "550" in caught.value.reason
    assert isinstance(caught.value.__cause__, aiosmtplib.SMTPResponseException)


async def test_all_recipients_refused_550_is_permanent(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    recorder.rcpt_reply = "550 5.1.1 no such user"
    with pytest.raises(DeliveryError) as caught:
        await notifier(port).send(make_alert())
    assert caught.value.permanent


async def test_451_is_retryable(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    recorder.data_reply = "451 4.3.0 try again later"
    with pytest.raises(DeliveryError) as caught:
        await notifier(port).send(make_alert())
    assert not caught.value.permanent
    assert "451" in caught.value.reason


async def test_connection_refused_is_retryable(free_port: int) -> None:
    with pytest.raises(DeliveryError) as caught:
        await notifier(free_port).send(make_alert())
    assert not caught.value.permanent
    assert caught.value.__cause__ is not None


async def test_starttls_required_never_falls_back_to_plaintext(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    with pytest.raises(DeliveryError) as caught:
        await notifier(port, tls="starttls").send(make_alert())
    assert "STARTTLS" in caught.value.reason.upper()
    assert recorder.messages == []


async def test_auth_without_server_support_is_translated(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    with pytest.raises(DeliveryError) as caught:
        await notifier(port, username="newsmon", password=Secret("hunter2")).send(make_alert())
    assert "AUTH" in caught.value.reason
    assert "hunter2" not in str(caught.value)
    assert recorder.messages == []


@pytest.fixture
def smtp_auth(free_port: int) -> Iterator[tuple[Recorder, int]]:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) in (
            (b"newsmon", b"hunter2"),
            ("newsmon", "hunter2"),
        )
        # handled=False: aiosmtpd then sends the 235 / 535 reply itself.
        return AuthResult(success=ok, handled=False)

    recorder = Recorder()
    # Plain-text AUTH only because this is loopback in a test; production uses tls = starttls/implicit.
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield recorder, controller.port
    finally:
        controller.stop()


async def test_login_with_password(smtp_auth: tuple[Recorder, int]) -> None:
    recorder, port = smtp_auth
    await notifier(port, username="newsmon", password=Secret("hunter2")).send(make_alert())
    assert len(recorder.messages) == 1


async def test_wrong_password_is_permanent_and_not_shown(smtp_auth: tuple[Recorder, int]) -> None:
    recorder, port = smtp_auth
    with pytest.raises(DeliveryError) as caught:
        await notifier(port, username="newsmon", password=Secret("wrong-pw")).send(make_alert())
    assert caught.value.permanent
    assert "535" in caught.value.reason and "wrong-pw" not in str(caught.value)
    assert recorder.messages == []
