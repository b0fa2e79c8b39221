"""One line per event. ``json`` for journald/Loki, ``text`` for a terminal, ``auto`` for whichever fits
where the lines go.

Call sites log an event name as the message and the details as ``extra`` fields, e.g.
``log.warning("fetch_failed", extra={"source": name, "url": url, "error": str(exc)})``. Every extra field
is printed once, by name: the common ones in a fixed order, then the rest as the call site gave them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from monitor.safe_text import inert_json, one_line

FIELDS = ("source", "url", "rule", "alert_id", "notifier", "outcome", "error", "count", "path", "detail")
# What every LogRecord has; anything else on a record came from a call site's ``extra``.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "event",
}
MASK = "********"
# Shorter values would blank out ordinary words; secrets this short are not worth protecting anyway.
MIN_SECRET_LENGTH = 4
# userinfo in any URL: "redis://user:pass@host" -> "redis://user:***@host". The password runs to the "@"
# even through "/", "?" or "#", which a hand-written URL may leave unescaped in it.
_USERINFO_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s/:@]*:)(?P<pw>[^\s@]+?)(?=@)", re.I)


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo (``redis://:pw@host``) replaced by ``***``."""
    return _USERINFO_PASSWORD.sub(lambda m: m.group("head") + "***", url)


def fields(record: logging.LogRecord) -> dict[str, object]:
    """The call site's ``extra`` fields of ``record`` that are set: ``FIELDS`` first, then the others."""
    found = {name: getattr(record, name) for name in FIELDS if getattr(record, name, None) is not None}
    for name, value in vars(record).items():
        if name not in _RECORD_ATTRS and name not in found and value is not None:
            found[name] = value
    return found


def resolve_format(fmt: str, stream: TextIO | None = None) -> str:
    """``auto`` -> ``text`` when the lines go to a terminal, ``json`` otherwise (journald, a file, a pipe)."""
    if fmt != "auto":
        return fmt
    target = stream or sys.stderr
    return "text" if hasattr(target, "isatty") and target.isatty() else "json"


class Scrubber:
    """Last line of defence: replaces every configured secret value, and any URL password, in a finished
    log line. Call sites already never log secrets; this catches the ones nobody thought of (a library's
    exception text quoting a URL, a traceback)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        values = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret that contains another is masked whole.
        self._pattern = (
            re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))
            if values
            else None
        )

    def __call__(self, line: str) -> str:
        if self._pattern is not None:
            line = self._pattern.sub(MASK, line)
        return _USERINFO_PASSWORD.sub(lambda m: m.group("head") + "***", line)


class JsonFormatter(logging.Formatter):
    def __init__(self, scrub: Scrubber | None = None) -> None:
        super().__init__()
        self.scrub = scrub or Scrubber()

    def format(self, record: logging.LogRecord) -> str:
        return self._format(record)

    def _format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        event = getattr(record, "event", None)
        if isinstance(event, str):
            # Call sites with a formatted message name their event in ``extra``; keep both.
            data["message"], data["event"] = data["event"], event
        data.update(fields(record))
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        # Scrubbed before encoding: JSON escapes a secret holding a quote or a backslash, and the escaped
        # form would no longer match the secret.
        scrubbed = {
            k: v if isinstance(v, int | float | bool) else self.scrub(str(v)) for k, v in data.items()
        }
        return inert_json(json.dumps(scrubbed, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    def __init__(self, scrub: Scrubber | None = None) -> None:
        super().__init__()
        self.scrub = scrub or Scrubber()

    def format(self, record: logging.LogRecord) -> str:
        return self.scrub(self._format(record))

    def _format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        # One line of inert text per event: values quote crawled titles and URLs, whose escape sequences
        # and bidi overrides would otherwise act on the operator's terminal.
        details = " ".join(f"{name}={one_line(str(value))}" for name, value in fields(record).items())
        line = f"{ts} {record.levelname:<7} {one_line(record.getMessage())} {details}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(
    fmt: str = "auto",
    level: str = "info",
    stream: TextIO | None = None,
    *,
    scrub: Scrubber | None = None,
) -> None:
    """Our loggers (``newsmon.*``) and APScheduler's on one stream, in one format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    fmt = resolve_format(fmt, stream)
    handler.setFormatter(JsonFormatter(scrub) if fmt == "json" else TextFormatter(scrub))
    for name, lvl in (("newsmon", level.upper()), ("apscheduler", "WARNING")):
        # APScheduler reports missed runs and job errors on its own logger: same format, same stream.
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(lvl)
        logger.propagate = False
