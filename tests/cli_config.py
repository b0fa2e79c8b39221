"""A config and rule folder for running CLI commands (``once``, ``status``) against loopback sites."""

from __future__ import annotations

from pathlib import Path


def cli_config(
    tmp_path: Path,
    sources: list[tuple[str, str, str]],
    rules: str,
    *,
    allow_private: bool = True,
    source_extra: str = "",
    notifier: str = 'kind = "console"',
) -> Path:
    """``tmp_path/config.toml``: SQLite in ``tmp_path``, ``rules`` in ``rules/r.yaml``, alerts on the first
    run, one notifier named "out". ``sources`` are (name, kind, url); ``source_extra`` goes in each."""
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "r.yaml").write_text(rules)
    text = f"""[store]
url = "sqlite://state.db"
[http]
allow_private_networks = {"true" if allow_private else "false"}
respect_robots = false
per_host_delay = "0s"
[rules]
paths = ["rules"]
[alerts]
first_run = "alert"
"""
    for name, kind, url in sources:
        text += f'[[sources]]\nname = "{name}"\nkind = "{kind}"\nurl = "{url}"\n{source_extra}\n'
    text += f'[[notifiers]]\nname = "out"\n{notifier}\n'
    config = tmp_path / "config.toml"
    config.write_text(text)
    return config
