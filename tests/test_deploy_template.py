"""deploy/newsmon@.service is deploy/newsmon.service per instance: the same hardening, its own state
directory and metrics port, and a config that uses the port through the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import parse_config

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PER_INSTANCE = {
    "Description=newsmon news monitoring and alerting daemon, instance %i",
    "StateDirectory=newsmon-%i",
    "WorkingDirectory=/var/lib/newsmon-%i",
    "Environment=NEWSMON_METRICS_PORT=946%i",
}


def directives(path: Path) -> set[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line for line in lines if line and not line.startswith("#")}


def test_the_template_is_the_hardened_unit_plus_per_instance_settings() -> None:
    single, template = directives(DEPLOY / "newsmon.service"), directives(DEPLOY / "newsmon@.service")
    assert template - single == PER_INSTANCE
    assert single - template == {
        "Description=newsmon news monitoring and alerting daemon",
        "StateDirectory=newsmon",
        "WorkingDirectory=/var/lib/newsmon",
    }


def test_the_documented_config_takes_each_instance_its_own_metrics_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "scaling.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "rules").mkdir()
    monkeypatch.setenv("NEWSMON_METRICS_PORT", "9462")
    config = parse_config(f'{example}\n[rules]\npaths = ["{tmp_path / "rules"}"]\n', tmp_path / "c.toml")
    assert config.service.metrics == "127.0.0.1:9462"
    assert config.store.url.startswith("redis://")
