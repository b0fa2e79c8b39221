"""Notice when rule files change, so the daemon can reload them without a SIGHUP.

Polling, not inotify: it works the same on every filesystem (NFS, bind mounts, containers) and needs no
dependency, and rule files change rarely enough that a stat per file every few seconds costs nothing.
A stat signature (inode, mtime, size) changing is only a hint; the content hash decides, so touching a
file or saving it unchanged does not reload. Editors save in bursts (write, rename, chmod, a second
write), so a change is reported once things have been quiet for ``debounce`` seconds, never half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from monitor.matching.rules import rule_files

log = logging.getLogger("newsmon.rules")

_Signature = tuple[tuple[str, int, int, int], ...]


class RuleWatcher:
    """Calls ``on_change()`` once per settled change to the rule files under ``paths``.

    Files and directories are watched as ``load_rules`` reads them: a file added to or removed from a
    watched directory is a change. Drive it with ``run`` or, where time is simulated, ``poll``.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        on_change: Callable[[], None],
        *,
        interval: float = 2.0,
        debounce: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.paths = tuple(paths)
        self.on_change = on_change
        self.interval = interval
        self.debounce = debounce
        self.clock = clock
        self._signature = self._stat()
        self._applied = self._hash()  # the content the current rules were loaded from
        self._seen = self._applied  # the content last looked at
        self._changed_at: float | None = None  # when the content last changed, while a change is pending

    def poll(self) -> bool:
        """Look once; return True if ``on_change`` was called."""
        signature = self._stat()
        # While a change settles, look at the content every time: a second write within the filesystem's
        # timestamp granularity that keeps the size can leave the signature as it was.
        if signature != self._signature or self._changed_at is not None:
            self._signature = signature
            digest = self._hash()
            if digest != self._seen:
                self._seen = digest
                # Back to what is loaded (an edit undone before it settled): nothing to reload.
                self._changed_at = None if digest == self._applied else self.clock()
        if self._changed_at is None or self.clock() - self._changed_at < self.debounce:
            return False
        self._changed_at = None
        self._applied = self._seen
        try:
            self.on_change()
        except Exception:
            # The watcher outlives a failing callback: the next edit must still be noticed.
            log.exception("rules_watch_callback_failed")
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            # Hashing a few rule files is fast enough to do on the loop; no thread needed.
            self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    def _files(self) -> list[Path]:
        return rule_files([p for p in self.paths if p.exists()]) + [p for p in self.paths if not p.exists()]

    def _stat(self) -> _Signature:
        signature = []
        for path in self._files():
            try:
                st = path.stat()
            except OSError:
                signature.append((str(path), -1, -1, -1))
            else:
                signature.append((str(path), st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(signature)

    def _hash(self) -> str:
        digest = hashlib.sha256()
        for path in self._files():
            digest.update(str(path).encode() + b"\0")
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"\0missing\0")
            digest.update(b"\0")
        return digest.hexdigest()
