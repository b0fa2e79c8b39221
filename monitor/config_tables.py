"""A TOML table -> a frozen dataclass, with every problem located on its line of the file.

A dataclass's fields are the only keys allowed (a typo is an error with a "did you mean"); values are
coerced to the field's type (durations, literals, secrets, lists), ``${VAR}`` is expanded from the
environment, and a secret field also takes ``NAME_file`` (a systemd credential or a file).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import re
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from monitor.durations import parse_duration
from monitor.errors import Problem
from monitor.secret import Secret

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def did_you_mean(word: str, allowed: Iterable[str]) -> str:
    """`` (did you mean "x"?)`` for the closest allowed name, or ``""``."""
    hint = difflib.get_close_matches(word, sorted(allowed), n=1)
    return f' (did you mean "{hint[0]}"?)' if hint else ""


def relative_to(config_path: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else config_path.parent / path


def _secret_path(config_path: Path, value: str) -> Path:
    """A relative ``*_file`` names a systemd credential first (``LoadCredential=NAME:...`` puts it in
    ``$CREDENTIALS_DIRECTORY``), else a file next to the config."""
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials and not Path(value).expanduser().is_absolute():
        candidate = Path(credentials) / value
        if candidate.is_file():
            return candidate
    return relative_to(config_path, value)


class Collector:
    """Collects problems for one file; locates a key path on a best-effort line for editors."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.problems: list[Problem] = []

    def add(self, keypath: str, message: str) -> None:
        line = self._locate(keypath)
        self.problems.append(Problem(str(self.path), line, 1, f"{keypath}: {message}"))

    def _locate(self, keypath: str) -> int:
        # "sources[2].interval" -> the third [[sources]] header, then the first "interval =" after it.
        parts = re.findall(r"([A-Za-z0-9_\-]+)(?:\[(\d+)\])?", keypath)
        start = 0
        for i, (name, index) in enumerate(parts):
            last = i == len(parts) - 1
            if index:
                header = re.compile(rf"^\s*\[\[\s*{re.escape(name)}\s*\]\]")
                hits = [n for n, line in enumerate(self.lines) if header.match(line) and n >= start]
                if int(index) < len(hits):
                    start = hits[int(index)]
                continue
            pattern = (
                re.compile(rf"^\s*{re.escape(name)}(_file)?\s*=")
                if last
                else re.compile(rf"^\s*\[\s*{re.escape(name)}\s*\]")
            )
            for n in range(start, len(self.lines)):
                if pattern.match(self.lines[n]):
                    start = n
                    break
        return start + 1


def problem_at(path: Path, keypath: str, message: str, severity: str = "error") -> Problem:
    """A problem about ``keypath`` of the config file at ``path``, located on the key's line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    line = Collector(path, text)._locate(keypath)
    return Problem(str(path), line, 1, f"{keypath}: {message}", severity)


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp) if a is not type(None))
    if origin is list:
        return "a list of " + _type_name(get_args(tp)[0]) + "s"
    return {
        str: "a string",
        int: "an integer",
        float: 'a duration or number (e.g. "30s")',
        bool: "true or false",
        Secret: "a secret string",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(tp: Any, value: Any) -> Any:
    """Value of TOML type -> the field's type, or ValueError with what was expected."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        errors = []
        for arg in args:
            try:
                return _coerce(arg, value)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if len(errors) == 1 else f"expected {_type_name(tp)}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ValueError(f"expected {_type_name(tp)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"expected {_type_name(tp)}, got {value!r}")
        return [_coerce(get_args(tp)[0], v) for v in value]
    if tp is float:
        return parse_duration(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    if tp is Secret:
        if not isinstance(value, str):
            # Never the value: a secret mistyped as a number is still the secret.
            raise ValueError(f"expected a secret string (in quotes), got {type(value).__name__}")
        if not value:
            # An empty secret turns signing, login or the console token off without a word.
            raise ValueError("the secret is empty: set it, or remove the key")
        return Secret(value)
    raise ValueError(f"unsupported option type {tp!r}")  # pragma: no cover - a programming error


def _expand_env(value: Any, keypath: str, out: Collector) -> Any:
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                out.add(keypath, f"environment variable {name} is not set")
                return ""
            return os.environ[name]

        return _ENV_REF.sub(repl, value)
    if isinstance(value, list):
        return [_expand_env(v, f"{keypath}[{i}]", out) for i, v in enumerate(value)]
    return value


def _is_secret(tp: Any) -> bool:
    return tp is Secret or Secret in get_args(tp)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """``get_type_hints`` once per class: a config of 100,000 sources builds as many Source tables, and
    evaluating the annotations each time cost most of its parsing."""
    return get_type_hints(cls)


@functools.cache
def _schema(
    cls: type,
    skip: tuple[str, ...],
    aliases: tuple[tuple[str, str], ...],
    hints: tuple[tuple[str, Any], ...],
) -> tuple[dict[str, Any], dict[str, dataclasses.Field[Any]], frozenset[str], list[str]]:
    """What ``build`` checks a table of ``cls`` against, worked out once per class and options (a config
    of 100,000 sources has as many tables): the field types, the fields, the secret ones among them and
    the keys a table may have."""
    toml_key = {v: k for k, v in aliases}  # field name -> the key users write
    types = _type_hints(cls) | dict(hints)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    secret_fields = frozenset(name for name in fields if _is_secret(types[name]))
    allowed = sorted(
        [toml_key.get(n, n) for n in fields] + [f"{toml_key.get(n, n)}_file" for n in secret_fields]
    )
    return types, fields, secret_fields, allowed


def build(
    cls: type,
    table: Any,
    keypath: str,
    out: Collector,
    *,
    skip: tuple[str, ...] = (),
    aliases: dict[str, str] | None = None,
    hints: dict[str, Any] | None = None,
) -> Any:
    """Build dataclass ``cls`` from a TOML table, reporting every problem under ``keypath``. ``hints``
    overrides field types known only at run time (the source kinds a registry holds)."""
    if not isinstance(table, dict):
        out.add(keypath, f"expected a table, got {table!r}")
        return None
    aliases = aliases or {}
    hints, fields, secret_fields, allowed = _schema(
        cls, skip, tuple(aliases.items()), tuple((hints or {}).items())
    )
    kwargs: dict[str, Any] = {}
    ok = True
    for key, raw in table.items():
        if key in skip:
            continue
        sub = f"{keypath}.{key}" if keypath else key
        from_file = key.endswith("_file") and key not in fields
        base_key = key[:-5] if from_file else key
        name = aliases.get(base_key, base_key)
        if key not in allowed or name not in fields or (from_file and name not in secret_fields):
            out.add(sub, f"unknown key{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")
            ok = False
            continue
        value = _expand_env(raw, sub, out)
        if from_file:
            if not isinstance(value, str):
                out.add(sub, f"expected a file path, got {value!r}")
                ok = False
                continue
            secret_path = _secret_path(out.path, value)
            try:
                value = secret_path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                out.add(sub, f"cannot read secret file {secret_path}: {exc.strerror or exc}")
                ok = False
                continue
            if not value:
                out.add(sub, f"secret file {secret_path} is empty")
                ok = False
                continue
        try:
            kwargs[name] = _coerce(hints[name], value)
        except ValueError as exc:
            out.add(sub, str(exc))
            ok = False
    for name, f in fields.items():
        if (
            name not in kwargs
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ):
            out.add(f"{keypath}.{aliases.get(name, name)}" if keypath else name, "required key is missing")
            ok = False
    return cls(**kwargs) if ok else None
