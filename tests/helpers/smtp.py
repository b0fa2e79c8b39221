"""A real SMTP server (aiosmtpd) on loopback for the email tests, and the mailbox it delivers to."""

from __future__ import annotations

import contextlib
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, NamedTuple

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

if TYPE_CHECKING:
    from tlsutil import Pki

LOGIN = ("newsmon", "hunter2")  # the one account ``accept_login`` lets in


class Received(NamedTuple):
    envelope: Envelope
    message: EmailMessage


@dataclass
class Mailbox:
    """aiosmtpd handler: keeps every accepted message; ``rcpt_reply``/``data_reply`` force refusals."""

    received: list[Received] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]

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
        self.received.append(Received(envelope, parse(envelope)))
        return "250 OK queued as NM42"


def parse(envelope: Envelope) -> EmailMessage:
    assert isinstance(envelope.content, bytes)
    parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def accept_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    """An aiosmtpd authenticator for ``LOGIN`` (credentials as bytes or text, as the mechanism gives them);
    handled=False: aiosmtpd then sends the 235 / 535 reply itself."""
    wanted = (LOGIN, tuple(s.encode() for s in LOGIN))
    return AuthResult(
        success=isinstance(data, LoginPassword) and (data.login, data.password) in wanted, handled=False
    )


@contextlib.contextmanager
def running(controller: Controller) -> Iterator[Controller]:
    """``controller`` started, and stopped (with its event loop closed) afterwards."""
    controller.start()
    try:
        yield controller
    finally:
        stop(controller)


def stop(controller: Controller) -> None:
    controller.stop()
    controller.loop.close()  # aiosmtpd makes this loop and never closes it (a leaked socketpair)


def controller(handler: object, port: int, **options: Any) -> Controller:
    """An SMTP server on 127.0.0.1:``port`` delivering to ``handler``, not started yet."""
    return Controller(handler, hostname="127.0.0.1", port=port, **options)


def starttls(pki: Pki) -> dict[str, Any]:
    """``controller`` options for a server that takes nothing but EHLO/STARTTLS/QUIT before TLS."""
    return {"tls_context": pki.server_context(), "require_starttls": True}


@contextlib.contextmanager
def smtp_server(handler: object, port: int, **options: Any) -> Iterator[Controller]:
    """``controller``, running for the block."""
    with running(controller(handler, port, **options)) as started:
        yield started
