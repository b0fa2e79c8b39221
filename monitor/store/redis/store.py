"""The shared store: ``redis.asyncio`` (or its Cluster client); every multi-key decision is one Lua script.

Key layout and TTLs live in ``monitor.store.keys``. Redis errors are translated into ``StoreError`` at
this boundary; losing a race (an alert already claimed, a lease held elsewhere) is an ordinary ``False``,
never an error.

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
import math
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from hashlib import blake2b
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError, ResponseError

from monitor.archive import ArchivedArticle, Codec, decode_payload
from monitor.codec import dumps_alert, loads_alert
from monitor.errors import StoreError
from monitor.fingerprint import MIN_CONTAINMENT, MIN_SHINGLES, PERMUTATIONS, Fingerprint
from monitor.logs import mask_url
from monitor.model import Alert, Clock, Delivery
from monitor.store import keys
from monitor.store.base import (
    ArchivePolicy,
    ArchiveStats,
    Quarantined,
    SourceState,
    Store,
    StoryRef,
    Validators,
)
from monitor.store.console import DAY, WEEK, AlertQuery, RuleStats, SourceHealth, StoredAlert
from monitor.store.redis import scripts

MAX_STORY_URLS = 50
ARCHIVE_PAGE = 1_000  # archived records read per round trip of a scan
MAX_CONNECTIONS = 10_000  # per pool (per node on a cluster)
DEFAULT_TIMEOUT = 5.0  # seconds, for connect and for each command
PROMOTE_BATCH = 1000  # due retries moved onto the stream per lease call
CLUSTER_SCHEME = "redis+cluster"

_EMPTY_ID = '{"id":"",'


def url_digest(url: str) -> str:
    """12 bytes of hash instead of the URL in the key: small, and collisions are negligible."""
    return blake2b(url.encode(), digest_size=12).hexdigest()


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _num(value: float) -> str:
    # repr keeps every digit of a float; Lua's tostring would round to 14.
    return repr(float(value))


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise StoreError(f"redis: {exc}") from exc


def _opt_float(value: str | None) -> float | None:
    return float(value) if value is not None else None


def _delivery(member: str, data: dict[str, str]) -> Delivery:
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


def _client(url: str, timeout: float, *, decode: bool = True) -> aioredis.Redis | RedisCluster:
    """A client for ``url``; building one does not connect, the pool connects (and reconnects) on use."""
    # A short retry rides out a server restart's dropped connections without stalling a poll for long;
    # a longer outage surfaces as StoreError, which the service handles (see monitor.leases).
    options: dict[str, Any] = {
        "decode_responses": decode,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        # redis-py 8 caps a pool at 100 connections by default; past that it raises "Too many
        # connections" on the client side, which a busy instance would report as a store outage. Our own
        # semaphores bound the concurrency, as the unbounded pool of earlier releases assumed.
        "max_connections": MAX_CONNECTIONS,
    }
    parts = urlsplit(url)
    if parts.scheme.lower() == CLUSTER_SCHEME:
        plain = urlunsplit(parts._replace(scheme="redis"))
        return RedisCluster.from_url(plain, **options)
    return aioredis.from_url(url, health_check_interval=30, **options)


def _instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RedisStore(Store):
    def __init__(
        self,
        url: str,
        *,
        retention: float,
        clock: Clock,
        timeout: float = DEFAULT_TIMEOUT,
        archive: ArchivePolicy | None = None,
    ) -> None:
        self.url = url
        self.retention = retention
        self.clock = clock
        self.timeout = timeout
        self.consumer = _instance_id()  # this store's name in the outbox consumer group
        self._ttl = math.ceil(retention) + keys.TTL_MARGIN
        self._r = _client(url, timeout)
        policy = archive or ArchivePolicy()
        self.archiving = bool(policy.enabled)  # off unless asked for: it is the bulk of memory
        self.archive_retention = policy.retention or retention
        self.archive_max_bytes = policy.max_bytes
        self._archive_ttl = math.ceil(self.archive_retention) + keys.TTL_MARGIN
        self._raw = _client(url, timeout, decode=False)  # records are bytes; connects on first use
        self._codec = Codec()
        self._archive_index = self._raw.register_script(scripts.source("archive_index"))
        self._archive_trim = self._raw.register_script(scripts.source("archive_trim"))
        self._group_ready = False
        self._claim_script = self._r.register_script(scripts.source("claim"))
        self._lease_script = self._r.register_script(scripts.source("lease_due"))
        self._mark_script = self._r.register_script(scripts.source("mark"))
        self._retry_script = self._r.register_script(scripts.source("retry"))
        self._resolve_script = self._r.register_script(scripts.source("resolve_story"))
        self._hold_script = self._r.register_script(scripts.source("hold"))
        self._poll_script = self._r.register_script(scripts.source("record_poll"))
        self._acquire_script = self._r.register_script(scripts.source("acquire_lease"))
        self._transfer_script = self._r.register_script(scripts.source("transfer_lease"))
        self._release_script = self._r.register_script(scripts.source("release_lease"))
        self._heartbeat_script = self._r.register_script(scripts.source("heartbeat"))
        self._host_script = self._r.register_script(scripts.source("host_slot"))
        self._validators_script = self._r.register_script(scripts.source("set_validators"))
        self._slot_script = self._r.register_script(scripts.source("take_slot"))

    def __repr__(self) -> str:
        return f"RedisStore({mask_url(self.url)!r})"

    # -- lifecycle --------------------------------------------------------------------------------
    async def open(self) -> None:
        with _translated():
            await self._r.ping()
            await self._ensure_group()

    async def _ensure_group(self) -> None:
        """Create the outbox consumer group (and stream) unless it exists. Id 0: entries written before
        the group existed (or after a Redis restart without persistence lost it) are still read."""
        try:
            await self._r.xgroup_create(keys.STREAM, keys.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def close(self) -> None:
        with _translated():
            await self._r.aclose()
            await self._raw.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._r.ping())
        except RedisError:
            return False

    # -- seen ---------------------------------------------------------------------------------------
    async def seen(self, urls: list[str]) -> dict[str, str]:
        if not urls:
            return {}
        cutoff = self.clock.time() - self.retention
        with _translated():
            # A pipeline of GETs rather than MGET: the keys spread over Cluster slots on purpose.
            async with self._r.pipeline(transaction=False) as pipe:
                for u in urls:
                    pipe.get(keys.SEEN + url_digest(u))
                values = await pipe.execute()
        found = {}
        for url, value in zip(urls, values, strict=True):
            if value is not None:
                at, _, revision = value.partition(" ")
                if float(at) >= cutoff:
                    found[url] = revision
        return found

    async def mark_seen(self, marks: Mapping[str, str], archive: Sequence[ArchivedArticle] = ()) -> None:
        now = _num(self.clock.time())
        records = list(archive) if self.archiving else []
        with _translated():
            if records:
                await self._archive(records)
            if not marks:
                return
            async with self._r.pipeline(transaction=False) as pipe:
                for u, revision in marks.items():
                    pipe.set(keys.SEEN + url_digest(u), f"{now} {revision}", ex=self._ttl)
                await pipe.execute()

    # -- article archive ----------------------------------------------------------------------------
    async def _archive(self, records: list[ArchivedArticle]) -> None:
        """Records first, then their index entries: a record the index does not list yet is invisible,
        one listed whose write failed is skipped by scans."""
        if not self._codec.current:
            await self._load_dictionaries()
        packed = [(url_digest(r.url), r.detected_at, self._codec.encode([r])) for r in records]
        trained = self._codec.trained()
        if trained is not None:
            await self._raw.hsetnx(keys.ARCHIVE_DICT, "1", trained)
            await self._load_dictionaries()
        async with self._raw.pipeline(transaction=False) as pipe:
            for digest, _, blob in packed:
                pipe.set(keys.ARCHIVE + digest, blob, ex=self._archive_ttl)
            await pipe.execute()
        index = [value for d, at, blob in packed for value in (d, _num(at), len(blob))]
        await self._archive_index(keys=[keys.ARCHIVE_AT, keys.ARCHIVE_SIZE, keys.ARCHIVE_BYTES], args=index)
        await self._trim_archive()

    async def _trim_archive(self) -> None:
        cutoff = _num(self.clock.time() - self.archive_retention)
        cap = str(self.archive_max_bytes) if self.archive_max_bytes else ""
        gone = await self._archive_trim(
            keys=[keys.ARCHIVE_AT, keys.ARCHIVE_SIZE, keys.ARCHIVE_BYTES], args=[cutoff, cap, 1000]
        )
        if gone:
            async with self._raw.pipeline(transaction=False) as pipe:
                for digest in gone:
                    pipe.delete(keys.ARCHIVE + digest.decode())
                await pipe.execute()

    async def _load_dictionaries(self) -> None:
        for dict_id, data in (await self._raw.hgetall(keys.ARCHIVE_DICT)).items():
            self._codec.add_dictionary(int(dict_id), data)

    async def _unpack(self, blob: bytes) -> bytes:
        try:
            return self._codec.payloads(blob)[0]
        except KeyError:  # packed with a dictionary this process has not loaded yet
            await self._load_dictionaries()
            return self._codec.payloads(blob)[0]

    async def archived(self, url: str) -> ArchivedArticle | None:
        with _translated():
            blob = await self._raw.get(keys.ARCHIVE + url_digest(url))
            return decode_payload(await self._unpack(blob)) if blob is not None else None

    async def archive_payloads(
        self, since: float, until: float | None = None, source: str | None = None
    ) -> AsyncIterator[list[bytes]]:
        end = f"({_num(until)}" if until is not None else "+inf"
        offset = 0
        while True:
            with _translated():
                digests = await self._raw.zrangebyscore(
                    keys.ARCHIVE_AT, _num(since), end, start=offset, num=ARCHIVE_PAGE
                )
                if not digests:
                    return
                offset += len(digests)
                async with self._raw.pipeline(transaction=False) as pipe:
                    for digest in digests:
                        pipe.get(keys.ARCHIVE + digest.decode())
                    blobs = await pipe.execute()
                payloads = [await self._unpack(b) for b in blobs if b is not None]
            if source is not None:
                payloads = [p for p in payloads if decode_payload(p).source == source]
            if payloads:
                yield payloads

    async def archive_stats(self) -> ArchiveStats:
        with _translated():
            count = await self._raw.zcard(keys.ARCHIVE_AT)
            total = await self._raw.get(keys.ARCHIVE_BYTES)
            oldest = await self._raw.zrange(keys.ARCHIVE_AT, 0, 0, withscores=True)
        return ArchiveStats(int(count), int(total or 0), oldest[0][1] if oldest else None)

    # -- validators ---------------------------------------------------------------------------------
    async def get_validators(self, url: str) -> Validators | None:
        with _translated():
            data = await self._r.hgetall(keys.VALIDATORS + url_digest(url))
        if not data or float(data["at"]) < self.clock.time() - self.retention:
            return None
        return Validators(etag=data.get("etag"), last_modified=data.get("last_modified"))

    async def set_validators(self, url: str, validators: Validators) -> None:
        key = keys.VALIDATORS + url_digest(url)
        fields = {"at": _num(self.clock.time())}
        if validators.etag is not None:
            fields["etag"] = validators.etag
        if validators.last_modified is not None:
            fields["last_modified"] = validators.last_modified
        args: list[object] = [self._ttl]
        for name, value in fields.items():
            args += [name, value]
        with _translated():
            await self._validators_script(keys=[key], args=args)

    # -- stories ------------------------------------------------------------------------------------
    async def resolve_story(self, fingerprint: Fingerprint, url: str, window: float) -> StoryRef:
        """See ``Store.resolve_story``; one Lua script, which compares signatures exactly as
        ``monitor.fingerprint.same_story`` does."""
        now = self.clock.time()
        buckets = [f"{keys.STORY_BAND}{i}:{v:x}" for i, v in enumerate(fingerprint.bands())]
        base_key = fingerprint.key()
        args = [
            _num(now),
            _num(now - window),
            _num(now - self.retention),
            fingerprint.hex(),
            fingerprint.size,
            url,
            MAX_STORY_URLS,
            self._ttl,
            base_key,
            f"{base_key}-{int(now):x}",
            " ".join(buckets),
            repr(MIN_CONTAINMENT),
            MIN_SHINGLES,
            PERMUTATIONS,
        ]
        with _translated():
            result = await self._resolve_script(keys=[keys.STORY_OF + url_digest(url), *buckets], args=args)
        return StoryRef(key=result[0], urls=tuple(result[2:]), new=bool(int(result[1])))

    async def story_urls(self, key: str) -> list[str]:
        with _translated():
            return list(await self._r.zrange(keys.STORY_URLS + key, 0, -1))

    # -- claims + outbox ----------------------------------------------------------------------------
    async def claim(
        self, alert: Alert, notifiers: list[str], *, realert: float | None = None
    ) -> Alert | None:
        now = self.clock.time()
        # The script picks the id (a re-alert gets "-r<n>"), so it writes the id field itself.
        body = dumps_alert(replace(alert, id=""))
        assert body.startswith(_EMPTY_ID), "dumps_alert must write the id first"
        args = [
            _num(now),
            _num(now - self.retention),
            self._ttl,
            body[len(_EMPTY_ID) :],
            json.dumps(sorted(set(notifiers))),
            alert.id,
            "" if realert is None else _num(now - realert),
        ]
        with _translated():
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
        args = [_num(now), _num(now + lease), limit, self.consumer, max(1, int(lease * 1000)), PROMOTE_BATCH]
        with _translated():
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
            delivery = _delivery(m, data) if data else None
            if delivery is not None and delivery.alert_id in alerts:
                out.append((delivery, alerts[delivery.alert_id]))
        return out

    async def hold(self, alert_id: str, notifier: str, until: float) -> None:
        member = keys.member(alert_id, notifier)
        with _translated():
            await self._hold_script(
                keys=[keys.DELIVERY + member, keys.DUE, keys.STREAM], args=[member, _num(until)]
            )

    async def take_slot(self, notifier: str, window_start: float, limit: int) -> bool:
        with _translated():
            used = await self._slot_script(keys=[keys.slot(notifier, window_start)], args=[self._ttl])
        return int(used) <= limit

    async def _mark(
        self, alert_id: str, notifier: str, state: str, error: str | None, at: float | None
    ) -> None:
        member = keys.member(alert_id, notifier)
        # Prefixes tell "no value" ('') apart from an empty error message ('!').
        args = [member, state, 1, "" if error is None else "!" + error, "" if at is None else _num(at)]
        with _translated():
            await self._mark_script(keys=[keys.DELIVERY + member, keys.DUE, keys.STREAM], args=args)

    async def mark_delivered(self, alert_id: str, notifier: str) -> None:
        await self._mark(alert_id, notifier, "delivered", None, None)

    async def mark_failed(self, alert_id: str, notifier: str, error: str, retry_at: float | None) -> None:
        await self._mark(alert_id, notifier, "dead" if retry_at is None else "pending", error, retry_at)

    async def deliveries(self, state: str | None = None) -> list[Delivery]:
        with _translated():
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
        found = [_delivery(m, data) for m, data in zip(members, replies, strict=True) if data]
        return [d for d in found if state is None or d.state == state]

    async def get_alert(self, alert_id: str) -> Alert | None:
        with _translated():
            body = await self._r.hget(keys.ALERT + alert_id, "json")
        return loads_alert(body) if body is not None else None

    async def retry(self, alert_id: str, notifier: str | None = None) -> int:
        args = [_num(self.clock.time()), alert_id, "" if notifier is None else "=" + notifier]
        with _translated():
            return int(
                await self._retry_script(keys=[keys.ALERT + alert_id, keys.DUE, keys.STREAM], args=args)
            )

    async def outbox_pending(self) -> int:
        """Waiting for a retry or digest (the due set) plus due now or being sent (the stream)."""
        with _translated():
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.zcard(keys.DUE)
                pipe.xlen(keys.STREAM)
                waiting, streamed = await pipe.execute()
        return int(waiting) + int(streamed)

    # -- leases and liveness ------------------------------------------------------------------------
    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        with _translated():
            return bool(await self._acquire_script(keys=[keys.lease(name)], args=[owner, _ms(ttl)]))

    async def transfer_lease(self, name: str, owner: str, to: str, ttl: float) -> bool:
        with _translated():
            return bool(await self._transfer_script(keys=[keys.lease(name)], args=[owner, to, _ms(ttl)]))

    async def release_lease(self, name: str, owner: str) -> None:
        with _translated():
            await self._release_script(keys=[keys.lease(name)], args=[owner])

    async def lease_holder(self, name: str) -> str | None:
        with _translated():
            return await self._r.get(keys.lease(name))

    async def heartbeat(self, instance: str, ttl: float) -> list[str]:
        args = [instance, _ms(ttl) if ttl > 0 else 0]
        with _translated():
            live = await self._heartbeat_script(keys=[keys.MEMBERS], args=args)
        return sorted(live)

    async def host_slot(self, host: str, delay: float) -> float:
        if delay <= 0:
            return 0.0
        with _translated():
            wait_ms = await self._host_script(keys=[keys.host(host)], args=[_ms(delay)])
        return max(0, int(wait_ms)) / 1000.0

    # -- sources ------------------------------------------------------------------------------------
    async def record_poll(self, name: str, *, error: str | None, articles: int) -> None:
        """A success clears ``last_error``: it names what is wrong now, not what once was."""
        args = [_num(self.clock.time()), "" if error is None else "!" + error, articles]
        with _translated():
            await self._poll_script(keys=[keys.source(name)], args=args)
            await self._r.sadd(keys.SOURCES, name)

    async def source_state(self, name: str) -> SourceState:
        with _translated():
            data = await self._r.hgetall(keys.source(name))
        return _source(name, data)

    async def source_states(self) -> list[SourceState]:
        with _translated():
            names = sorted(await self._r.smembers(keys.SOURCES))
            async with self._r.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hgetall(keys.source(name))
                replies = await pipe.execute()
        return [_source(n, d) for n, d in zip(names, replies, strict=True)]

    async def get_rhythm(self, name: str) -> str | None:
        with _translated():
            value = await self._r.hget(keys.source(name), "rhythm")
        return None if value is None else str(value)

    async def set_rhythm(self, name: str, state: str) -> None:
        with _translated():
            await self._r.hset(keys.source(name), "rhythm", state)

    async def rhythms(self, names: Sequence[str]) -> dict[str, str]:
        with _translated():
            async with self._r.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hget(keys.source(name), "rhythm")
                replies = await pipe.execute()
        return {n: str(v) for n, v in zip(names, replies, strict=True) if v is not None}

    async def quarantine(self, url: str, source: str, reason: str) -> None:
        record = json.dumps({"source": source, "reason": reason, "at": self.clock.time()})
        with _translated():
            await self._r.hset(keys.QUARANTINE, url, record)

    async def quarantined(self) -> list[Quarantined]:
        with _translated():
            data = await self._r.hgetall(keys.QUARANTINE)
        records = [(url, json.loads(value)) for url, value in data.items()]
        out = [Quarantined(url, r["source"], r["reason"], float(r["at"])) for url, r in records]
        return sorted(out, key=lambda q: q.at, reverse=True)

    # -- the web console (monitor.ui) -----------------------------------------------------------------
    # The listing index orders deliveries by creation; alerts are filtered as they are read, newest
    # first, so a narrow filter over a long history reads more of it than SQLite's indexes do.
    async def alert_page(self, query: AlertQuery) -> list[StoredAlert]:
        high = "+inf" if query.before is None else _num(query.before[0])
        low = "-inf" if query.since is None else _num(query.since)
        found: list[StoredAlert] = []
        looked: set[str] = set()
        offset = 0
        while len(found) < query.limit:
            with _translated():
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
        with _translated():
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
                _delivery(m, data) for m in sorted(members[alert_id]) if (data := next(states))
            )
            if body is not None:
                out.append(StoredAlert(loads_alert(body), at, deliveries))
        return out

    async def rule_stats(self, rules: Sequence[str]) -> dict[str, RuleStats]:
        now = self.clock.time()
        wanted = set(rules)
        counts: dict[str, list[float]] = {}  # rule -> [day, week, last]
        with _translated():
            indexed: list[tuple[str, float]] = await self._r.zrange(keys.INDEX, 0, -1, withscores=True)
        created = {m.partition(keys.MEMBER_SEP)[0]: at for m, at in indexed}
        ids = list(created)
        for start in range(0, len(ids), CONSOLE_BATCH):
            chunk = ids[start : start + CONSOLE_BATCH]
            with _translated():
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
        with _translated():
            async with self._r.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hgetall(keys.source(name))
                replies = await pipe.execute()
        return [_source(n, d) for n, d in zip(names, replies, strict=True)]


CONSOLE_BATCH = 500  # index entries read per round trip by the console's queries


def _wanted(stored: StoredAlert, query: AlertQuery) -> bool:
    alert = stored.alert
    return (
        (query.rule is None or alert.rule_id == query.rule)
        and (query.source is None or alert.source == query.source)
        and (query.state is None or any(d.state == query.state for d in stored.deliveries))
    )


def _source(name: str, data: dict[str, Any]) -> SourceState:
    return SourceState(
        name=name,
        last_attempt=_opt_float(data.get("last_attempt")),
        last_success=_opt_float(data.get("last_success")),
        last_error=data.get("last_error"),
        articles_seen=int(data.get("articles_seen", 0)),
    )
