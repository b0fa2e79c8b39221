"""The web console's questions (``monitor.store.console``), read off the outbox's listing index."""

from __future__ import annotations

import json
from collections.abc import Sequence

from monitor.codec import loads_alert
from monitor.store import keys
from monitor.store.base import SourceState
from monitor.store.console import DAY, WEEK, AlertQuery, RuleStats, SourceHealth, StoredAlert
from monitor.store.redis.base import RedisBase, num, translated
from monitor.store.redis.outbox import delivery_of
from monitor.store.redis.sources import source_of

CONSOLE_BATCH = 500  # index entries read per round trip by the console's queries


class RedisConsole(RedisBase):
    # -- the web console (monitor.ui) -----------------------------------------------------------------
    # The listing index orders deliveries by creation; alerts are filtered as they are read, newest
    # first, so a narrow filter over a long history reads more of it than SQLite's indexes do.
    async def alert_page(self, query: AlertQuery) -> list[StoredAlert]:
        high = "+inf" if query.before is None else num(query.before[0])
        low = "-inf" if query.since is None else num(query.since)
        found: list[StoredAlert] = []
        looked: set[str] = set()
        offset = 0
        while len(found) < query.limit:
            with translated():
                batch: list[tuple[str, float]] = await self._r.zrevrangebyscore(
                    keys.INDEX, high, low, start=offset, num=CONSOLE_BATCH, withscores=True
                )
            if not batch:
                break
            offset += len(batch)
            created: dict[str, float] = {}
            for member, at in batch:
                alert_id = member.partition(keys.MEMBER_SEP)[0]
                if alert_id in looked or (query.before is not None and (at, alert_id) >= query.before):
                    continue
                looked.add(alert_id)
                created[alert_id] = at
            for stored in await self._stored_alerts(created):
                if _wanted(stored, query):
                    found.append(stored)
        return found[: query.limit]

    async def _stored_alerts(self, created: dict[str, float]) -> list[StoredAlert]:
        """The alerts ``created`` names (id -> created_at), in its order, each with its deliveries."""
        with translated():
            async with self._r.pipeline(transaction=False) as pipe:
                for alert_id in created:
                    pipe.hmget(keys.ALERT + alert_id, "json", "notifiers")
                bodies: list[list[str | None]] = await pipe.execute()
            members = {
                alert_id: [keys.member(alert_id, n) for n in json.loads(notifiers or "[]")]
                for alert_id, (_, notifiers) in zip(created, bodies, strict=True)
            }
            async with self._r.pipeline(transaction=False) as pipe:
                for ms in members.values():
                    for m in sorted(ms):
                        pipe.hgetall(keys.DELIVERY + m)
                replies: list[dict[str, str]] = await pipe.execute()
        states = iter(replies)
        out = []
        for (alert_id, at), (body, _) in zip(created.items(), bodies, strict=True):
            deliveries = tuple(
                delivery_of(m, data) for m in sorted(members[alert_id]) if (data := next(states))
            )
            if body is not None:
                out.append(StoredAlert(loads_alert(body), at, deliveries))
        return out

    async def rule_stats(self, rules: Sequence[str]) -> dict[str, RuleStats]:
        now = self.clock.time()
        wanted = set(rules)
        counts: dict[str, list[float]] = {}  # rule -> [day, week, last]
        with translated():
            indexed: list[tuple[str, float]] = await self._r.zrange(keys.INDEX, 0, -1, withscores=True)
        created = {m.partition(keys.MEMBER_SEP)[0]: at for m, at in indexed}
        ids = list(created)
        for start in range(0, len(ids), CONSOLE_BATCH):
            chunk = ids[start : start + CONSOLE_BATCH]
            with translated():
                async with self._r.pipeline(transaction=False) as pipe:
                    for alert_id in chunk:
                        pipe.hget(keys.ALERT + alert_id, "json")
                    bodies = await pipe.execute()
            for alert_id, body in zip(chunk, bodies, strict=True):
                rule = json.loads(body)["rule_id"] if body is not None else None
                if rule not in wanted:
                    continue
                at = created[alert_id]
                day, week, last = counts.setdefault(rule, [0, 0, at])
                counts[rule] = [day + (at >= now - DAY), week + (at >= now - WEEK), max(last, at)]
        return {r: RuleStats(int(c[0]), int(c[1]), c[2]) for r, c in counts.items()}

    async def source_health(self) -> dict[str, SourceHealth]:
        return {s.name: (s.last_success, s.last_error is not None) for s in await self.source_states()}

    async def source_states_of(self, names: Sequence[str]) -> list[SourceState]:
        with translated():
            async with self._r.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hgetall(keys.source(name))
                replies = await pipe.execute()
        return [source_of(n, d) for n, d in zip(names, replies, strict=True)]


def _wanted(stored: StoredAlert, query: AlertQuery) -> bool:
    alert = stored.alert
    return (
        (query.rule is None or alert.rule_id == query.rule)
        and (query.source is None or alert.source == query.source)
        and (query.state is None or any(d.state == query.state for d in stored.deliveries))
    )
