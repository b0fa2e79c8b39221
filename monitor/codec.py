"""Alert <-> JSON-able dict, used by the stores (outbox rows) and the CLI (``alerts list --json``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from monitor.model import Alert, Hit


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    data = asdict(alert)
    data["published"] = alert.published.isoformat() if alert.published else None
    data["detected_at"] = alert.detected_at.isoformat()
    data["hits"] = [asdict(h) for h in alert.hits]
    data["also_seen_at"] = list(alert.also_seen_at)
    return data


def alert_from_dict(data: dict[str, Any]) -> Alert:
    detected = _dt(data["detected_at"])
    assert detected is not None
    return Alert(
        id=data["id"],
        rule_id=data["rule_id"],
        rule_title=data["rule_title"],
        story_key=data["story_key"],
        url=data["url"],
        title=data["title"],
        source=data["source"],
        published=_dt(data.get("published")),
        detected_at=detected,
        hits=tuple(Hit(**h) for h in data["hits"]),
        also_seen_at=tuple(data.get("also_seen_at", ())),
    )


def dumps_alert(alert: Alert) -> str:
    return json.dumps(alert_to_dict(alert), ensure_ascii=False, separators=(",", ":"))


def loads_alert(text: str | bytes) -> Alert:
    return alert_from_dict(json.loads(text))
