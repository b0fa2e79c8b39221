"""The embedded store: stdlib sqlite3 on one dedicated worker thread, WAL mode.

Several daemons may share one database file: every "first or not" decision runs inside
``BEGIN IMMEDIATE``, which takes SQLite's write lock up front, so the read that decides and the write
that records the decision cannot interleave with another connection's. ``busy_timeout`` makes the
other connection wait for the lock instead of failing.

Leases, instance membership and host slots are real leases here too (rows with an expiry in wall-clock
seconds, ``time.time()``), so two daemons sharing one database file share their sources as they would on
Redis; one daemon alone simply always wins them.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import fields
from hashlib import blake2b
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from monitor.archive import Codec, Packer
from monitor.errors import StoreError
from monitor.model import Clock
from monitor.store.base import ArchivePolicy, Store
from monitor.store.sqlite.schema import SCHEMA, create_private

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
R = TypeVar("R", bound="DataclassInstance")

BUSY_TIMEOUT_MS = 10_000
PURGE_EVERY = 1_000  # writes between opportunistic purges of rows older than retention
_CHUNK = 500  # stays far below SQLite's bound-parameter limit


def url_digest(url: str) -> bytes:
    """12 bytes instead of the URL: collisions are negligible and rows stay small."""
    return blake2b(url.encode(), digest_size=12).digest()


def chunks(items: list[T], size: int = _CHUNK) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def row_as(cls: type[R], row: sqlite3.Row) -> R:
    """The dataclass ``cls`` made of the columns of ``row`` named as its fields."""
    return cls(**{f.name: row[f.name] for f in fields(cls)})


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


class SqliteBase(Store):
    """The connection, its worker thread and the periodic purge: what every part of the store shares."""

    def __init__(
        self, path: str, *, retention: float, clock: Clock, archive: ArchivePolicy | None = None
    ) -> None:
        self.path = path
        self.retention = retention
        self.clock = clock
        policy = archive or ArchivePolicy()
        self.archiving = policy.enabled is not False
        self.archive_retention = policy.retention or retention
        self.archive_max_bytes = policy.max_bytes
        self._codec = Codec()  # unpacks, on the worker thread only
        self._packer = Packer()
        self._packer_ready = False  # knows the store's dictionaries
        self._archived_bytes = 0  # written since the size cap was last checked
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._writes = 0
        self._console_ready = False

    # -- plumbing ---------------------------------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            # One thread owns the connection: sqlite3 connections must not be shared across threads,
            # and one writer per process is all SQLite can use anyway.
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsmon-sqlite")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(self._in_thread, fn, *args))
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"sqlite {self.path}: {exc}") from exc

    def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        return fn(self._connection(), *args)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                create_private(Path(self.path))
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            with immediate(conn):
                columns = {row[1] for row in conn.execute("PRAGMA table_info(seen)")}
                if columns and "rev" not in columns:
                    conn.execute("ALTER TABLE seen ADD COLUMN rev TEXT NOT NULL DEFAULT ''")
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            self._conn = conn
            self._load_dictionaries(conn)
            self._purge(conn, self.clock.time())
        return self._conn

    def _wrote(self, conn: sqlite3.Connection, now: float) -> None:
        self._writes += 1
        if self._writes % PURGE_EVERY == 0:
            self._purge(conn, now)

    def _purge(self, conn: sqlite3.Connection, now: float) -> None:
        cutoff = now - self.retention
        with immediate(conn):
            conn.execute("DELETE FROM seen WHERE at < ?", (cutoff,))
            conn.execute("DELETE FROM validators WHERE at < ?", (cutoff,))
            old = "SELECT key FROM story WHERE last_seen < ?"
            for table in ("story_band", "story_url", "story_of"):
                conn.execute(f"DELETE FROM {table} WHERE key IN ({old})", (cutoff,))
            conn.execute("DELETE FROM story WHERE last_seen < ?", (cutoff,))
            conn.execute("DELETE FROM claims WHERE at < ?", (cutoff,))
            conn.execute("DELETE FROM slots WHERE start < ?", (cutoff,))
            conn.execute("DELETE FROM alerts WHERE created_at < ?", (cutoff,))
            conn.execute("DELETE FROM archive WHERE at < ?", (now - self.archive_retention,))
            conn.execute("DELETE FROM archive_blob WHERE at < ?", (now - self.archive_retention,))
            self._cap_archive(conn)
            wall = time.time()
            conn.execute("DELETE FROM leases WHERE expires < ?", (wall,))
            conn.execute("DELETE FROM host_slots WHERE next_start < ?", (wall,))

    # -- lifecycle --------------------------------------------------------------------------------
    async def open(self) -> None:
        await self._run(lambda conn: None)

    async def close(self) -> None:
        self._packer.close()
        if self._executor is None:
            return
        executor, self._executor = self._executor, None

        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(executor, _close)
        executor.shutdown(wait=True)

    async def ping(self) -> bool:
        try:
            return await self._run(lambda conn: conn.execute("SELECT 1").fetchone()[0] == 1)
        except StoreError:
            return False

    def _load_dictionaries(self, conn: sqlite3.Connection) -> None:
        for row in conn.execute("SELECT id, data FROM archive_dict ORDER BY id"):
            self._codec.add_dictionary(row[0], row[1])

    def _cap_archive(self, conn: sqlite3.Connection) -> None:
        """Oldest first, drop blobs (and their records) until the rest fit under the cap."""
        self._archived_bytes = 0
        if not self.archive_max_bytes:
            return
        row = conn.execute(
            "SELECT id FROM (SELECT id, sum(size) OVER (ORDER BY id DESC) AS kept FROM archive_blob) "
            "WHERE kept > ? ORDER BY id DESC LIMIT 1",
            (self.archive_max_bytes,),
        ).fetchone()
        if row is not None:
            conn.execute("DELETE FROM archive WHERE blob <= ?", (row[0],))
            conn.execute("DELETE FROM archive_blob WHERE id <= ?", (row[0],))
