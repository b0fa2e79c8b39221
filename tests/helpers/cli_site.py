"""A config for the CLI tests: the repository's rules and a loopback site's front page and feed."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, base: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[store]
url = "sqlite://state.db"
[http]
allow_private_networks = true
respect_robots = false
per_host_delay = "0s"
[rules]
paths = ["{ROOT / "rules"}"]
[alerts]
first_run = "alert"
[[sources]]
name = "front"
kind = "html"
url = "{base}/"
[[sources]]
name = "feed"
kind = "feed"
url = "{base}/feed.xml"
[[notifiers]]
name = "terminal"
kind = "console"
[service]
metrics = ""  # no /healthz: `status` must not ask whatever else listens on the default port
"""
    )
    return config
