"""Claims and the durable outbox.

The outbox: a delivery due now is an entry of one Redis Stream read by one consumer group, each store
instance a consumer. ``XREADGROUP`` hands a new entry to exactly one consumer; an entry left unacknowledged
longer than the visibility timeout (a crashed or stuck consumer) is taken over with ``XAUTOCLAIM``; it is
acknowledged (``XACK`` + ``XDEL``) only when an outcome is recorded, i.e. after the receiver answered.
Deliveries waiting for a retry or a digest sit in a sorted set by due time (the injected clock) and are
moved onto the stream when due. Each delivery hash records the id of its stream entry (``eid``), so an
entry that no longer matches its delivery (reset by ``retry``, parked by ``hold``) is dropped on sight.
"""

from __future__ import annotations

import json
from dataclasses import replace

from redis.exceptions import ResponseError

from monitor.codec import dumps_alert, loads_alert
from monitor.model import Alert, Delivery
from monitor.store import keys
from monitor.store.redis.base import RedisBase, num, translated

PROMOTE_BATCH = 1000  # due retries moved onto the stream per lease call

_EMPTY_ID = '{"id":"",'


def delivery_of(member: str, data: dict[str, str]) -> Delivery:
    alert_id, _, notifier = member.partition(keys.MEMBER_SEP)
    return Delivery(
        alert_id=alert_id,
        notifier=notifier,
        state=data["state"],  # type: ignore[arg-type]  # only this module writes it
        attempts=int(data.get("attempts", 0)),
        next_attempt_at=float(data.get("next", 0.0)),
        last_error=data.get("error"),
        created_at=float(data.get("created", 0.0)),
    )


class RedisOutbox(RedisBase):
    # -- claims + outbox ----------------------------------------------------------------------------
    async def claim(
        self, alert: Alert, notifiers: list[str], *, realert: float | None = None
    ) -> Alert | None:
        now = self.clock.time()
        # The script picks the id (a re-alert gets "-r<n>"), so it writes the id field itself.
        body = dumps_alert(replace(alert, id=""))
        assert body.startswith(_EMPTY_ID), "dumps_alert must write the id first"
        args = [
            num(now),
            num(now - self.retention),
            self._ttl,
            body[len(_EMPTY_ID) :],
            json.dumps(sorted(set(notifiers))),
            alert.id,
            "" if realert is None else num(now - realert),
        ]
        with translated():
            claimed = await self._claim_script(
                keys=[keys.CLAIM + alert.id, keys.STREAM, keys.INDEX, keys.DUE], args=args
            )
        return replace(alert, id=claimed) if claimed else None

    async def lease_due(self, limit: int, lease: float) -> list[tuple[Delivery, Alert]]:
        """Due deliveries, returned as stored after the lease: ``next_attempt_at`` is now + ``lease``.
        ``lease`` is the stream's visibility timeout, in real seconds (an entry's idle time)."""
        if limit <= 0:
            return []
        now = self.clock.time()
        args = [num(now), num(now + lease), limit, self.consumer, max(1, int(lease * 1000)), PROMOTE_BATCH]
        with translated():
            try:
                if not self._group_ready:
                    await self._ensure_group()
                flat: list[str] = await self._lease_script(keys=[keys.DUE, keys.STREAM], args=args)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # The stream was lost (FLUSHDB, a restart without persistence): start a new group.
                await self._ensure_group()
                flat = await self._lease_script(keys=[keys.DUE, keys.STREAM], args=args)
            if not flat:
                return []
            due = sorted(zip(flat[1::2], flat[::2], strict=True), key=lambda p: (float(p[0] or 0), p[1]))
            members = [m for _, m in due]
            alert_ids = list(dict.fromkeys(m.partition(keys.MEMBER_SEP)[0] for m in members))
            async with self._r.pipeline(transaction=False) as pipe:
                for m in members:
                    pipe.hgetall(keys.DELIVERY + m)
                for a in alert_ids:
                    pipe.hget(keys.ALERT + a, "json")
                replies = await pipe.execute()
        alerts = {
            a: loads_alert(body)
            for a, body in zip(alert_ids, replies[len(members) :], strict=True)
            if body is not None
        }
        out = []
        for m, data in zip(members, replies[: len(members)], strict=True):
            delivery = delivery_of(m, data) if data else None
            if delivery is not None and delivery.alert_id in alerts:
                out.append((delivery, alerts[delivery.alert_id]))
        return out

    async def hold(self, alert_id: str, notifier: str, until: float) -> None:
        member = keys.member(alert_id, notifier)
        with translated():
            await self._hold_script(
                keys=[keys.DELIVERY + member, keys.DUE, keys.STREAM], args=[member, num(until)]
            )

    async def take_slot(self, notifier: str, window_start: float, limit: int) -> bool:
        with translated():
            used = await self._slot_script(keys=[keys.slot(notifier, window_start)], args=[self._ttl])
        return int(used) <= limit

    async def _mark(
        self, alert_id: str, notifier: str, state: str, error: str | None, at: float | None
    ) -> None:
        member = keys.member(alert_id, notifier)
        # Prefixes tell "no value" ('') apart from an empty error message ('!').
        args = [member, state, 1, "" if error is None else "!" + error, "" if at is None else num(at)]
        with translated():
            await self._mark_script(keys=[keys.DELIVERY + member, keys.DUE, keys.STREAM], args=args)

    async def mark_delivered(self, alert_id: str, notifier: str) -> None:
        await self._mark(alert_id, notifier, "delivered", None, None)

    async def mark_failed(self, alert_id: str, notifier: str, error: str, retry_at: float | None) -> None:
        await self._mark(alert_id, notifier, "dead" if retry_at is None else "pending", error, retry_at)

    async def deliveries(self, state: str | None = None) -> list[Delivery]:
        with translated():
            members: list[str] = await self._r.zrevrange(keys.INDEX, 0, -1)
            if not members:
                return []
            async with self._r.pipeline(transaction=False) as pipe:
                for m in members:
                    pipe.hgetall(keys.DELIVERY + m)
                replies: list[dict[str, str]] = await pipe.execute()
            gone = [m for m, data in zip(members, replies, strict=True) if not data]
            if gone:
                # Their hashes reached the TTL backstop: drop them from the listing too.
                await self._r.zrem(keys.INDEX, *gone)
        found = [delivery_of(m, data) for m, data in zip(members, replies, strict=True) if data]
        return [d for d in found if state is None or d.state == state]

    async def get_alert(self, alert_id: str) -> Alert | None:
        with translated():
            body = await self._r.hget(keys.ALERT + alert_id, "json")
        return loads_alert(body) if body is not None else None

    async def retry(self, alert_id: str, notifier: str | None = None) -> int:
        args = [num(self.clock.time()), alert_id, "" if notifier is None else "=" + notifier]
        with translated():
            return int(
                await self._retry_script(keys=[keys.ALERT + alert_id, keys.DUE, keys.STREAM], args=args)
            )

    async def outbox_pending(self) -> int:
        """Waiting for a retry or digest (the due set) plus due now or being sent (the stream)."""
        with translated():
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.zcard(keys.DUE)
                pipe.xlen(keys.STREAM)
                waiting, streamed = await pipe.execute()
        return int(waiting) + int(streamed)
