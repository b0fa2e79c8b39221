"""Per source: HTTP validators, leases and liveness (wall-clock time), poll records, rhythms, quarantine."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence

from monitor.store.base import Quarantined, SourceState, Validators
from monitor.store.sqlite.base import SqliteBase, immediate, row_as, url_digest

# Seconds a finished poll's record waits for others to share its write: at 100,000 sources hundreds of
# polls end each second, and one hand-off to the SQLite thread costs more than the row.
POLL_BATCH_WINDOW = 0.05


class SqliteSources(SqliteBase):
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

    # -- leases and liveness (wall-clock time: they are about other processes being alive) --------------
    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        return (await self.acquire_leases(owner, [(name, ttl)]))[0]

    async def acquire_leases(self, owner: str, leases: Sequence[tuple[str, float]]) -> list[bool]:
        def _acquire(conn: sqlite3.Connection) -> list[bool]:
            now = time.time()
            with immediate(conn):
                return [
                    conn.execute(
                        "INSERT INTO leases (name, owner, expires) VALUES (?, ?, ?) ON CONFLICT (name) DO "
                        "UPDATE SET owner = excluded.owner, expires = excluded.expires "
                        "WHERE leases.owner = excluded.owner OR leases.expires <= ? RETURNING owner",
                        (name, owner, now + ttl, now),
                    ).fetchone()
                    is not None
                    for name, ttl in leases
                ]

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
        await self.release_leases(owner, [name])

    async def release_leases(self, owner: str, names: Sequence[str]) -> None:
        def _release(conn: sqlite3.Connection) -> None:
            with immediate(conn):
                conn.executemany(
                    "DELETE FROM leases WHERE name = ? AND owner = ?", [(name, owner) for name in names]
                )

        await self._run(_release)

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
            with immediate(conn):
                conn.execute("DELETE FROM members WHERE expires <= ? OR instance = ?", (now, instance))
                if ttl > 0:
                    conn.execute(
                        "INSERT INTO members (instance, expires) VALUES (?, ?)", (instance, now + ttl)
                    )
                return [r[0] for r in conn.execute("SELECT instance FROM members ORDER BY instance")]

        return await self._run(_beat)

    async def host_slot(self, host: str, delay: float) -> float:
        def _slot(conn: sqlite3.Connection) -> float:
            with immediate(conn):
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
        """A success clears ``last_error``: it names what is wrong now, not what once was. Polls that end
        within ``POLL_BATCH_WINDOW`` of each other share one write (one thread hand-off, one commit);
        each call returns once its row is written."""
        now = self.clock.time()
        self._poll_rows.append((name, now, now if error is None else None, error, articles))
        if self._poll_write is None:
            self._poll_write = asyncio.create_task(self._write_polls())
        await asyncio.shield(self._poll_write)

    async def _write_polls(self) -> None:
        await asyncio.sleep(POLL_BATCH_WINDOW)
        rows, self._poll_rows, self._poll_write = self._poll_rows, [], None

        def _write(conn: sqlite3.Connection) -> None:
            with immediate(conn):  # in order: a source polled twice in one batch ends as after both
                conn.executemany(
                    "INSERT INTO sources (name, last_attempt, last_success, last_error, articles_seen) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                    "last_attempt = excluded.last_attempt, "
                    "last_success = coalesce(excluded.last_success, sources.last_success), "
                    "last_error = excluded.last_error, "
                    "articles_seen = sources.articles_seen + excluded.articles_seen",
                    rows,
                )

        await self._run(_write)

    async def source_state(self, name: str) -> SourceState:
        row = await self._run(
            lambda conn: conn.execute("SELECT * FROM sources WHERE name = ?", (name,)).fetchone()
        )
        return row_as(SourceState, row) if row else SourceState(name=name)

    async def source_states(self) -> list[SourceState]:
        rows = await self._run(lambda conn: conn.execute("SELECT * FROM sources ORDER BY name").fetchall())
        return [row_as(SourceState, r) for r in rows]

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
