"""Human-readable alerts on a text stream: the first-run and demo default."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TextIO

import aiohttp

from monitor.errors import DeliveryError
from monitor.model import Alert, Clock
from monitor.notify.base import DeliveryPolicy, Notifier, iso, one_line, snippets

_BOLD, _DIM, _CYAN, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[36m", "\x1b[0m"


@dataclass(frozen=True, slots=True)
class ConsoleOptions(DeliveryPolicy):
    color: bool = False


class ConsoleNotifier(Notifier):
    kind = "console"
    Options = ConsoleOptions
    options: ConsoleOptions

    def __init__(
        self,
        name: str,
        options: Any,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Clock | None = None,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(name, options, session=session, clock=clock)
        self._stream = stream

    async def send(self, alert: Alert) -> str:
        return self._write(render(alert, color=self.options.color))

    async def send_digest(self, alerts: list[Alert]) -> str:
        head = f"[newsmon] digest: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}\n\n"
        return self._write(head + "".join(render(a, color=self.options.color) for a in alerts))

    def _write(self, text: str) -> str:
        # Resolved at send time so pytest's capsys and a re-pointed sys.stdout are honoured.
        stream = self._stream or sys.stdout
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            raise DeliveryError(f"console: cannot write: {type(exc).__name__}") from exc
        return "written"


def render(alert: Alert, *, color: bool = False) -> str:
    """The alert as a block of lines. Every value is one line with control characters removed, so a
    hostile headline cannot move the cursor, clear the screen or fake another alert."""

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    lines = [
        paint(_BOLD, f"[newsmon] {one_line(alert.rule_title)}"),
        f"  Title:     {one_line(alert.title)}",
        f"  URL:       {paint(_CYAN, one_line(alert.url))}",
        f"  Source:    {one_line(alert.source)}",
        f"  Published: {iso(alert.published) or 'unknown'}",
        f"  Detected:  {iso(alert.detected_at)}",
    ]
    if alert.hits:
        lines.append("  Hits:")
        lines += [
            f"    {paint(_DIM, one_line(field) + ':')} {one_line(snippet)}"
            f" {paint(_DIM, '[' + one_line(', '.join(terms)) + ']')}"
            for field, snippet, terms in snippets(alert)
        ]
    if alert.also_seen_at:
        lines.append("  Also seen at:")
        lines += [f"    {one_line(url)}" for url in alert.also_seen_at]
    return "\n".join(lines) + "\n\n"
