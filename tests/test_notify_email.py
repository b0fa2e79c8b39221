"""EmailNotifier against a real aiosmtpd server on loopback: plaintext, STARTTLS and implicit TLS with
AUTH (certificates from ``tlsutil``, made per session)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from tlsutil import Pki, make_pki

from monitor.errors import DeliveryError
from monitor.model import Alert, Hit
from monitor.notify import REGISTRY
from monitor.notify import email as email_module
from monitor.notify.base import digest_id
from monitor.notify.email import EmailNotifier, EmailOptions, build_digest, message_id, tls_context
from monitor.secret import Secret
from tests.helpers.smtp import Mailbox, accept_login, controller, parse, running, smtp_server, starttls


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


async def test_delivers_one_multipart_message(smtp: tuple[Mailbox, int]) -> None:
    recorder, port = smtp
    answer = await notifier(port).send(make_alert())
    assert answer == "250 OK queued as NM42"
    [(envelope, message)] = recorder.received
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


async def test_message_id_is_stable_across_retries(smtp: tuple[Mailbox, int]) -> None:
    recorder, port = smtp
    mailer = notifier(port)
    await mailer.send(make_alert())
    await mailer.send(make_alert())
    first, second = (message for _, message in recorder.received)
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Date"] == second["Date"]


async def test_html_part_escapes_everything(smtp: tuple[Mailbox, int]) -> None:
    recorder, port = smtp
    hostile = make_alert(
        title='<script>alert("x")</script>',
        rule_title="R&D <i>",
        source='"><img src=x onerror=alert(1)>',
        url="javascript:alert(1)",
    )
    await notifier(port).send(hostile)
    _, html = parts(recorder.received[0][1])
    assert "<script>" not in html and "<img" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "R&amp;D &lt;i&gt;" in html
    assert "javascript:" not in html.split("</h2>")[0].split("href=")[-1]
    assert 'href="javascript' not in html


async def test_crlf_in_title_cannot_inject_headers(smtp: tuple[Mailbox, int]) -> None:
    recorder, port = smtp
    hostile = make_alert(title="Hello\r\nBcc: victim@example.org\r\nX-Evil: 1", rule_title="a\nb")
    await notifier(port).send(hostile)
    [(envelope, message)] = recorder.received
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert "victim@example.org" not in envelope.rcpt_tos
    assert message["Subject"] == "[newsmon] a b: Hello Bcc: victim@example.org X-Evil: 1"


async def test_non_ascii_subject_round_trips(smtp: tuple[Mailbox, int]) -> None:
    recorder, port = smtp
    await notifier(port).send(make_alert(title="Войска КНДР в Курской области — “срочно”"))
    assert recorder.received[0][1]["Subject"].endswith("Войска КНДР в Курской области — “срочно”")


async def test_550_is_permanent(smtp: tuple[Mailbox, int]) -> None:
    recorder, port = smtp
    recorder.data_reply = "550 5.7.1 message rejected"
    with pytest.raises(DeliveryError) as caught:
        await notifier(port).send(make_alert())
    assert caught.value.permanent
    assert "550" in caught.value.reason
    assert isinstance(caught.value.__cause__, aiosmtplib.SMTPResponseException)


async def test_all_recipients_refused_550_is_permanent(smtp: tuple[Mailbox, int]) -> None:
    recorder, port = smtp
    recorder.rcpt_reply = "550 5.1.1 no such user"
    with pytest.raises(DeliveryError) as caught:
        await notifier(port).send(make_alert())
    assert caught.value.permanent


async def test_451_is_retryable(smtp: tuple[Mailbox, int]) -> None:
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


async def test_starttls_required_never_falls_back_to_plaintext(smtp: tuple[Mailbox, int]) -> None:
    recorder, port = smtp
    with pytest.raises(DeliveryError) as caught:
        await notifier(port, tls="starttls").send(make_alert())
    assert "STARTTLS" in caught.value.reason.upper()
    assert recorder.received == []


async def test_auth_without_server_support_is_translated(smtp: tuple[Mailbox, int]) -> None:
    recorder, port = smtp
    with pytest.raises(DeliveryError) as caught:
        await notifier(port, username="newsmon", password=Secret("hunter2")).send(make_alert())
    assert "AUTH" in caught.value.reason
    assert "hunter2" not in str(caught.value)
    assert recorder.received == []


@pytest.fixture
def smtp_auth(free_port: int) -> Iterator[tuple[Mailbox, int]]:
    recorder = Mailbox()
    # Plain-text AUTH only because this is loopback in a test; production uses tls = starttls/implicit.
    with smtp_server(recorder, free_port, authenticator=accept_login, auth_require_tls=False):
        yield recorder, free_port


async def test_login_with_password(smtp_auth: tuple[Mailbox, int]) -> None:
    recorder, port = smtp_auth
    await notifier(port, username="newsmon", password=Secret("hunter2")).send(make_alert())
    assert len(recorder.received) == 1


async def test_wrong_password_is_permanent_and_not_shown(smtp_auth: tuple[Mailbox, int]) -> None:
    recorder, port = smtp_auth
    with pytest.raises(DeliveryError) as caught:
        await notifier(port, username="newsmon", password=Secret("wrong-pw")).send(make_alert())
    assert caught.value.permanent
    assert "535" in caught.value.reason and "wrong-pw" not in str(caught.value)
    assert recorder.received == []


# -- TLS and AUTH ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@dataclass
class SecureRecorder(Mailbox):
    """Also refuses mail from unauthenticated sessions, and notes for every DATA (accepted or not) the
    TLS cipher the session ran over and the message as sent; ``data_replies`` answer DATA in turn."""

    mechanisms: list[str] = field(default_factory=list)
    ciphers: list[Any] = field(default_factory=list)
    attempts: list[EmailMessage] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.mechanisms.append(mechanism)
        return accept_login(server, session, envelope, mechanism, data)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        # aiosmtpd's own auth_required refuses to pair with implicit TLS (it only counts STARTTLS as
        # TLS), so the handler enforces it, for both servers alike.
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes) and server.transport is not None
        self.ciphers.append(server.transport.get_extra_info("cipher"))
        self.attempts.append(parse(envelope))
        if self.data_replies:
            return self.data_replies.pop(0)
        return await super().handle_DATA(server, session, envelope)


@dataclass
class TlsServer:
    recorder: SecureRecorder
    port: int
    tls: str  # the notifier's ``tls`` setting this server speaks


@pytest.fixture
def starttls_server(free_port: int, pki: Pki) -> Iterator[TlsServer]:
    """Plain SMTP that refuses everything but EHLO/STARTTLS/QUIT before TLS, and AUTH before MAIL."""
    recorder = SecureRecorder()
    with running(controller(recorder, free_port, **starttls(pki), authenticator=recorder.authenticate)):
        yield TlsServer(recorder, free_port, "starttls")


@pytest.fixture
def implicit_server(free_port: int, pki: Pki) -> Iterator[TlsServer]:
    """SMTPS: TLS from the first byte (port 465 style)."""
    recorder = SecureRecorder()
    server = controller(
        recorder,
        free_port,
        ssl_context=pki.server_context(),
        authenticator=recorder.authenticate,
        # The connection is TLS already; aiosmtpd would still answer AUTH with "538 encryption required".
        auth_require_tls=False,
    )
    with running(server):
        yield TlsServer(recorder, free_port, "implicit")


@pytest.fixture(params=["starttls", "implicit"])
def tls_server(request: pytest.FixtureRequest) -> TlsServer:
    server: TlsServer = request.getfixturevalue(f"{request.param}_server")
    return server


def secure(server: TlsServer, pki: Pki, **changes: Any) -> EmailNotifier:
    options: dict[str, Any] = {
        "tls": server.tls,
        "tls_ca_file": str(pki.ca),
        "username": "newsmon",
        "password": Secret("hunter2"),
    }
    options.update(changes)
    return notifier(server.port, **options)


RECIPIENTS = ["desk@example.org", "Night Desk <night@example.org>", "analyst@example.net"]


async def test_starttls_and_auth_deliver_to_every_recipient(starttls_server: TlsServer, pki: Pki) -> None:
    recorder = starttls_server.recorder
    answer = await secure(starttls_server, pki, to=RECIPIENTS).send(make_alert())
    assert answer.startswith("250 ")
    [(envelope, message)] = recorder.received
    assert envelope.rcpt_tos == ["desk@example.org", "night@example.org", "analyst@example.net"]
    assert message["To"] == ", ".join(RECIPIENTS)
    assert recorder.mechanisms == ["PLAIN"]  # aiosmtplib's first choice among LOGIN/PLAIN
    [cipher] = recorder.ciphers
    assert cipher is not None and cipher[1] in ("TLSv1.2", "TLSv1.3")


async def test_implicit_tls_and_auth_deliver(implicit_server: TlsServer, pki: Pki) -> None:
    recorder = implicit_server.recorder
    await secure(implicit_server, pki).send(make_alert())
    assert len(recorder.received) == 1
    assert recorder.mechanisms == ["PLAIN"]
    assert recorder.ciphers[0] is not None


async def test_auth_login_mechanism(free_port: int, pki: Pki) -> None:
    recorder = SecureRecorder()
    server = controller(
        recorder,
        free_port,
        **starttls(pki),
        authenticator=recorder.authenticate,
        auth_exclude_mechanism=["PLAIN"],  # a server offering only LOGIN
    )
    with running(server):
        await secure(TlsServer(recorder, free_port, "starttls"), pki).send(make_alert())
    assert recorder.mechanisms == ["LOGIN"]
    assert len(recorder.received) == 1


async def test_the_tls_servers_really_require_auth(tls_server: TlsServer, pki: Pki) -> None:
    """Without this, the delivery tests above would pass against a server that ignores AUTH."""
    with pytest.raises(DeliveryError) as caught:
        await secure(tls_server, pki, username=None, password=None).send(make_alert())
    assert "530" in caught.value.reason and caught.value.permanent
    assert tls_server.recorder.received == []


async def test_wrong_password_over_tls_is_permanent(tls_server: TlsServer, pki: Pki) -> None:
    with pytest.raises(DeliveryError) as caught:
        await secure(tls_server, pki, password=Secret("wrong-pw")).send(make_alert())
    assert caught.value.permanent and "535" in caught.value.reason
    assert "wrong-pw" not in str(caught.value)


async def test_untrusted_certificate_is_retryable_and_sends_nothing(tls_server: TlsServer, pki: Pki) -> None:
    """Decision: retryable (the module docstring says why); never a plaintext fallback, and the
    credentials never leave: AUTH is not even attempted."""
    recorder = tls_server.recorder
    with pytest.raises(DeliveryError) as caught:
        await secure(tls_server, pki, tls_ca_file=str(pki.other_ca)).send(make_alert())
    assert not caught.value.permanent
    assert "TLS certificate not trusted" in caught.value.reason
    assert isinstance(caught.value.__cause__, ssl.SSLError | aiosmtplib.SMTPException)
    assert recorder.mechanisms == [] and recorder.attempts == [] and recorder.received == []


async def test_system_trust_store_alone_does_not_trust_the_test_ca(tls_server: TlsServer, pki: Pki) -> None:
    """No tls_ca_file means the system CAs, not "trust anything"."""
    with pytest.raises(DeliveryError) as caught:
        await secure(tls_server, pki, tls_ca_file=None).send(make_alert())
    assert "TLS certificate not trusted" in caught.value.reason
    assert tls_server.recorder.attempts == []


async def test_tls_verify_false_accepts_any_certificate(tls_server: TlsServer, pki: Pki) -> None:
    await secure(tls_server, pki, tls_ca_file=None, tls_verify=False).send(make_alert())
    assert len(tls_server.recorder.received) == 1


def test_tls_ca_file_replaces_the_system_trust_store(pki: Pki) -> None:
    # aiosmtplib's cert_bundle would add the file to the system CAs; a private relay's CA must be
    # the only one trusted, or any publicly trusted certificate could stand in for the relay.
    context = tls_context(EmailOptions(host="h", sender="a@b", to=["c@d"], tls_ca_file=str(pki.ca)))
    subjects = [dict(pair for rdn in ca["subject"] for pair in rdn) for ca in context.get_ca_certs()]
    assert subjects == [{"commonName": "newsmon test-ca"}]
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


async def test_unreadable_ca_file_is_retryable_and_named(
    tls_server: TlsServer, pki: Pki, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.pem"
    mailer = secure(tls_server, pki, tls_ca_file=str(missing))
    with pytest.raises(DeliveryError) as caught:
        await mailer.send(make_alert())
    assert not caught.value.permanent and "tls_ca_file" in caught.value.reason
    missing.write_bytes(pki.ca.read_bytes())  # fixed before the next attempt: no restart needed
    await mailer.send(make_alert())
    assert len(tls_server.recorder.received) == 1


async def test_message_id_is_the_alert_id_and_survives_a_retry(starttls_server: TlsServer, pki: Pki) -> None:
    recorder = starttls_server.recorder
    recorder.data_replies = ["451 4.3.0 try again later"]
    alert = make_alert()
    mailer = secure(starttls_server, pki)
    with pytest.raises(DeliveryError) as caught:
        await mailer.send(alert)
    assert not caught.value.permanent
    await mailer.send(alert)
    refused, accepted = recorder.attempts
    assert accepted["Message-ID"] == message_id(alert.id, "newsmon@example.org")
    assert accepted["Message-ID"] == f"<{alert.id}.newsmon@example.org>"
    # Every header but the MIME boundary (random per build, and no one dedupes on it), and both
    # bodies: a receiver comparing Date, Subject or content sees the same message.
    assert [h for h in refused.items() if h[0] != "Content-Type"] == [
        h for h in accepted.items() if h[0] != "Content-Type"
    ]
    assert parts(refused) == parts(accepted)
    assert len(recorder.received) == 1


def nk_hit(snippet: str) -> Hit:
    return Hit("North Korean troops", "nk_troops", "body", 0, 20, snippet)


async def test_html_part_highlights_the_terms_and_escapes_the_rest(
    starttls_server: TlsServer, pki: Pki
) -> None:
    hostile = "<script>x</script> & North Korean\ntroops' <b>arrived</b>"
    await secure(starttls_server, pki).send(make_alert(hits=(nk_hit(hostile),)))
    text, html = parts(starttls_server.recorder.received[0][1])
    assert (
        "&lt;script&gt;x&lt;/script&gt; &amp; <mark>North Korean troops</mark>&#x27;"
        " &lt;b&gt;arrived&lt;/b&gt;" in html
    )
    assert "<script>" not in html and "<b>" not in html
    assert html.count("<mark>") == 1
    assert "<mark>" not in text  # the text part is plain, unmarked
    assert "[North Korean troops]" in text


def digest_alerts() -> list[Alert]:
    start = datetime(2024, 11, 19, 8, 0, tzinfo=UTC)
    return [
        make_alert(
            id=f"alert-{i}",
            title=f"Story {i} <{i}>",
            url=f"https://news.example/story-{i}",
            detected_at=start + timedelta(minutes=i),
            hits=(nk_hit(f"North Korean troops in village {i} & more"),),
        )
        for i in range(3)
    ]


async def test_digest_email_renders_every_alert(tls_server: TlsServer, pki: Pki) -> None:
    alerts = digest_alerts()
    await secure(tls_server, pki).send_digest(alerts)
    [(_, message)] = tls_server.recorder.received
    assert message["Subject"] == "[newsmon] digest: 3 alerts: North Korean troops and 2 more"
    assert message["Message-ID"] == message_id(digest_id(alerts), "newsmon@example.org")
    assert message["X-Newsmon-Alert-Id"] == "alert-0 alert-1 alert-2"
    text, html = parts(message)
    assert "<h1>newsmon digest: 3 alerts</h1>" in html
    for i in range(3):
        assert f'<a href="https://news.example/story-{i}">Story {i} &lt;{i}&gt;</a>' in html
        assert f"<mark>North Korean troops</mark> in village {i} &amp; more" in html
        assert f"Title:     Story {i} <{i}>" in text
    assert f"<{0}>" not in html


def test_digest_message_id_ignores_alert_order() -> None:
    # The outbox may lease a retried digest's members in another order; it is still the same message.
    alerts = digest_alerts()
    forward = build_digest(alerts, "newsmon@example.org", ["desk@example.org"])
    backward = build_digest(alerts[::-1], "newsmon@example.org", ["desk@example.org"])
    assert forward["Message-ID"] == backward["Message-ID"]


async def test_send_returns_after_the_tls_socket_is_closed(
    tls_server: TlsServer, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing TLS takes round trips; a send that returned earlier would leave a socket behind when
    the caller's loop ends (``notify test``), which warnings-as-errors here once caught."""
    made: list[Any] = []
    original = email_module._Connection.__init__

    def recording(self: Any, **kwargs: Any) -> None:
        original(self, **kwargs)
        made.append(self)

    monkeypatch.setattr(email_module._Connection, "__init__", recording)
    await secure(tls_server, pki).send(make_alert())
    with pytest.raises(DeliveryError):
        await secure(tls_server, pki, password=Secret("wrong-pw")).send(make_alert())
    assert [connection._gone.is_set() for connection in made] == [True, True]
