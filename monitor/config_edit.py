"""Edit the config file the way a person would: append ``[[sources]]`` blocks, keep every comment and layout.

tomlkit round-trips the document byte for byte except for what we add. Every edit is validated with the
same ``parse_config`` the daemon uses before the file is replaced, and the replacement is atomic (a
temporary file renamed over the original), so a running daemon reloading on SIGHUP never reads half a
file and a rejected edit leaves the file untouched.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Table

from monitor.config import Config, parse_config
from monitor.errors import ConfigError, Problem

__all__ = ["SourceBlock", "append_sources", "read_config", "render_blocks", "slug", "unique_name"]

_NOT_NAME = re.compile(r"[^\w]+")
_MAX_NAME = 60


@dataclass(frozen=True, slots=True)
class SourceBlock:
    """One ``[[sources]]`` table to write; ``interval`` is kept as the user wrote it ("5m")."""

    name: str
    url: str
    kind: str = "feed"
    interval: str | None = None
    comment: str | None = None  # written after the header, e.g. where the source came from

    def table(self) -> Table:
        table = tomlkit.table()
        if self.comment:
            table.add(tomlkit.comment(self.comment))
        table.add("name", self.name)
        table.add("kind", self.kind)
        table.add("url", self.url)
        if self.interval:
            table.add("interval", self.interval)
        return table


def slug(text: str) -> str:
    """A source name from a title or host: lower-case words joined by "-" (Unicode letters kept)."""
    words = _NOT_NAME.sub("-", text.casefold()).replace("_", "-").strip("-")
    return re.sub(r"-{2,}", "-", words)[:_MAX_NAME].strip("-")


def unique_name(wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3`` … whichever is not in ``taken``."""
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted}-{n}" in taken:
        n += 1
    return f"{wanted}-{n}"


def read_config(path: Path) -> tuple[str, Config]:
    """The file's text and its validated Config. An invalid file is refused before any edit, so an
    error reported after the edit is always the edit's fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            [Problem(str(path), 1, 1, "no config file here yet: create it first (docs/getting-started.md)")]
        ) from exc
    except OSError as exc:
        raise ConfigError([Problem(str(path), 1, 1, f"cannot read config: {exc.strerror or exc}")]) from exc
    return text, parse_config(text, path)


def append_sources(path: Path, text: str, blocks: Iterable[SourceBlock], *, write: bool = True) -> str:
    """Append ``blocks`` to the config ``text`` of ``path``; validate; write atomically unless told not to.

    Returns the new text. Raises ConfigError (nothing written) when the result would not load."""
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError([Problem(str(path), exc.line, exc.col, f"TOML syntax: {exc}")]) from exc
    existing = doc.get("sources")
    if existing is None:
        if text.strip() and not text.endswith("\n\n"):
            doc.add(tomlkit.nl())  # a blank line between what was there and the first source
        aot = tomlkit.aot()
        doc.append("sources", aot)
    elif isinstance(existing, AoT):
        aot = existing
    else:
        # `sources = [{...}]` inline: appending there would reflow the user's array; ask for a hand edit.
        raise ConfigError(
            [Problem(str(path), 1, 1, "sources is not written as [[sources]] tables; add the source by hand")]
        )
    for block in blocks:
        table = block.table()
        # A blank line after each block keeps the file readable when more tables follow the sources.
        table.add(tomlkit.nl())
        aot.append(table)
    new_text = tomlkit.dumps(doc).rstrip("\n") + "\n"
    parse_config(new_text, path)  # raises ConfigError naming file, key and reason
    if write:
        write_atomically(path, new_text)
    return new_text


def render_blocks(blocks: Iterable[SourceBlock]) -> str:
    """The TOML that :func:`append_sources` would add, for dry runs."""
    doc = tomlkit.document()
    aot = tomlkit.aot()
    for block in blocks:
        aot.append(block.table())
    doc.append("sources", aot)
    return tomlkit.dumps(doc)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename, keeping the file's permission bits."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
