"""One email per alert over SMTP (aiosmtplib): text and HTML parts, stable Message-ID.

SMTP reply classes decide the outcome: 5xx means this message will never be accepted (permanent), 4xx and
lost connections may pass (retryable). The Message-ID is derived from the alert id, so a retry after a
lost 250 is recognisable as the same message by any receiver that dedupes.

TLS: ``tls = "starttls"`` or ``"implicit"`` never falls back to plaintext. ``tls_ca_file`` replaces the
system's trust store (a private relay's CA is then the only one trusted, so a certificate from any public
CA is refused). A certificate that does not verify is a retryable failure: nothing (no credentials, no
message) has been sent, and the usual causes — an expired or misdeployed certificate on the relay, a CA
file being rotated — get fixed without touching the alert, which a dead letter would need.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import html
import re
import ssl
from dataclasses import dataclass
from datetime import UTC
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, ClassVar, Literal

import aiosmtplib

from monitor.errors import DeliveryError
from monitor.model import Alert
from monitor.notify.base import DeliveryPolicy, Notifier, digest_id, iso, link, marked, one_line, snippets
from monitor.safe_text import header_text
from monitor.secret import Secret

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HEADERS = ["Subject", "From", "To", "Date", "Message-ID", "X-Newsmon-Alert-Id", "X-Newsmon-Rule"]
_DIGEST_HEADERS = _HEADERS[:-1]
_QUIT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class EmailOptions(DeliveryPolicy):
    # "from" is a Python keyword; the config loader maps the TOML key onto ``sender``.
    KEY_ALIASES: ClassVar[dict[str, str]] = {"from": "sender"}

    host: str
    sender: str
    to: list[str]
    port: int = 587
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    timeout: float = 30.0
    # Trust this PEM bundle instead of the system's CAs (a private CA); tls_verify = false trusts any
    # certificate, for a test relay only.
    tls_ca_file: str | None = None
    tls_verify: bool = True

    def problems(self) -> list[tuple[str, str]]:
        found = [("to", "no recipients: list at least one address")] if not self.to else []
        if not 0 < self.port < 65536:
            found.append(("port", f"expected a port from 1 to 65535, got {self.port}"))
        return found


class EmailNotifier(Notifier):
    kind = "email"
    Options = EmailOptions
    options: EmailOptions

    async def send(self, alert: Alert) -> str:
        return await self._send(build_message(alert, self.options.sender, self.options.to))

    async def send_digest(self, alerts: list[Alert]) -> str:
        return await self._send(build_digest(alerts, self.options.sender, self.options.to))

    _tls: ssl.SSLContext | None = None

    async def _tls_context(self, where: str) -> ssl.SSLContext | None:
        """The client context for ``tls``, built once (reading CA files blocks, so in a thread)."""
        if self.options.tls == "none":
            return None
        if self._tls is None:
            try:
                self._tls = await asyncio.to_thread(tls_context, self.options)
            except OSError as exc:  # ssl.SSLError is one too: a file that is not PEM
                # Not cached: the file may be fixed or appear before the next attempt.
                raise DeliveryError(
                    f"{where}: cannot load tls_ca_file: {type(exc).__name__}: {exc.strerror or exc}"
                ) from exc
        return self._tls

    async def _send(self, message: EmailMessage) -> str:
        opts = self.options
        where = f"smtp://{opts.host}:{opts.port}"
        smtp = _Connection(
            hostname=opts.host,
            port=opts.port,
            use_tls=opts.tls == "implicit",
            # False rather than None for "none": aiosmtplib would otherwise upgrade opportunistically.
            start_tls=opts.tls == "starttls",
            timeout=opts.timeout,
            # Our own context, not aiosmtplib's cert_bundle: that one adds the file to the system CAs.
            tls_context=await self._tls_context(where),
        )
        try:
            # aiosmtplib's timeout is per command; this bounds the whole conversation.
            async with asyncio.timeout(opts.timeout):
                await smtp.connect()
                # AUTH after connect() rather than inside it: a refused login then leaves the connection
                # to us, so it is closed (and waited for) like any other.
                if opts.username is not None and opts.password is not None:
                    await smtp.login(opts.username, opts.password.reveal())
                refused, reply = await smtp.send_message(
                    message,
                    sender=parseaddr(opts.sender)[1],
                    recipients=[parseaddr(address)[1] for address in opts.to],
                )
        except BaseException as exc:
            if not isinstance(exc, Exception):
                smtp.close()
                raise
            await smtp.close_and_wait(_QUIT_TIMEOUT)
            raise _translate(where, exc) from exc
        await _hang_up(smtp)
        answer = f"250 {one_line(reply, 200)}"
        if refused:
            # Some recipients have it; retrying would send them a second copy.
            answer += f" ({len(refused)} of {len(opts.to)} recipients refused)"
        return answer


class _Connection(aiosmtplib.SMTP):
    """``aiosmtplib.SMTP`` that can wait for its socket to be gone.

    Closing a TLS connection only starts the TLS shutdown (close_notify both ways); the socket closes a
    few round trips later. A caller whose event loop ends soon after (``newsmon notify test``, a drain
    at shutdown) would otherwise leave it open."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gone = asyncio.Event()
        self._opened = False

    async def connect(self, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        # A connect() that fails has closed its connection already; only one that succeeded is ours.
        response = await super().connect(**kwargs)
        self._opened = True
        return response

    def _on_connection_lost(self, protocol: Any) -> None:
        # aiosmtplib's hook for the protocol's connection_lost, i.e. the socket is closed.
        super()._on_connection_lost(protocol)
        self._gone.set()

    async def close_and_wait(self, limit: float) -> None:
        self.close()
        if self._opened:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(limit):
                    await self._gone.wait()


def tls_context(opts: EmailOptions) -> ssl.SSLContext:
    """Client TLS context: hostname checked, TLS 1.2 or later, trusting ``tls_ca_file`` alone if set."""
    # With a cafile, create_default_context skips the system store: the file is the whole trust.
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=opts.tls_ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not opts.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """``exc`` or the first exception of type ``kind`` it was raised from (aiosmtplib wraps TLS errors
    in SMTPConnectError for implicit TLS, but lets them through bare from STARTTLS)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _translate(where: str, exc: Exception) -> DeliveryError:
    untrusted = _cause(exc, ssl.SSLCertVerificationError)
    if isinstance(untrusted, ssl.SSLCertVerificationError):
        detail = untrusted.verify_message or untrusted.reason or "verification failed"
        return DeliveryError(f"{where}: TLS certificate not trusted: {one_line(detail, 200)}")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return DeliveryError(
            f"{where}: all recipients refused ({', '.join(map(str, codes))})", permanent=permanent
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(f"{where}: {exc.code} {one_line(exc.message, 200)}", permanent=exc.code >= 500)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        # e.g. tls = "starttls" against a server without STARTTLS: retrying cannot help.
        return DeliveryError(f"{where}: {one_line(exc.message, 200)}", permanent=True)
    if isinstance(exc, TimeoutError):
        return DeliveryError(f"{where}: timed out")
    if isinstance(exc, aiosmtplib.SMTPException):
        return DeliveryError(f"{where}: {type(exc).__name__}: {one_line(exc.message, 200)}")
    if isinstance(exc, OSError):
        return DeliveryError(f"{where}: {type(exc).__name__}: {exc.strerror or exc}")
    return DeliveryError(f"{where}: unexpected {type(exc).__name__}")


async def _hang_up(smtp: _Connection) -> None:
    """QUIT politely after a 250; the message is already accepted, so nothing here may fail the send."""
    try:
        async with asyncio.timeout(_QUIT_TIMEOUT):
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()
            await smtp.close_and_wait(_QUIT_TIMEOUT)
    except TimeoutError:
        pass
    finally:
        smtp.close()


def header(value: str, limit: int = 250) -> str:
    """A header value that cannot start a new header line or smuggle one in an encoded word."""
    return header_text(value, limit)


def _checked(message: EmailMessage, names: list[str]) -> EmailMessage:
    """``message`` if its serialised form, read back, has exactly the headers we set.

    The last line of defence against the header writer itself: some Python releases (before 3.11.10,
    3.12.5) fold an encoded word holding CR/LF back into a raw line break."""
    head = message.as_bytes().split(b"\n\n", 1)[0]
    got = [k.lower() for k in email.message_from_bytes(head + b"\n\n", policy=email.policy.default)]
    want = [n.lower() for n in names] + ["mime-version", "content-type"]
    if got != want:
        raise DeliveryError(f"refusing to send a message whose headers came out as {got}", permanent=True)
    return message


def message_id(alert_id: str, sender: str) -> str:
    domain = _ID_UNSAFE.sub("", parseaddr(sender)[1].rpartition("@")[2]) or "newsmon.invalid"
    return f"<{_ID_UNSAFE.sub('-', alert_id)}.newsmon@{domain}>"


def build_message(alert: Alert, sender: str, to: list[str]) -> EmailMessage:
    message = EmailMessage()  # policy.default: also refuses any raw newline that slipped through
    message["Subject"] = header(f"[newsmon] {alert.rule_title}: {alert.title}")
    message["From"] = header(sender)
    message["To"] = ", ".join(header(address) for address in to)
    detected = alert.detected_at if alert.detected_at.tzinfo else alert.detected_at.replace(tzinfo=UTC)
    # The detection time, not the send time: a retried message stays byte-identical in its headers.
    message["Date"] = format_datetime(detected)
    message["Message-ID"] = message_id(alert.id, sender)
    message["X-Newsmon-Alert-Id"] = header(alert.id)
    message["X-Newsmon-Rule"] = header(alert.rule_id)
    message.set_content(text_body(alert))
    message.add_alternative(html_body(alert), subtype="html")
    return _checked(message, _HEADERS)


def text_body(alert: Alert) -> str:
    lines = [
        f"Rule:      {one_line(alert.rule_title)} ({one_line(alert.rule_id)})",
        f"Title:     {one_line(alert.title)}",
        f"URL:       {one_line(alert.url)}",
        f"Source:    {one_line(alert.source)}",
        f"Published: {iso(alert.published) or 'unknown'}",
        f"Detected:  {iso(alert.detected_at)}",
    ]
    if alert.hits:
        lines += ["", "Hits:"] + [
            f"  {one_line(field)}: {one_line(snippet)} [{one_line(', '.join(terms))}]"
            for field, snippet, terms in snippets(alert)
        ]
    if alert.also_seen_at:
        lines += ["", "Also seen at:"] + [f"  {one_line(url)}" for url in alert.also_seen_at]
    return "\n".join(lines) + "\n"


def _e(value: str | None) -> str:
    return html.escape(one_line(value), quote=True)


def _a(url: str, label: str) -> str:
    target = link(url)
    return f'<a href="{_e(target)}">{_e(label)}</a>' if target else _e(label)


def _snippet_html(snippet: str, terms: list[str]) -> str:
    return marked(
        one_line(snippet), terms, lambda t: html.escape(t, quote=True), lambda t: f"<mark>{t}</mark>"
    )


def html_body(alert: Alert) -> str:
    return _html_page(_alert_html(alert))


def _html_page(parts: list[str]) -> str:
    return "\n".join(["<!DOCTYPE html>", '<html><head><meta charset="utf-8"></head><body>', *parts]) + (
        "\n</body></html>\n"
    )


def _alert_html(alert: Alert) -> list[str]:
    parts = [
        f"<p><strong>{_e(alert.rule_title)}</strong></p>",
        f"<h2>{_a(alert.url, alert.title)}</h2>",
        f"<p>{_e(alert.source)} · published {_e(iso(alert.published) or 'unknown')}"
        f" · detected {_e(iso(alert.detected_at))}</p>",
    ]
    if alert.hits:
        parts.append("<ul>")
        parts += [
            f"<li><em>{_e(field)}</em>: {_snippet_html(snippet, terms)}"
            f" <small>[{_e(', '.join(terms))}]</small></li>"
            for field, snippet, terms in snippets(alert)
        ]
        parts.append("</ul>")
    if alert.also_seen_at:
        parts.append("<p>Also seen at:</p><ul>")
        parts += [f"<li>{_a(url, url)}</li>" for url in alert.also_seen_at]
        parts.append("</ul>")
    return parts


def build_digest(alerts: list[Alert], sender: str, to: list[str]) -> EmailMessage:
    """One message for several alerts: the subject counts them and names the first rule; the
    Message-ID comes from the digest id, so a retried digest is recognisably the same message."""
    message = EmailMessage()
    count = len(alerts)
    first = alerts[0]
    more = f" and {count - 1} more" if count > 1 else ""
    message["Subject"] = header(
        f"[newsmon] digest: {count} alert{'s' if count != 1 else ''}: {first.rule_title}{more}"
    )
    message["From"] = header(sender)
    message["To"] = ", ".join(header(address) for address in to)
    latest = max(a.detected_at if a.detected_at.tzinfo else a.detected_at.replace(tzinfo=UTC) for a in alerts)
    message["Date"] = format_datetime(latest)
    key = digest_id(alerts)
    message["Message-ID"] = message_id(key, sender)
    message["X-Newsmon-Alert-Id"] = header(" ".join(a.id for a in alerts), 0)
    message.set_content(("\n" + "-" * 60 + "\n\n").join(text_body(a) for a in alerts))
    html_parts = [f"<h1>newsmon digest: {count} alert{'s' if count != 1 else ''}</h1>"]
    for alert in alerts:
        html_parts += ["<hr>", *_alert_html(alert)]
    message.add_alternative(_html_page(html_parts), subtype="html")
    return _checked(message, _DIGEST_HEADERS)
