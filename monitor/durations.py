"""Durations as people write them in config and rule files: ``"90s"``, ``"2m"``, ``"1h30m"``, ``"30d"``."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: object) -> float:
    """``"90s"``, ``"2m"``, ``"1h30m"``, ``"30d"`` -> seconds.

    A bare number is refused: ``interval = 120`` could mean seconds or minutes, and guessing wrong polls a
    site sixty times too often or too rarely, so the error says how to write it."""
    if isinstance(value, bool):
        raise ValueError('expected a duration like "90s", "2m", "48h" or "30d"')
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        value = float(value) if "." in value else int(value)
    if isinstance(value, int | float):
        raise ValueError(
            f"a duration needs a unit, got the bare number {value!r}: write {_with_units(value)}"
        )
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION_PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(float(n) * _UNITS[u] for n, u in parts)
    raise ValueError(f'expected a duration like "90s", "2m", "48h" or "30d", got {value!r}')


def _with_units(number: float) -> str:
    """``120`` -> ``"120s" or "2m"``: the fix for a duration written without a unit."""
    seconds = f"{number:g}s"
    if number > 0 and number % 60 == 0:
        return f'"{seconds}" or "{number / 60:g}m" (seconds or minutes?)'
    return f'e.g. "{seconds}" if you meant seconds'
