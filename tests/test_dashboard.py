"""deploy/grafana-dashboard.json stays in step with the metric names newsmon documents for operators."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.helpers.metric_names import DESIGN_METRICS

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"

METRICS = set(DESIGN_METRICS)
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
NAME = re.compile(r"\bnewsmon_[a-z0-9_]+")


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [json.dumps(v.get("query", "")) for v in dashboard.get("templating", {}).get("list", [])]
    return exprs


def base_name(name: str) -> str:
    """A histogram's series (``_bucket``…) belong to the histogram's name."""
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in METRICS:
            return name.removesuffix(suffix)
    return name


def test_dashboard_is_valid_grafana_json() -> None:
    dashboard = load()
    assert dashboard["title"] and dashboard["uid"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"] and panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])


def test_every_referenced_metric_exists() -> None:
    used = {base_name(n) for e in expressions(load()) for n in NAME.findall(e)}
    unknown = used - METRICS
    assert not unknown, f"dashboard uses metrics newsmon does not export: {sorted(unknown)}"


def test_every_metric_has_a_panel() -> None:
    used = {base_name(n) for p in load()["panels"] for t in p["targets"] for n in NAME.findall(t["expr"])}
    assert METRICS - used == set(), f"no panel shows {sorted(METRICS - used)}"


def test_required_views() -> None:
    exprs = [t["expr"] for p in load()["panels"] for t in p["targets"]]
    assert any("time() - newsmon_source_last_success_timestamp_seconds" in e for e in exprs)
    assert any("by (source, outcome)" in e and "newsmon_fetch_total" in e for e in exprs)
    assert any("newsmon_alerts_total" in e and "* 60" in e for e in exprs)  # per minute
    assert any("newsmon_articles_total" in e and "* 60" in e for e in exprs)


def test_metric_list_matches_the_exporter() -> None:
    """The list above is the contract; the exporter must offer exactly those names."""
    from monitor.metrics import Metrics

    exported = {m.name for m in Metrics().registry.collect()}
    # prometheus-client reports a counter's family name without "_total".
    exported = {n if n in METRICS else f"{n}_total" for n in exported}
    assert exported == METRICS
