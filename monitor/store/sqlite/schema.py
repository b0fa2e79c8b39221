"""The embedded store's tables, created on first connection (``CREATE ... IF NOT EXISTS``)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

SCHEMA = """
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


def create_private(path: Path) -> None:
    """The database file (0600) and any folders leading to it (0700) that do not exist yet: alerts,
    article URLs and rule ids are nobody else's business, whatever the umask. SQLite gives its -wal and
    -shm files the database file's mode. What exists already is left as the operator made it."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
