"""Alerts through Apprise (optional extra ``newsmon[apprise]``): Telegram, Teams, Matrix, ntfy, Pushover, …

Apprise makes one attempt and answers success or failure without saying whether trying again could help,
so every failure is retryable and the outbox's backoff does the retrying Apprise itself does not. Its
``notify`` is blocking (``requests``), so it runs in a daemon thread with our own deadline: a receiver
that never answers costs one stuck thread, never the event loop or a clean exit. A send that times out
may still arrive later, so a retry can deliver twice; Apprise targets have no idempotency key to stop it.

The ``apprise`` package is imported only when needed, so newsmon without the extra still starts and a
config that asks for ``kind = "apprise"`` fails validation with the install hint.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from monitor.errors import DeliveryError
from monitor.model import Alert
from monitor.notify.base import DeliveryPolicy, Notifier, iso, link, one_line, snippets

INSTALL_HINT = 'kind "apprise" needs: pip install newsmon[apprise]'
_DETAIL_CHARS = 300


def _import_apprise() -> Any:
    with warnings.catch_warnings():
        # Apprise's optional PGP support imports the deprecated stdlib imghdr; not our warning to fix.
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module("apprise")


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme or "?"
    except ValueError:
        return "?"


@dataclass(frozen=True, slots=True)
class AppriseOptions(DeliveryPolicy):
    urls: list[str] = field(default_factory=list)  # Apprise URLs: "tgram://…", "ntfy://…", "json://…"
    title_prefix: str = "[newsmon]"
    timeout: float = 30.0

    def problems(self) -> list[tuple[str, str]]:
        return [] if self.urls else [("urls", 'no urls: list at least one, e.g. "ntfy://ntfy.sh/TOPIC"')]

    def __repr__(self) -> str:
        # Apprise URLs carry their tokens in the URL itself; the scheme is all that is safe to show.
        schemes = [f"{_scheme(u)}://…" for u in self.urls]
        return (
            f"AppriseOptions(urls={schemes!r}, title_prefix={self.title_prefix!r}, timeout={self.timeout!r})"
        )


class AppriseNotifier(Notifier):
    kind = "apprise"
    Options = AppriseOptions
    options: AppriseOptions

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this kind cannot be used here (the package is missing), or None."""
        try:
            _import_apprise()
        except ImportError:
            return INSTALL_HINT
        return None

    async def send(self, alert: Alert) -> str:
        return await self._notify(*render(alert, self.options.title_prefix))

    async def send_digest(self, alerts: list[Alert]) -> str:
        return await self._notify(*render_digest(alerts, self.options.title_prefix))

    async def _notify(self, title: str, body: str) -> str:
        opts = self.options
        if not opts.urls:
            raise DeliveryError("apprise: no urls configured", permanent=True)
        try:
            apprise = _import_apprise()
        except ImportError as exc:
            raise DeliveryError(f"apprise: {INSTALL_HINT}", permanent=True) from exc
        ok, detail = await _in_thread(lambda: _notify(apprise, opts, title, body), opts.timeout)
        n = len(opts.urls)
        if ok:
            return f"apprise: {n} service{'s' if n != 1 else ''} notified"
        raise DeliveryError(f"apprise: {self._scrub(detail)}")

    def _scrub(self, text: str) -> str:
        """Apprise log lines can quote a URL; keep path segments, query values and passwords out."""
        tokens: list[str] = []
        for url in self.options.urls:
            with contextlib.suppress(ValueError):
                parts = urlsplit(url)
                tokens += [seg for seg in (parts.netloc + parts.path).split("/") if len(seg) >= 6]
                tokens += [v for pair in parts.query.split("&") for v in pair.split("=")[1:] if len(v) >= 4]
                tokens += [t for t in (parts.password, parts.username) if t]
        for token in sorted(set(tokens), key=len, reverse=True):
            text = text.replace(token, "…")
        return one_line(text, _DETAIL_CHARS)


def _notify(apprise: Any, opts: AppriseOptions, title: str, body: str) -> tuple[bool, str]:
    """One blocking Apprise call: (delivered to every URL, the warnings it logged)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = apprise.Apprise()
        bad = [i for i, url in enumerate(opts.urls) if not client.add(url)]
        if bad:
            # Apprise could not make sense of these URLs: no retry will change that.
            which = ", ".join(f"#{i + 1} ({_scheme(opts.urls[i])}://)" for i in bad)
            raise DeliveryError(
                f"apprise: cannot use URL {which}: unknown service or bad URL", permanent=True
            )
        kwargs: dict[str, Any] = {"body": body, "title": title}
        if "timeout" in inspect.signature(client.notify).parameters:
            kwargs["timeout"] = opts.timeout  # Apprise 2.x bounds the whole call itself
        with apprise.LogCapture(level=apprise.logging.WARNING, fmt="%(message)s") as logs:
            result = client.notify(**kwargs)
            detail = logs.getvalue()
    # bool(): Apprise 1.x returns a bool, 2.x an AppriseResult that is true only on full success.
    return bool(result), one_line(detail) or "a service did not accept the notification"


async def _in_thread(call: Any, seconds: float) -> tuple[bool, str]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[bool, str]] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            result, error = call(), None
        except BaseException as exc:  # handed to the loop, which decides what it means
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed while we were blocked
            loop.call_soon_threadsafe(settle, result, error)

    # Not the default executor: asyncio.run() waits for its threads at exit, so one hung receiver
    # would hold up a clean shutdown. A daemon thread is abandoned instead.
    threading.Thread(target=run, name="newsmon-apprise", daemon=True).start()
    try:
        return await asyncio.wait_for(future, seconds)
    except TimeoutError as exc:
        raise DeliveryError(f"apprise: no answer within {seconds:g}s") from exc
    except DeliveryError:
        raise
    except Exception as exc:
        # Plugins raise whatever their HTTP or SDK library raises; it is a failed attempt all the same.
        raise DeliveryError(f"apprise: {type(exc).__name__}") from exc


def render(alert: Alert, prefix: str) -> tuple[str, str]:
    """(title, plain-text body). Values are one-lined so a hostile headline cannot fake extra lines."""
    title = one_line(f"{prefix} {one_line(alert.rule_title)}: {one_line(alert.title)}".strip(), 250)
    lines = [one_line(alert.title)]
    url = link(alert.url)
    if url:
        lines.append(url)
    meta = f"Source: {one_line(alert.source)}"
    if alert.published:
        meta += f" · published {iso(alert.published)}"
    lines += [meta, f"Rule: {one_line(alert.rule_title)} ({one_line(alert.rule_id)})"]
    for field_name, snippet, terms in snippets(alert):
        lines.append(
            f"{one_line(field_name)} [{', '.join(one_line(t) for t in terms)}]: {one_line(snippet, 300)}"
        )
    if alert.also_seen_at:
        lines.append("Also seen at: " + ", ".join(u for u in (link(x) for x in alert.also_seen_at[:10]) if u))
    return title, "\n".join(lines)


def render_digest(alerts: list[Alert], prefix: str) -> tuple[str, str]:
    """One message for several alerts: a count in the title, then each alert's block."""
    title = one_line(f"{prefix} {len(alerts)} alert{'s' if len(alerts) != 1 else ''}".strip(), 250)
    blocks = []
    for alert in alerts:
        head, body = render(alert, "")
        blocks.append(f"{head}\n{body.split(chr(10), 1)[1]}")  # the head already names the article
    return title, "\n\n".join(blocks)
