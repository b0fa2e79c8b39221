"""Print a pip constraints file holding every direct dependency at its lowest allowed release.

`.ci/run` installs newsmon with it in a separate virtualenv and runs the fast suite, so a lower bound in
pyproject.toml is a tested claim. A dependency without a lower bound is refused: it could not be tested.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<spec>[^;]*)(?P<marker>;.*)?$")
LOWEST = re.compile(r"(?:>=|==|~=)\s*(?P<version>[^,\s]+)")


def lowest(requirements: list[str]) -> list[str]:
    pins: dict[str, str] = {}
    for requirement in requirements:
        m = REQUIREMENT.match(requirement.strip())
        bound = LOWEST.search(m["spec"]) if m else None
        if not m or not bound:
            sys.exit(f"pyproject.toml: {requirement!r} has no lower bound (>=, == or ~=); give it one")
        pins[m["name"].lower()] = f"{m['name']}=={bound['version']}{m['marker'] or ''}"
    return sorted(pins.values(), key=str.lower)


def main() -> None:
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    print("# The lowest release pyproject.toml allows of each direct dependency (.ci/lowest.py).")
    print("\n".join(lowest(requirements)))


if __name__ == "__main__":
    main()
