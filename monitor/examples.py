"""Where the files shipped as examples live: the example rules and the starter config.

A wheel carries the repository's top-level ``rules/`` as ``monitor/example_rules`` (pyproject.toml maps
the folder, so the tree holds one copy); a checkout or editable install reads ``rules/`` itself.
"""

from __future__ import annotations

from pathlib import Path

from monitor.errors import NewsmonError

_PACKAGE = Path(__file__).resolve().parent
STARTER_CONFIG = _PACKAGE / "starter.toml"
_RULE_FOLDERS = (_PACKAGE / "example_rules", _PACKAGE.parent / "rules")


def example_rules() -> Path:
    """The folder of example rule files (``*.yaml`` and their ``schema.json``)."""
    for folder in _RULE_FOLDERS:
        if (folder / "schema.json").is_file():
            return folder
    looked = " and ".join(str(folder) for folder in _RULE_FOLDERS)
    raise NewsmonError(
        f"the example rules are missing from this install (looked in {looked}); reinstall newsmon"
    )
