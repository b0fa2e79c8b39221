"""Stories: which story an article belongs to, found through the band index of its fingerprint."""

from __future__ import annotations

import sqlite3

from monitor.fingerprint import Fingerprint, story_share
from monitor.store.base import StoryRef
from monitor.store.sqlite.base import SqliteBase, immediate, url_digest

MAX_STORY_URLS = 50


class SqliteStories(SqliteBase):
    # -- stories ------------------------------------------------------------------------------------
    async def resolve_story(
        self, fingerprint: Fingerprint, url: str, window: float, legacy: Fingerprint | None = None
    ) -> StoryRef:
        """See ``Store.resolve_story``; candidates come from the ``story_band`` index."""
        now = self.clock.time()
        return await self._run(self._resolve_story, fingerprint, url, window, now, legacy)

    def _resolve_story(
        self,
        conn: sqlite3.Connection,
        fp: Fingerprint,
        url: str,
        window: float,
        now: float,
        legacy: Fingerprint | None,
    ) -> StoryRef:
        h = url_digest(url)
        with immediate(conn):
            row = conn.execute(
                "SELECT s.key FROM story_of o JOIN story s ON s.key = o.key "
                "WHERE o.h = ? AND s.last_seen >= ?",
                (h, now - window),
            ).fetchone()
            key = row[0] if row else self._nearest(conn, fp, now - window)
            if key is None and legacy is not None:
                key = self._nearest(conn, legacy, now - window)
                if key is not None:  # the story takes this copy's signature, in this algorithm
                    conn.execute("DELETE FROM story_band WHERE key = ?", (key,))
                    conn.execute("UPDATE story SET sig = ?, size = ? WHERE key = ?", (fp.hex(), fp.size, key))
                    self._index(conn, fp, key)
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
                self._index(conn, fp, key)
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
    def _index(conn: sqlite3.Connection, fp: Fingerprint, key: str) -> None:
        if fp.size:
            conn.executemany(
                "INSERT INTO story_band (band, value, key) VALUES (?, ?, ?)",
                [(band, value, key) for band, value in fp.bands()],
            )

    @staticmethod
    def _nearest(conn: sqlite3.Connection, fp: Fingerprint, cutoff: float) -> str | None:
        if not fp.size:
            return None
        bands = fp.bands()
        where = " OR ".join("(b.band = ? AND b.value = ?)" for _ in bands)
        params: list[object] = [cutoff]
        for band in bands:
            params += band
        rows = conn.execute(
            "SELECT DISTINCT s.key, s.sig, s.size, s.first_seen "
            "FROM story_band b JOIN story s ON s.key = b.key "
            f"WHERE s.last_seen >= ? AND ({where})",
            params,
        ).fetchall()
        best: tuple[float, float, str] | None = None
        for r in rows:
            share = story_share(fp, Fingerprint.from_hex(r["sig"], r["size"], fp.version))
            if share is not None:
                rank = (-share, r["first_seen"], r["key"])
                best = rank if best is None or rank < best else best
        return best[2] if best else None

    async def legacy_stories_seen(self) -> float:
        """See ``Store.legacy_stories_seen``: every version 1 story has a row under band 0."""
        row = await self._run(
            lambda conn: conn.execute(
                "SELECT max(s.last_seen) FROM story_band b JOIN story s ON s.key = b.key WHERE b.band = 0"
            ).fetchone()
        )
        return float(row[0] or 0.0)

    async def story_urls(self, key: str) -> list[str]:
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT url FROM story_url WHERE key = ? ORDER BY seq", (key,)
            ).fetchall()
        )
        return [r[0] for r in rows]
