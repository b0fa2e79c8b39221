"""The one validation of a config and its rules, shared by ``check``, ``run``, ``once``, ``demo`` and every
reload, so that what ``newsmon check`` accepts is exactly what the daemon runs.

Rules are part of the config: a rule naming an unknown source or notifier, a rules folder that does not
exist and a rule file that does not load are errors of the whole, reported together as
``path:line:col: message``. What differs between commands is only how an *empty* setup counts: a config
with no sources, no rules or no notifiers is a warning for ``check`` (a config being written) and an error
for the daemon, which would otherwise sit there doing nothing, or worse, mark articles seen that no rule
was ever asked about.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from monitor.config import Config, load_config
from monitor.config_tables import problem_at
from monitor.errors import ConfigError, Problem, RuleError
from monitor.matching.rules import RuleSet, load_rules, rule_files

Part = Literal["sources", "rules", "notifiers"]
EVERYTHING: frozenset[Part] = frozenset({"sources", "rules", "notifiers"})

NO_SOURCES = "no [[sources]]: add one with `newsmon sources add URL`, or by hand (name, kind, url)"
NO_NOTIFIERS = (
    'no [[notifiers]]: alerts would reach nobody; add one, e.g. [[notifiers]] name = "terminal" '
    'kind = "console"'
)


@dataclass(frozen=True, slots=True)
class Loaded:
    """A config and the rules it names, both valid; ``warnings`` are what ``check`` prints beside them."""

    config: Config
    rules: RuleSet
    warnings: tuple[Problem, ...]


def load(path: Path, *, strict: bool) -> Loaded:
    """Read and validate the config at ``path`` and every rule file it names.

    Raises ``ConfigError`` carrying every problem (config and rules, errors and warnings) when any is an
    error. ``strict`` (the daemon) makes an empty setup an error; otherwise it is a warning."""
    return validate(load_config(path), require=EVERYTHING if strict else frozenset())


def validate(config: Config, *, require: Collection[Part]) -> Loaded:
    """The rule-level half of ``load`` for a config already parsed. Each part in ``require`` must not be
    empty: an error, where otherwise it is a warning. The service itself requires only rules (its
    invariant: nothing is marked seen unmatched); the commands that run it require everything."""
    problems: list[Problem] = []

    def severity(part: Part) -> str:
        return "error" if part in require else "warning"

    for i, (written, path) in enumerate(zip(config.rules.paths, config.rule_paths, strict=True)):
        if not path.exists():
            problems.append(
                problem_at(
                    config.path,
                    f"rules.paths[{i}]",
                    f"{written!r} does not exist (looked for {path}); fix the path or create the folder",
                )
            )
    rules: RuleSet | None = None
    try:
        rules = load_rules(
            [p for p in config.rule_paths if p.exists()],
            sources={s.name for s in config.sources},
            notifiers={n.name for n in config.notifiers},
        )
    except RuleError as exc:
        problems.extend(exc.problems)
    else:
        problems.extend(rules.warnings)
        missing_path = any(p.message.startswith("rules.paths[") for p in problems)
        if not rules.rules and not missing_path:
            found = len(rule_files([p for p in config.rule_paths if p.exists()]))
            where = ", ".join(repr(p) for p in config.rules.paths) or "no paths"
            detail = (
                f"{found} rule file(s) in {where} define no rule" if found else f"no rule files in {where}"
            )
            problems.append(
                problem_at(
                    config.path,
                    "rules.paths",
                    f"no rules loaded ({detail}); every article would be marked seen unmatched. "
                    "Add a *.yaml rule file (see docs/rules.md)",
                    severity("rules"),
                )
            )
    if not config.sources:
        problems.append(problem_at(config.path, "sources", NO_SOURCES, severity("sources")))
    if not config.notifiers:
        problems.append(problem_at(config.path, "notifiers", NO_NOTIFIERS, severity("notifiers")))
    if any(p.severity == "error" for p in problems) or rules is None:
        raise ConfigError(problems)
    return Loaded(config, rules, tuple(problems))


__all__ = ["EVERYTHING", "Loaded", "load", "validate"]
