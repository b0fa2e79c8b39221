"""``newsmon init [DIR]``: a starter config and the example rules for a new user, never overwriting."""

from __future__ import annotations

import shutil
from pathlib import Path

from monitor.errors import NewsmonError
from monitor.examples import STARTER_CONFIG, example_rules


def init(folder: Path) -> list[Path]:
    """Write ``folder/config.toml`` and ``folder/rules/``; return the files written.

    Refuses, writing nothing, when the config exists or the rules folder holds anything: the user's own
    files are never replaced and example rules never land among theirs.
    """
    config = folder / "config.toml"
    rules = folder / "rules"
    taken = [str(config)] if config.exists() or config.is_symlink() else []
    if rules.is_symlink() or (rules.exists() and not (rules.is_dir() and not any(rules.iterdir()))):
        taken.append(str(rules))
    if taken:
        raise NewsmonError(
            f"init: {', '.join(taken)} already there; nothing written (init never overwrites). "
            "Move them aside, or run `newsmon init DIR` for a new folder."
        )
    rules.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(example_rules().iterdir()):
        if source.suffix in (".yaml", ".json"):
            written.append(_copy(source, rules / source.name))
    return [_copy(STARTER_CONFIG, config), *written]


def _copy(source: Path, target: Path) -> Path:
    with source.open("rb") as src, target.open("xb") as dst:  # "x": a file appearing meanwhile is kept
        shutil.copyfileobj(src, dst)
    return target


def run_init(folder: Path) -> int:
    for path in init(folder):
        print(f"wrote {path}")
    config = folder / "config.toml"
    print(f"\nnext: newsmon check -c {config}   then   newsmon run -c {config}")
    return 0
