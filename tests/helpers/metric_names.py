"""The metric names newsmon documents for operators, for the tests of /metrics and the dashboard."""

from __future__ import annotations

# The metrics README.md "Running as a service" documents, plus the reload error counter
# the service exports.
DESIGN_METRICS = (
    "newsmon_fetch_total",
    "newsmon_fetch_seconds",
    "newsmon_articles_total",
    "newsmon_matches_total",
    "newsmon_alerts_total",
    "newsmon_outbox_pending",
    "newsmon_source_last_success_timestamp_seconds",
    "newsmon_rules_loaded",
    "newsmon_rules_reload_errors_total",
)
