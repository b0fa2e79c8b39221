"""The Lua scripts of the Redis store, one ``.lua`` file each in ``lua/`` (package data).

A script's ``--! include <file>`` line is replaced by that file (shared helpers), and ``${NAME}`` stands
for the key prefix ``NAME`` of ``monitor.store.keys``, so the key layout stays written down once.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from string import Template

from monitor.store import keys

INCLUDE = "--! include "
# The names a script may use as ``${NAME}``: prefixes a script appends a key's variable part to.
NAMES = {name: getattr(keys, name) for name in ("ALERT", "DELIVERY", "GROUP", "STORY", "STORY_URLS")}


def _file(name: str) -> str:
    return files(__package__).joinpath("lua", name).read_text(encoding="utf-8")


@functools.cache
def source(name: str) -> str:
    """The text of script ``name`` (``lua/<name>.lua``), ready for ``SCRIPT LOAD``."""
    text = "".join(
        _file(line.removeprefix(INCLUDE).strip()) if line.startswith(INCLUDE) else line + "\n"
        for line in _file(f"{name}.lua").splitlines()
    )
    # Comment lines stay in the files: Redis keeps every loaded script in memory, so they are not loaded.
    code = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return Template("\n".join(code) + "\n").substitute(NAMES)


def names() -> list[str]:
    """Every script's name (shared helpers included)."""
    return sorted(p.name.removesuffix(".lua") for p in files(__package__).joinpath("lua").iterdir())
