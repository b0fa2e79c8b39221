"""Notifiers: one class per ``kind``, looked up by name from the explicit registry below.

A kind's module loads when the registry is first asked for that kind, so a run pays for the kinds its
config names and no others (email brings aiosmtplib, apprise its package): ``newsmon once`` from cron
starts that much sooner."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from monitor.notify.base import Notifier

if TYPE_CHECKING:
    from monitor.notify.apprise import AppriseNotifier
    from monitor.notify.console import ConsoleNotifier
    from monitor.notify.email import EmailNotifier
    from monitor.notify.webhook import WebhookNotifier

# kind -> (module, class); each class's ``kind`` is its key here (tests/test_notify_*.py look them up).
_KINDS: dict[str, tuple[str, str]] = {
    "console": ("monitor.notify.console", "ConsoleNotifier"),
    "webhook": ("monitor.notify.webhook", "WebhookNotifier"),
    "email": ("monitor.notify.email", "EmailNotifier"),
    "apprise": ("monitor.notify.apprise", "AppriseNotifier"),
}


class _Registry(MutableMapping[str, type[Notifier]]):
    """kind -> notifier class; a kind listed in ``_KINDS`` is imported when first looked up. A new kind is
    one more line here, or one assignment (``REGISTRY[kind] = cls``) by code that defines one."""

    def __init__(self) -> None:
        self._kinds: dict[str, type[Notifier] | tuple[str, str]] = dict(_KINDS)

    def __getitem__(self, kind: str) -> type[Notifier]:
        entry = self._kinds[kind]
        if isinstance(entry, tuple):
            module, name = entry
            entry = self._kinds[kind] = getattr(importlib.import_module(module), name)
        return entry

    def __setitem__(self, kind: str, cls: type[Notifier]) -> None:
        self._kinds[kind] = cls

    def __delitem__(self, kind: str) -> None:
        del self._kinds[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)


REGISTRY: MutableMapping[str, type[Notifier]] = _Registry()


def __getattr__(name: str) -> Any:
    for module, cls in _KINDS.values():
        if cls == name:
            return getattr(importlib.import_module(module), cls)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["REGISTRY", "AppriseNotifier", "ConsoleNotifier", "EmailNotifier", "Notifier", "WebhookNotifier"]
