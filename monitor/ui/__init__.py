"""The web console: recent alerts, source health, rules and a rule playground, served by the daemon on
its metrics listener under /ui/ (``[service] ui = true``). Server-rendered; see docs/console.md."""

from monitor.ui.app import Console

__all__ = ["Console"]
