"""The web console's questions (``monitor.store.console``), answered from the alert and source tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from monitor.codec import loads_alert
from monitor.model import Delivery
from monitor.store.base import SourceState
from monitor.store.console import DAY, WEEK, AlertQuery, RuleStats, SourceHealth, StoredAlert
from monitor.store.sqlite.base import SqliteBase, chunks, immediate, row_as


class SqliteConsole(SqliteBase):
    # -- the web console (monitor.ui) -----------------------------------------------------------------
    async def alert_page(self, query: AlertQuery) -> list[StoredAlert]:
        return await self._run(self._alert_page, query)

    def _alert_page(self, conn: sqlite3.Connection, query: AlertQuery) -> list[StoredAlert]:
        self._console_indexes(conn)
        rows = conn.execute(*_page_sql(query)).fetchall()
        ids = [r["id"] for r in rows]
        found: dict[str, list[Delivery]] = {i: [] for i in ids}
        for chunk in chunks(ids):
            marks = ",".join("?" * len(chunk))
            for d in conn.execute(
                f"SELECT * FROM deliveries WHERE alert_id IN ({marks}) ORDER BY notifier", chunk
            ):
                found[d["alert_id"]].append(row_as(Delivery, d))
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
            for chunk in chunks(list(names)):
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT * FROM sources WHERE name IN ({marks})", chunk):
                    found[row["name"]] = row_as(SourceState, row)
            return found

        found = await self._run(_states)
        return [found.get(name) or SourceState(name=name) for name in names]

    def _console_indexes(self, conn: sqlite3.Connection) -> None:
        """Created on the console's first question, so a daemon without it never maintains them."""
        if self._console_ready:
            return
        with immediate(conn):
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
