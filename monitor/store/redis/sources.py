"""Per source: HTTP validators, leases and liveness (Redis's clock), poll records, rhythms, quarantine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from monitor.store import keys
from monitor.store.base import Quarantined, SourceState, Validators
from monitor.store.redis.base import RedisBase, ms, num, opt_float, translated, url_digest

LEASE_BATCH = 1000  # leases per script call: a longer script would hold up every other client of Redis


class RedisSources(RedisBase):
    # -- validators ---------------------------------------------------------------------------------
    async def get_validators(self, url: str) -> Validators | None:
        with translated():
            data = await self._r.hgetall(keys.VALIDATORS + url_digest(url))
        if not data or float(data["at"]) < self.clock.time() - self.retention:
            return None
        return Validators(etag=data.get("etag"), last_modified=data.get("last_modified"))

    async def set_validators(self, url: str, validators: Validators) -> None:
        key = keys.VALIDATORS + url_digest(url)
        fields = {"at": num(self.clock.time())}
        if validators.etag is not None:
            fields["etag"] = validators.etag
        if validators.last_modified is not None:
            fields["last_modified"] = validators.last_modified
        args: list[object] = [self._ttl]
        for name, value in fields.items():
            args += [name, value]
        with translated():
            await self._validators_script(keys=[key], args=args)

    # -- leases and liveness ------------------------------------------------------------------------
    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        return (await self.acquire_leases(owner, [(name, ttl)]))[0]

    def _lease_calls(self, names: Sequence[str]) -> list[list[int]]:
        """The positions in ``names`` that each script call takes: at most ``LEASE_BATCH`` a call; on a
        Cluster one call per hash slot among them, as a script's keys must share a slot (each source's
        keys have a slot of their own)."""
        groups: dict[int, list[int]] = {}
        for i, name in enumerate(names):
            slot = key_slot(keys.lease(name).encode()) if isinstance(self._r, RedisCluster) else 0
            groups.setdefault(slot, []).append(i)
        return [
            group[at : at + LEASE_BATCH]
            for group in groups.values()
            for at in range(0, len(group), LEASE_BATCH)
        ]

    async def acquire_leases(self, owner: str, leases: Sequence[tuple[str, float]]) -> list[bool]:
        """One script call per batch (``_lease_calls``), made concurrently."""
        calls = self._lease_calls([name for name, _ in leases])

        async def call(positions: list[int]) -> list[int]:
            found: list[int] = await self._acquire_script(
                keys=[keys.lease(leases[i][0]) for i in positions],
                args=[owner, *(ms(leases[i][1]) for i in positions)],
            )
            return found

        with translated():
            answers = await asyncio.gather(*(call(positions) for positions in calls))
        held = [False] * len(leases)
        for positions, found in zip(calls, answers, strict=True):
            for i, mine in zip(positions, found, strict=True):
                held[i] = bool(mine)
        return held

    async def transfer_lease(self, name: str, owner: str, to: str, ttl: float) -> bool:
        with translated():
            return bool(await self._transfer_script(keys=[keys.lease(name)], args=[owner, to, ms(ttl)]))

    async def release_lease(self, name: str, owner: str) -> None:
        await self.release_leases(owner, [name])

    async def release_leases(self, owner: str, names: Sequence[str]) -> None:
        """One script call per batch (``_lease_calls``), made concurrently."""
        calls = self._lease_calls(names)
        with translated():
            await asyncio.gather(
                *(self._release_script(keys=[keys.lease(names[i]) for i in c], args=[owner]) for c in calls)
            )

    async def lease_holder(self, name: str) -> str | None:
        with translated():
            holder: str | None = await self._r.get(keys.lease(name))
        return holder

    async def heartbeat(self, instance: str, ttl: float) -> list[str]:
        args = [instance, ms(ttl) if ttl > 0 else 0]
        with translated():
            live = await self._heartbeat_script(keys=[keys.MEMBERS], args=args)
        return sorted(live)

    async def host_slot(self, host: str, delay: float) -> float:
        if delay <= 0:
            return 0.0
        with translated():
            wait_ms = await self._host_script(keys=[keys.host(host)], args=[ms(delay)])
        return max(0, int(wait_ms)) / 1000.0

    # -- sources ------------------------------------------------------------------------------------
    async def record_poll(self, name: str, *, error: str | None, articles: int) -> None:
        """A success clears ``last_error``: it names what is wrong now, not what once was."""
        args = [num(self.clock.time()), "" if error is None else "!" + error, articles]
        with translated():
            await self._poll_script(keys=[keys.source(name)], args=args)
            await self._r.sadd(keys.SOURCES, name)

    async def source_state(self, name: str) -> SourceState:
        with translated():
            data = await self._r.hgetall(keys.source(name))
        return source_of(name, data)

    async def source_states(self) -> list[SourceState]:
        with translated():
            names = sorted(await self._r.smembers(keys.SOURCES))
            async with self._r.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hgetall(keys.source(name))
                replies = await pipe.execute()
        return [source_of(n, d) for n, d in zip(names, replies, strict=True)]

    async def get_rhythm(self, name: str) -> str | None:
        with translated():
            value = await self._r.hget(keys.source(name), "rhythm")
        return None if value is None else str(value)

    async def set_rhythm(self, name: str, state: str) -> None:
        with translated():
            await self._r.hset(keys.source(name), "rhythm", state)

    async def rhythms(self, names: Sequence[str]) -> dict[str, str]:
        with translated():
            async with self._r.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hget(keys.source(name), "rhythm")
                replies = await pipe.execute()
        return {n: str(v) for n, v in zip(names, replies, strict=True) if v is not None}

    async def quarantine(self, url: str, source: str, reason: str) -> None:
        record = json.dumps({"source": source, "reason": reason, "at": self.clock.time()})
        with translated():
            await self._r.hset(keys.QUARANTINE, url, record)

    async def quarantined(self) -> list[Quarantined]:
        with translated():
            data = await self._r.hgetall(keys.QUARANTINE)
        records = [(url, json.loads(value)) for url, value in data.items()]
        out = [Quarantined(url, r["source"], r["reason"], float(r["at"])) for url, r in records]
        return sorted(out, key=lambda q: q.at, reverse=True)


def source_of(name: str, data: dict[str, Any]) -> SourceState:
    return SourceState(
        name=name,
        last_attempt=opt_float(data.get("last_attempt")),
        last_success=opt_float(data.get("last_success")),
        last_error=data.get("last_error"),
        articles_seen=int(data.get("articles_seen", 0)),
    )
