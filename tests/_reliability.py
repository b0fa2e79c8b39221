"""Collects what the fault and fuzz tests tried into one JSON file, and renders docs/reliability.md's table.

Tests call :func:`record`; the file is ``$NEWSMON_RELIABILITY_OUT`` or ``<tmp>/newsmon-reliability.json``.
``python -m tests._reliability`` prints the Markdown table from that file.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def out_path() -> Path:
    return Path(
        os.environ.get("NEWSMON_RELIABILITY_OUT") or Path(tempfile.gettempdir()) / "newsmon-reliability.json"
    )


def record(
    fault: str, tried: int, *, lost: int = 0, duplicated: int = 0, crashed: int = 0, note: str = ""
) -> None:
    """Add or replace the row for ``fault`` (a re-run overwrites, never double counts)."""
    path = out_path()
    try:
        rows: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        rows = {}
    rows[fault] = {"tried": tried, "lost": lost, "duplicated": duplicated, "crashed": crashed, "note": note}
    path.write_text(json.dumps(rows, indent=1, sort_keys=True))


def render(rows: dict[str, Any]) -> str:
    lines = [
        "| fault / bad input | tried | lost | duplicated | crashed | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for fault, row in sorted(rows.items()):
        lines.append(
            f"| {fault} | {row['tried']} | {row['lost']} | {row['duplicated']} | {row['crashed']} "
            f"| {row['note']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else out_path()
    sys.stdout.write(render(json.loads(source.read_text())))
