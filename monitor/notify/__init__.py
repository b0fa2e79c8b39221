"""Notifiers: one class per ``kind``, looked up by name from the explicit registry below."""

from __future__ import annotations

from monitor.notify.apprise import AppriseNotifier  # imports the apprise package only when used
from monitor.notify.base import Notifier
from monitor.notify.console import ConsoleNotifier
from monitor.notify.email import EmailNotifier
from monitor.notify.webhook import WebhookNotifier

REGISTRY: dict[str, type[Notifier]] = {
    ConsoleNotifier.kind: ConsoleNotifier,
    WebhookNotifier.kind: WebhookNotifier,
    EmailNotifier.kind: EmailNotifier,
    AppriseNotifier.kind: AppriseNotifier,
}

__all__ = ["REGISTRY", "AppriseNotifier", "ConsoleNotifier", "EmailNotifier", "Notifier", "WebhookNotifier"]
