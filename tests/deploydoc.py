"""deploy/README.md's marked blocks, for tests/test_deploy.py and tests/test_container.py.

A block preceded by ``<!-- deploy-test: KIND -->`` is run (``run``: shell) or applied (``edit``,
``docker-edit``: TOML whose tables set their keys in a config and whose [[arrays]] are appended).
"""

from __future__ import annotations

import re
from pathlib import Path

import tomlkit
import tomlkit.items

README = Path(__file__).resolve().parents[1] / "deploy" / "README.md"
MARKED = re.compile(r"<!-- deploy-test: (?P<kind>[\w-]+) -->\n```\w*\n(?P<body>.*?)```", re.S)
CONTAINER_PART = "# Running newsmon in a container"


def marked(kind: str) -> list[str]:
    return [m["body"] for m in MARKED.finditer(README.read_text()) if m["kind"] == kind]


def systemd_steps() -> list[tuple[str, str]]:
    """(kind, body) of every marked block before the container part, in order."""
    part = README.read_text().split(CONTAINER_PART)[0]
    return [(m["kind"], m["body"]) for m in MARKED.finditer(part)]


def apply_edits(config: Path, edits: str) -> None:
    doc = tomlkit.parse(config.read_text())
    for name, value in tomlkit.parse(edits).items():
        if isinstance(value, tomlkit.items.AoT):
            for table in value:
                doc.setdefault(name, tomlkit.aot()).append(table)
        else:
            for key, item in value.items():
                doc.setdefault(name, tomlkit.table())[key] = item
    config.write_text(tomlkit.dumps(doc))
