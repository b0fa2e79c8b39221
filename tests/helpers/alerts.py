"""A fully populated alert, for tests that store or render one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from monitor.model import Alert, Hit


def make_alert(alert_id: str = "a1", **changes: object) -> Alert:
    fields: dict[str, object] = {
        "id": alert_id,
        "rule_id": "atacms-strikes-in-russia",
        "rule_title": "ATACMS used inside Russia",
        "story_key": "00ff00ff00ff00ff",
        "url": f"https://news.example.org/{alert_id}",
        "title": "Missiles hit Kursk – “ATACMS”",
        "source": "example",
        "published": datetime(2024, 11, 19, 8, 30, tzinfo=timezone(timedelta(hours=3))),
        "detected_at": datetime(2024, 11, 19, 9, 0, 1, 250000, tzinfo=UTC),
        "hits": (
            Hit(term="ATACMS", entity="atacms", field="title", start=20, end=26, snippet="… “ATACMS” …"),
            Hit(term="Kursk", entity=None, field="body", start=3, end=8, snippet="in Kursk region"),
        ),
        "also_seen_at": ("https://mirror.example.net/x",),
    }
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]
