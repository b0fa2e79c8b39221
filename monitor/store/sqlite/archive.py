"""Seen article URLs and the article archive written with them (packed blobs, see ``monitor.archive``)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TypeVar

from monitor.archive import ArchivedArticle, ArchivePage, decode_payload
from monitor.store.base import ArchiveStats
from monitor.store.sqlite.base import SqliteBase, chunks, immediate, url_digest

T = TypeVar("T")

ARCHIVE_PAGE = 2_000  # archived records read per query of a scan
# The archive's size cap is enforced after this share of it was written since the last check, so a
# busy store checks a few times per cap's worth of articles instead of summing sizes on every write.
CAP_CHECK_SHARE = 0.02


class SqliteSeen(SqliteBase):
    # -- seen ---------------------------------------------------------------------------------------
    async def seen(self, urls: list[str]) -> dict[str, str]:
        if not urls:
            return {}
        return await self._run(self._seen, urls, self.clock.time() - self.retention)

    @staticmethod
    def _seen(conn: sqlite3.Connection, urls: list[str], cutoff: float) -> dict[str, str]:
        digests = {url_digest(u): u for u in urls}
        found: dict[str, str] = {}
        for chunk in chunks(list(digests)):
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
        with immediate(conn):
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

    def _unpack(self, conn: sqlite3.Connection, blob_id: int) -> list[bytes]:
        row = conn.execute("SELECT data FROM archive_blob WHERE id = ?", (blob_id,)).fetchone()
        if row is None:  # dropped by the size cap while its index rows were being read
            return []
        try:
            return self._codec.payloads(row[0])
        except KeyError:  # packed with a dictionary another process stored after we loaded ours
            self._load_dictionaries(conn)
            return self._codec.payloads(row[0])

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
        """``archive_pages``, each unpacked on the store's thread, by its codec."""
        async for page in self.archive_pages(since, until, source):
            payloads = await self._run(lambda conn, page=page: page.payloads(self._codec))
            if payloads:
                yield payloads

    async def archive_pages(
        self, since: float, until: float | None = None, source: str | None = None
    ) -> AsyncIterator[ArchivePage]:
        """See ``Store.archive_pages``: the blobs as stored, unpacked by whoever reads the page."""
        end = until if until is not None else float("inf")
        where, params = ("AND source = ?", (source,)) if source is not None else ("", ())

        def _page(
            conn: sqlite3.Connection, after: tuple[float, int, int]
        ) -> tuple[ArchivePage, tuple[float, int, int]] | None:
            rows = conn.execute(
                "SELECT at, blob, pos FROM archive WHERE at < ? AND (at, blob, pos) > (?, ?, ?) "
                f"{where} ORDER BY at, blob, pos LIMIT ?",
                (end, *after, *params, ARCHIVE_PAGE),
            ).fetchall()
            if not rows:
                return None
            index: dict[int, int] = {}
            blobs: list[bytes] = []
            order: list[tuple[int, int]] = []
            for _, blob, pos in rows:
                if blob not in index:
                    data = conn.execute("SELECT data FROM archive_blob WHERE id = ?", (blob,)).fetchone()
                    index[blob] = len(blobs)
                    blobs.append(data[0] if data else b"")  # dropped by the size cap meanwhile
                if blobs[index[blob]]:
                    order.append((index[blob], pos))
            used = sorted({blob[0] for blob in blobs if blob[:1] not in (b"", b"\x00")})
            dictionaries = conn.execute(
                f"SELECT id, data FROM archive_dict WHERE id IN ({','.join('?' * len(used))})", used
            ).fetchall()
            return ArchivePage(
                order=tuple(order),
                blobs=tuple(blobs),
                dictionaries=tuple((row[0], row[1]) for row in dictionaries),
                last_at=rows[-1][0],
            ), tuple(rows[-1])

        after: tuple[float, int, int] = (since, -1, -1)
        while True:
            read = await self._run(_page, after)
            if read is None:
                return
            page, after = read
            if page.order:
                yield page

    async def archive_stats(self) -> ArchiveStats:
        def _stats(conn: sqlite3.Connection) -> ArchiveStats:
            count, oldest = conn.execute("SELECT count(*), min(at) FROM archive").fetchone()
            size = conn.execute("SELECT coalesce(sum(size), 0) FROM archive_blob").fetchone()[0]
            return ArchiveStats(int(count), int(size), oldest)

        return await self._run(_stats)
