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
import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from hashlib import blake2b
from pathlib import Path
from typing import TypeVar

from monitor.archive import ArchivedArticle, Codec, Packer, decode_payload
from monitor.codec import dumps_alert, loads_alert
from monitor.errors import StoreError
from monitor.fingerprint import Fingerprint, containment, same_story
from monitor.model import Alert, Clock, Delivery
from monitor.store.base import (
    ArchivePolicy,
    ArchiveStats,
    Quarantined,
    SourceState,
    Store,
    StoryRef,
    Validators,
    claimed_id,
)
from monitor.store.console import DAY, WEEK, AlertQuery, RuleStats, SourceHealth, StoredAlert

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
PURGE_EVERY = 1_000  # writes between opportunistic purges of rows older than retention
MAX_STORY_URLS = 50
ARCHIVE_PAGE = 2_000  # archived records read per query of a scan
# The archive's size cap is enforced after this share of it was written since the last check, so a
# busy store checks a few times per cap's worth of articles instead of summing sizes on every write.
CAP_CHECK_SHARE = 0.02
_CHUNK = 500  # stays far below SQLite's bound-parameter limit
_Page = tuple[list[bytes], tuple[float, int, int]]  # payloads, and the (at, blob, pos) to read on from

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    h BLOB PRIMARY KEY,
    at REAL NOT NULL,
    rev TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_at ON seen(at);
CREATE TABLE IF NOT EXISTS validators (
    h BLOB PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    at REAL NOT NULL
) WITHOUT ROWID;
-- SimHash-era story tables: their fingerprints cannot be compared with MinHash ones.
DROP TABLE IF EXISTS story_bands;
DROP TABLE IF EXISTS story_urls;
DROP TABLE IF EXISTS stories;
CREATE TABLE IF NOT EXISTS story (
    key TEXT PRIMARY KEY,
    sig TEXT NOT NULL,
    size INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS story_band (
    band INTEGER NOT NULL,
    value INTEGER NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (band, value, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS story_band_key ON story_band(key);
CREATE TABLE IF NOT EXISTS story_url (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    url TEXT NOT NULL,
    UNIQUE (key, url)
);
CREATE TABLE IF NOT EXISTS story_of (
    h BLOB PRIMARY KEY,
    key TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS story_of_key ON story_of(key);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    n INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS slots (
    notifier TEXT NOT NULL,
    start REAL NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (notifier, start)
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
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    instance TEXT PRIMARY KEY,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS host_slots (
    host TEXT PRIMARY KEY,
    next_start REAL NOT NULL
);
-- The article archive: records packed in blobs of one write each (see monitor.archive), and an index row
-- per article naming its blob and place. A record replaced by a newer one of its URL stays in its blob
-- until the blob's retention or the size cap drops it.
CREATE TABLE IF NOT EXISTS archive_blob (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,  -- the newest detected_at in it
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS archive (
    h BLOB PRIMARY KEY,
    at REAL NOT NULL,
    source TEXT NOT NULL,
    blob INTEGER NOT NULL,
    pos INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS archive_at ON archive(at, blob, pos);
CREATE TABLE IF NOT EXISTS archive_dict (
    id INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    url TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY,
    last_attempt REAL,
    last_success REAL,
    last_error TEXT,
    articles_seen INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rhythms (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
"""


def _create_private(path: Path) -> None:
    """The database file (0600) and any folders leading to it (0700) that do not exist yet: alerts,
    article URLs and rule ids are nobody else's business, whatever the umask. SQLite gives its -wal and
    -shm files the database file's mode. What exists already is left as the operator made it."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def url_digest(url: str) -> bytes:
    """12 bytes instead of the URL: collisions are negligible and rows stay small."""
    return blake2b(url.encode(), digest_size=12).digest()


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
                _create_private(Path(self.path))
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            with _immediate(conn):
                columns = {row[1] for row in conn.execute("PRAGMA table_info(seen)")}
                if columns and "rev" not in columns:
                    conn.execute("ALTER TABLE seen ADD COLUMN rev TEXT NOT NULL DEFAULT ''")
                for statement in _SCHEMA.split(";"):
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
        with _immediate(conn):
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

    # -- seen ---------------------------------------------------------------------------------------
    async def seen(self, urls: list[str]) -> dict[str, str]:
        if not urls:
            return {}
        return await self._run(self._seen, urls, self.clock.time() - self.retention)

    @staticmethod
    def _seen(conn: sqlite3.Connection, urls: list[str], cutoff: float) -> dict[str, str]:
        digests = {url_digest(u): u for u in urls}
        found: dict[str, str] = {}
        for chunk in _chunks(list(digests)):
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(f"SELECT h, rev FROM seen WHERE at >= ? AND h IN ({marks})", (cutoff, *chunk))
            found.update((digests[row[0]], row[1]) for row in rows)
        return found

    async def mark_seen(self, marks: Mapping[str, str], archive: Sequence[ArchivedArticle] = ()) -> None:
        records = list(archive) if self.archiving else []
        packed = await self._pack(records) if records else None
        if marks or records:
            stored = await self._run(self._mark_seen, dict(marks), records, packed, self.clock.time())
            if stored is not None:
                await self._packer.add_dictionary(1, stored)

    async def _pack(self, records: list[ArchivedArticle]) -> tuple[bytes, bytes | None]:
        """The blob of ``records`` and, once enough records were seen, a dictionary to propose."""
        if not self._packer_ready:
            self._packer_ready = True
            # The dictionaries the store has already: new records are packed with the newest.
            for dict_id, data in await self._run(
                lambda conn: conn.execute("SELECT id, data FROM archive_dict").fetchall()
            ):
                await self._packer.add_dictionary(dict_id, data)
        blobs, trained = await self._packer.pack([records])
        return blobs[0], trained

    def _mark_seen(
        self,
        conn: sqlite3.Connection,
        marks: dict[str, str],
        records: list[ArchivedArticle],
        packed: tuple[bytes, bytes | None] | None,
        now: float,
    ) -> bytes | None:
        """Returns the store's dictionary when a proposed one was just settled (ours or an earlier)."""
        stored = None
        if packed is not None and packed[1] is not None:
            # Another process may have stored its dictionary first: then that one is the store's.
            conn.execute("INSERT OR IGNORE INTO archive_dict (id, data) VALUES (1, ?)", (packed[1],))
            stored = conn.execute("SELECT data FROM archive_dict WHERE id = 1").fetchone()[0]
            self._load_dictionaries(conn)
        with _immediate(conn):
            conn.executemany(
                "INSERT INTO seen (h, at, rev) VALUES (?, ?, ?) "
                "ON CONFLICT (h) DO UPDATE SET at = excluded.at, rev = excluded.rev",
                [(url_digest(u), now, revision) for u, revision in marks.items()],
            )
            if packed is not None:
                self._archive(conn, records, packed[0])
        self._wrote(conn, now)
        return stored

    # -- article archive ----------------------------------------------------------------------------

    def _archive(self, conn: sqlite3.Connection, records: list[ArchivedArticle], blob: bytes) -> None:
        newest = max(r.detected_at for r in records)
        row = conn.execute(
            "INSERT INTO archive_blob (at, size, data) VALUES (?, ?, ?) RETURNING id",
            (newest, len(blob), blob),
        ).fetchone()
        conn.executemany(
            "INSERT INTO archive (h, at, source, blob, pos) VALUES (?, ?, ?, ?, ?) ON CONFLICT (h) DO UPDATE "
            "SET at = excluded.at, source = excluded.source, blob = excluded.blob, pos = excluded.pos",
            [(url_digest(r.url), r.detected_at, r.source, row[0], i) for i, r in enumerate(records)],
        )
        self._archived_bytes += len(blob)
        if self.archive_max_bytes and self._archived_bytes > self.archive_max_bytes * CAP_CHECK_SHARE:
            self._cap_archive(conn)

    def _load_dictionaries(self, conn: sqlite3.Connection) -> None:
        for row in conn.execute("SELECT id, data FROM archive_dict ORDER BY id"):
            self._codec.add_dictionary(row[0], row[1])

    def _unpack(self, conn: sqlite3.Connection, blob_id: int) -> list[bytes]:
        row = conn.execute("SELECT data FROM archive_blob WHERE id = ?", (blob_id,)).fetchone()
        if row is None:  # dropped by the size cap while its index rows were being read
            return []
        try:
            return self._codec.payloads(row[0])
        except KeyError:  # packed with a dictionary another process stored after we loaded ours
            self._load_dictionaries(conn)
            return self._codec.payloads(row[0])

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

    async def archived(self, url: str) -> ArchivedArticle | None:
        def _get(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute("SELECT blob, pos FROM archive WHERE h = ?", (url_digest(url),)).fetchone()
            payloads = self._unpack(conn, row[0]) if row else []
            return payloads[row[1]] if row and row[1] < len(payloads) else None

        payload = await self._run(_get)
        return decode_payload(payload) if payload is not None else None

    async def archive_payloads(
        self, since: float, until: float | None = None, source: str | None = None
    ) -> AsyncIterator[list[bytes]]:
        end = until if until is not None else float("inf")
        where, params = ("AND source = ?", (source,)) if source is not None else ("", ())

        def _page(conn: sqlite3.Connection, after: tuple[float, int, int]) -> _Page:
            rows = conn.execute(
                "SELECT at, blob, pos FROM archive WHERE at < ? AND (at, blob, pos) > (?, ?, ?) "
                f"{where} ORDER BY at, blob, pos LIMIT ?",
                (end, *after, *params, ARCHIVE_PAGE),
            ).fetchall()
            blobs: dict[int, list[bytes]] = {}
            payloads = []
            for _, blob, pos in rows:
                if blob not in blobs:
                    blobs[blob] = self._unpack(conn, blob)
                if pos < len(blobs[blob]):
                    payloads.append(blobs[blob][pos])
            return payloads, tuple(rows[-1]) if rows else after

        after: tuple[float, int, int] = (since, -1, -1)
        while True:
            payloads, last = await self._run(_page, after)
            if last == after:
                return
            after = last
            if payloads:
                yield payloads

    async def archive_stats(self) -> ArchiveStats:
        def _stats(conn: sqlite3.Connection) -> ArchiveStats:
            count, oldest = conn.execute("SELECT count(*), min(at) FROM archive").fetchone()
            size = conn.execute("SELECT coalesce(sum(size), 0) FROM archive_blob").fetchone()[0]
            return ArchiveStats(int(count), int(size), oldest)

        return await self._run(_stats)

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
    async def resolve_story(self, fingerprint: Fingerprint, url: str, window: float) -> StoryRef:
        """See ``Store.resolve_story``; candidates come from the ``story_band`` index."""
        return await self._run(self._resolve_story, fingerprint, url, window, self.clock.time())

    def _resolve_story(
        self, conn: sqlite3.Connection, fp: Fingerprint, url: str, window: float, now: float
    ) -> StoryRef:
        h = url_digest(url)
        with _immediate(conn):
            row = conn.execute(
                "SELECT s.key FROM story_of o JOIN story s ON s.key = o.key "
                "WHERE o.h = ? AND s.last_seen >= ?",
                (h, now - window),
            ).fetchone()
            key = row[0] if row else self._nearest(conn, fp, now - window)
            new = key is None
            if key is None:
                key = fp.key()
                if conn.execute("SELECT 1 FROM story WHERE key = ?", (key,)).fetchone():
                    key = f"{key}-{int(now):x}"
                for table in ("story", "story_band", "story_url", "story_of"):
                    conn.execute(f"DELETE FROM {table} WHERE key = ?", (key,))
                conn.execute(
                    "INSERT INTO story (key, sig, size, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)",
                    (key, fp.hex(), fp.size, now, now),
                )
                if fp.size:
                    conn.executemany(
                        "INSERT INTO story_band (band, value, key) VALUES (?, ?, ?)",
                        [(i, v, key) for i, v in enumerate(fp.bands())],
                    )
            else:
                conn.execute("UPDATE story SET last_seen = ? WHERE key = ?", (now, key))
            conn.execute(
                "INSERT INTO story_of (h, key) VALUES (?, ?) "
                "ON CONFLICT (h) DO UPDATE SET key = excluded.key",
                (h, key),
            )
            urls = [
                r[0] for r in conn.execute("SELECT url FROM story_url WHERE key = ? ORDER BY seq", (key,))
            ]
            if url not in urls and len(urls) < MAX_STORY_URLS:
                conn.execute("INSERT INTO story_url (key, url) VALUES (?, ?)", (key, url))
        self._wrote(conn, now)
        return StoryRef(key=key, urls=tuple(u for u in urls if u != url), new=new)

    @staticmethod
    def _nearest(conn: sqlite3.Connection, fp: Fingerprint, cutoff: float) -> str | None:
        if not fp.size:
            return None
        band_values = fp.bands()
        where = " OR ".join("(b.band = ? AND b.value = ?)" for _ in band_values)
        params: list[object] = [cutoff]
        for i, value in enumerate(band_values):
            params += [i, value]
        rows = conn.execute(
            "SELECT DISTINCT s.key, s.sig, s.size, s.first_seen "
            "FROM story_band b JOIN story s ON s.key = b.key "
            f"WHERE s.last_seen >= ? AND ({where})",
            params,
        ).fetchall()
        best: tuple[float, float, str] | None = None
        for r in rows:
            other = Fingerprint.from_hex(r["sig"], r["size"])
            if same_story(fp, other):
                rank = (-containment(fp, other), r["first_seen"], r["key"])
                best = rank if best is None or rank < best else best
        return best[2] if best else None

    async def story_urls(self, key: str) -> list[str]:
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT url FROM story_url WHERE key = ? ORDER BY seq", (key,)
            ).fetchall()
        )
        return [r[0] for r in rows]

    # -- claims + outbox ----------------------------------------------------------------------------
    async def claim(
        self, alert: Alert, notifiers: list[str], *, realert: float | None = None
    ) -> Alert | None:
        return await self._run(self._claim, alert, list(notifiers), realert, self.clock.time())

    def _claim(
        self, conn: sqlite3.Connection, alert: Alert, notifiers: list[str], realert: float | None, now: float
    ) -> Alert | None:
        with _immediate(conn):
            row = conn.execute("SELECT n, at FROM claims WHERE key = ?", (alert.id,)).fetchone()
            n = 0
            if row is not None and row["at"] >= now - self.retention:
                if realert is None or row["at"] > now - realert:
                    return None
                n = row["n"] + 1
            claimed = replace(alert, id=claimed_id(alert.id, n))
            conn.execute(
                "INSERT INTO claims (key, n, at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET n = excluded.n, at = excluded.at",
                (alert.id, n, now),
            )
            # An alert row of that id older than retention is forgotten, as if purged already.
            conn.execute("DELETE FROM alerts WHERE id = ?", (claimed.id,))
            conn.execute(
                "INSERT INTO alerts (id, body, created_at) VALUES (?, ?, ?)",
                (claimed.id, dumps_alert(claimed), now),
            )
            conn.executemany(
                "INSERT INTO deliveries (alert_id, notifier, state, attempts, next_attempt_at, created_at) "
                "VALUES (?, ?, 'pending', 0, ?, ?)",
                [(claimed.id, name, now, now) for name in dict.fromkeys(notifiers)],
            )
        self._wrote(conn, now)
        return claimed

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
                "WHERE d.state IN ('pending', 'digest') AND d.next_attempt_at <= ? "
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

    async def hold(self, alert_id: str, notifier: str, until: float) -> None:
        await self._run(
            lambda conn: conn.execute(
                "UPDATE deliveries SET state = 'digest', next_attempt_at = ? "
                "WHERE alert_id = ? AND notifier = ? AND state IN ('pending', 'digest')",
                (until, alert_id, notifier),
            )
        )

    async def take_slot(self, notifier: str, window_start: float, limit: int) -> bool:
        def _take(conn: sqlite3.Connection) -> bool:
            with _immediate(conn):
                row = conn.execute(
                    "INSERT INTO slots (notifier, start, used) VALUES (?, ?, 1) "
                    "ON CONFLICT (notifier, start) DO UPDATE SET used = used + 1 RETURNING used",
                    (notifier, window_start),
                ).fetchone()
            return int(row[0]) <= limit

        return await self._run(_take)

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
                "UPDATE deliveries SET state = CASE state WHEN 'digest' THEN 'digest' ELSE 'pending' END, "
                "attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
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
                f"WHERE alert_id = ? AND state IN ('pending', 'digest', 'dead') {cond}",
                (now, alert_id, *params),
            )
        )
        return cursor.rowcount

    async def outbox_pending(self) -> int:
        row = await self._run(
            lambda conn: conn.execute(
                "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'digest')"
            ).fetchone()
        )
        return int(row[0])

    # -- leases and liveness (wall-clock time: they are about other processes being alive) --------------
    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        def _acquire(conn: sqlite3.Connection) -> bool:
            now = time.time()
            with _immediate(conn):
                row = conn.execute(
                    "INSERT INTO leases (name, owner, expires) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
                    "SET owner = excluded.owner, expires = excluded.expires "
                    "WHERE leases.owner = excluded.owner OR leases.expires <= ? RETURNING owner",
                    (name, owner, now + ttl, now),
                ).fetchone()
            return row is not None

        return await self._run(_acquire)

    async def transfer_lease(self, name: str, owner: str, to: str, ttl: float) -> bool:
        def _transfer(conn: sqlite3.Connection) -> bool:
            now = time.time()
            cursor = conn.execute(
                "UPDATE leases SET owner = ?, expires = ? WHERE name = ? AND owner = ? AND expires > ?",
                (to, now + ttl, name, owner, now),
            )
            return cursor.rowcount == 1

        return await self._run(_transfer)

    async def release_lease(self, name: str, owner: str) -> None:
        await self._run(
            lambda conn: conn.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))
        )

    async def lease_holder(self, name: str) -> str | None:
        row = await self._run(
            lambda conn: conn.execute(
                "SELECT owner FROM leases WHERE name = ? AND expires > ?", (name, time.time())
            ).fetchone()
        )
        return row[0] if row else None

    async def heartbeat(self, instance: str, ttl: float) -> list[str]:
        def _beat(conn: sqlite3.Connection) -> list[str]:
            now = time.time()
            with _immediate(conn):
                conn.execute("DELETE FROM members WHERE expires <= ? OR instance = ?", (now, instance))
                if ttl > 0:
                    conn.execute(
                        "INSERT INTO members (instance, expires) VALUES (?, ?)", (instance, now + ttl)
                    )
                return [r[0] for r in conn.execute("SELECT instance FROM members ORDER BY instance")]

        return await self._run(_beat)

    async def host_slot(self, host: str, delay: float) -> float:
        def _slot(conn: sqlite3.Connection) -> float:
            with _immediate(conn):
                # Read under the write lock: time spent waiting for another instance's slot is not ours.
                now = time.time()
                row = conn.execute("SELECT next_start FROM host_slots WHERE host = ?", (host,)).fetchone()
                start = max(now, row[0] if row else 0.0)
                conn.execute(
                    "INSERT INTO host_slots (host, next_start) VALUES (?, ?) "
                    "ON CONFLICT (host) DO UPDATE SET next_start = excluded.next_start",
                    (host, start + delay),
                )
            return start - now

        return await self._run(_slot)

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

    async def get_rhythm(self, name: str) -> str | None:
        row = await self._run(
            lambda conn: conn.execute("SELECT state FROM rhythms WHERE name = ?", (name,)).fetchone()
        )
        return str(row[0]) if row else None

    async def set_rhythm(self, name: str, state: str) -> None:
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO rhythms (name, state) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET state = excluded.state",
                (name, state),
            )
        )

    async def rhythms(self, names: Sequence[str]) -> dict[str, str]:
        wanted = set(names)
        rows = await self._run(lambda conn: conn.execute("SELECT name, state FROM rhythms").fetchall())
        return {str(r[0]): str(r[1]) for r in rows if r[0] in wanted}

    async def quarantine(self, url: str, source: str, reason: str) -> None:
        now = self.clock.time()
        await self._run(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO quarantine (url, source, reason, at) VALUES (?, ?, ?, ?)",
                (url, source, reason, now),
            )
        )

    async def quarantined(self) -> list[Quarantined]:
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT url, source, reason, at FROM quarantine ORDER BY at DESC"
            ).fetchall()
        )
        return [Quarantined(r["url"], r["source"], r["reason"], r["at"]) for r in rows]

    # -- the web console (monitor.ui) -----------------------------------------------------------------
    async def alert_page(self, query: AlertQuery) -> list[StoredAlert]:
        return await self._run(self._alert_page, query)

    def _alert_page(self, conn: sqlite3.Connection, query: AlertQuery) -> list[StoredAlert]:
        self._console_indexes(conn)
        rows = conn.execute(*_page_sql(query)).fetchall()
        ids = [r["id"] for r in rows]
        found: dict[str, list[Delivery]] = {i: [] for i in ids}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for d in conn.execute(
                f"SELECT * FROM deliveries WHERE alert_id IN ({marks}) ORDER BY notifier", chunk
            ):
                found[d["alert_id"]].append(_delivery(d))
        return [StoredAlert(loads_alert(r["body"]), r["created_at"], tuple(found[r["id"]])) for r in rows]

    async def rule_stats(self, rules: Sequence[str]) -> dict[str, RuleStats]:
        return await self._run(self._rule_stats, list(rules), self.clock.time())

    def _rule_stats(self, conn: sqlite3.Connection, rules: list[str], now: float) -> dict[str, RuleStats]:
        self._console_indexes(conn)
        count = f"SELECT count(*) FROM alerts WHERE {_RULE_OF} = ? AND created_at >= ?"
        newest = f"SELECT max(created_at) FROM alerts WHERE {_RULE_OF} = ?"
        stats = {}
        for rule in rules:
            # Range reads of the (rule, created_at) index: a busy rule is counted, its rows never read.
            day, week = (conn.execute(count, (rule, now - span)).fetchone()[0] for span in (DAY, WEEK))
            stats[rule] = RuleStats(day=day, week=week, last=conn.execute(newest, (rule,)).fetchone()[0])
        return stats

    async def source_health(self) -> dict[str, SourceHealth]:
        def _health(conn: sqlite3.Connection) -> dict[str, SourceHealth]:
            cursor = conn.cursor()
            cursor.row_factory = None  # plain tuples: ten thousand Row objects cost more than the query
            rows = cursor.execute("SELECT name, last_success, last_error IS NOT NULL FROM sources")
            return {name: (success, failing == 1) for name, success, failing in rows}

        return await self._run(_health)

    async def source_states_of(self, names: Sequence[str]) -> list[SourceState]:
        def _states(conn: sqlite3.Connection) -> dict[str, SourceState]:
            found: dict[str, SourceState] = {}
            for chunk in _chunks(list(names)):
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT * FROM sources WHERE name IN ({marks})", chunk):
                    found[row["name"]] = _source(row)
            return found

        found = await self._run(_states)
        return [found.get(name) or SourceState(name=name) for name in names]

    def _console_indexes(self, conn: sqlite3.Connection) -> None:
        """Created on the console's first question, so a daemon without it never maintains them."""
        if self._console_ready:
            return
        with _immediate(conn):
            for statement in _CONSOLE_INDEXES:
                conn.execute(statement)
        self._console_ready = True


def _page_sql(query: AlertQuery) -> tuple[str, list[object]]:
    """The query for one page of alerts. A delivery state alone is read off the deliveries' state index
    (a delivery is created with its alert, so their ``created_at`` agree); with a rule or source, that
    index narrows first and the state is checked per alert."""
    by_state = query.state is not None and query.rule is None and query.source is None
    at, key = ("d.created_at", "d.alert_id") if by_state else ("a.created_at", "a.id")
    where: list[str] = []
    params: list[object] = []
    if by_state:
        where.append("d.state = ?")
        params.append(query.state)
    for field, value in (("rule_id", query.rule), ("source", query.source)):
        if value is not None:
            where.append(f"{_alert_field(field, 'a.body')} = ?")
            params.append(value)
    if query.since is not None:
        where.append(f"{at} >= ?")
        params.append(query.since)
    if query.before is not None:
        where.append(f"({at}, {key}) < (?, ?)")  # a row value: one range over the index
        params += list(query.before)
    if query.state is not None and not by_state:
        # "+d.state": look the alert's deliveries up by their key, not every delivery in that state.
        where.append("EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = a.id AND +d.state = ?)")
        params.append(query.state)
    source = "deliveries d JOIN alerts a ON a.id = d.alert_id" if by_state else "alerts a"
    group = f"GROUP BY {at}, {key}" if by_state else ""  # one row per alert, in index order
    cond = f"WHERE {' AND '.join(where)}" if where else ""
    sql = (
        f"SELECT a.id, a.body, a.created_at FROM {source} {cond} {group} "
        f"ORDER BY {at} DESC, {key} DESC LIMIT ?"
    )
    return sql, [*params, query.limit]


def _alert_field(name: str, column: str = "body") -> str:
    """A field of a stored alert (JSON as ``dumps_alert`` writes it). The console's indexes are on these
    very expressions, so a query must spell them the same way to use them."""
    return f"json_extract({column}, '$.{name}')"


_RULE_OF = _alert_field("rule_id")
_SOURCE_OF = _alert_field("source")
_CONSOLE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS alerts_created ON alerts(created_at, id)",
    f"CREATE INDEX IF NOT EXISTS alerts_rule ON alerts({_RULE_OF}, created_at, id)",
    f"CREATE INDEX IF NOT EXISTS alerts_source ON alerts({_SOURCE_OF}, created_at, id)",
    "CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries(state, created_at, alert_id)",
)


def _source(row: sqlite3.Row) -> SourceState:
    return SourceState(
        name=row["name"],
        last_attempt=row["last_attempt"],
        last_success=row["last_success"],
        last_error=row["last_error"],
        articles_seen=row["articles_seen"],
    )
