"""Claims and the durable outbox: alerts, their deliveries, digests and send slots."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from monitor.codec import dumps_alert, loads_alert
from monitor.model import Alert, Delivery
from monitor.store.base import claimed_id
from monitor.store.sqlite.base import SqliteBase, immediate, row_as


class SqliteOutbox(SqliteBase):
    # -- claims + outbox ----------------------------------------------------------------------------
    async def claim(
        self, alert: Alert, notifiers: list[str], *, realert: float | None = None
    ) -> Alert | None:
        return await self._run(self._claim, alert, list(notifiers), realert, self.clock.time())

    def _claim(
        self, conn: sqlite3.Connection, alert: Alert, notifiers: list[str], realert: float | None, now: float
    ) -> Alert | None:
        with immediate(conn):
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
        with immediate(conn):
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
            out.append((replace(row_as(Delivery, r), next_attempt_at=until), alert))
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
            with immediate(conn):
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
        return [row_as(Delivery, r) for r in rows]

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
        return int(cursor.rowcount)

    async def outbox_pending(self) -> int:
        row = await self._run(
            lambda conn: conn.execute(
                "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'digest')"
            ).fetchone()
        )
        return int(row[0])
