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

from monitor.archive import ArchivedArticle, Codec, Packer, decode_payload
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

MAX_STORY_URLS = 50
ARCHIVE_PAGE = 1_000  # archived records read per round trip of a scan
MAX_CONNECTIONS = 10_000  # per pool (per node on a cluster)
DEFAULT_TIMEOUT = 5.0  # seconds, for connect and for each command
PROMOTE_BATCH = 1000  # due retries moved onto the stream per lease call
CLUSTER_SCHEME = "redis+cluster"

# Shared by the scripts that drop a delivery's stream entry. XACK may fail with NOGROUP when the group is
# being (re)created; the entry is deleted either way, so pcall.
_DROP_ENTRY = (
    """
local function drop_entry(stream, dkey)
  local eid = redis.call('HGET', dkey, 'eid')
  if eid then
    redis.pcall('XACK', stream, '"""
    + keys.GROUP
    + """', eid)
    redis.call('XDEL', stream, eid)
    redis.call('HDEL', dkey, 'eid')
  end
end
local function push_entry(stream, dkey, m)
  redis.call('HSET', dkey, 'eid', redis.call('XADD', stream, '*', 'm', m))
end
"""
)
_EMPTY_ID = '{"id":"",'

# KEYS: claim, stream, index, due. ARGV: now, retention cutoff, ttl, alert json after its id field, notifiers
# json (sorted: stream order is then like SQLite's), claim key, realert cutoff ('' for never). Returns the
# claimed alert id, or false.
_CLAIM = (
    _DROP_ENTRY
    + """
local claim = redis.call('HMGET', KEYS[1], 'n', 'at')
local n = 0
if claim[2] and tonumber(claim[2]) >= tonumber(ARGV[2]) then
  if ARGV[7] == '' or tonumber(claim[2]) > tonumber(ARGV[7]) then return false end
  n = tonumber(claim[1]) + 1
end
local id = ARGV[6]
if n > 0 then id = id .. '-r' .. n end
local akey = '"""
    + keys.ALERT
    + """' .. id
local dprefix = '"""
    + keys.DELIVERY
    + """'
if redis.call('EXISTS', akey) == 1 then
  -- an alert of this id older than retention (by the clock) is forgotten, as if it had expired
  for _, name in ipairs(cjson.decode(redis.call('HGET', akey, 'notifiers') or '[]')) do
    local m = id .. '\\0' .. name
    drop_entry(KEYS[2], dprefix .. m)
    redis.call('DEL', dprefix .. m)
    redis.call('ZREM', KEYS[4], m)
    redis.call('ZREM', KEYS[3], m)
  end
  redis.call('DEL', akey)
end
redis.call('HSET', KEYS[1], 'n', n, 'at', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('HSET', akey, 'json', '{"id":"' .. id .. '",' .. ARGV[4], 'at', ARGV[1], 'notifiers', ARGV[5])
redis.call('EXPIRE', akey, ARGV[3])
for _, name in ipairs(cjson.decode(ARGV[5])) do
  local m = id .. '\\0' .. name
  redis.call('HSET', dprefix .. m, 'state', 'pending', 'attempts', 0, 'next', ARGV[1], 'created', ARGV[1])
  redis.call('EXPIRE', dprefix .. m, ARGV[3])
  push_entry(KEYS[2], dprefix .. m, m)
  redis.call('ZADD', KEYS[3], ARGV[1], m)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2])
return id
"""
)

# KEYS: due, stream. ARGV: now, lease-until, limit, consumer, visibility timeout (ms), promote batch.
# Moves due retries and digests onto the stream, takes over entries other consumers left unacknowledged
# longer than the visibility timeout, then reads new entries. Returns {member, next before the lease, ...}.
_LEASE = (
    _DROP_ENTRY
    + """
local dprefix = '"""
    + keys.DELIVERY
    + """'
local group = '"""
    + keys.GROUP
    + """'
local stream, limit = KEYS[2], tonumber(ARGV[3])
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[6]))) do
  redis.call('ZREM', KEYS[1], m)
  if redis.call('EXISTS', dprefix .. m) == 1 then push_entry(stream, dprefix .. m, m) end
end
local out = {}
local function take(eid, fields)
  local m = fields and fields[2]
  if not m or redis.call('HGET', dprefix .. m, 'eid') ~= eid then
    -- deleted, expired, or superseded by a newer entry of the same delivery: not ours to send
    redis.call('XACK', stream, group, eid)
    redis.call('XDEL', stream, eid)
    return
  end
  table.insert(out, m)
  table.insert(out, redis.call('HGET', dprefix .. m, 'next'))
  redis.call('HSET', dprefix .. m, 'next', ARGV[2])
end
local claimed = redis.call('XAUTOCLAIM', stream, group, ARGV[4], ARGV[5], '0-0', 'COUNT', limit)
for _, e in ipairs(claimed[2]) do take(e[1], e[2]) end
local left = limit - #out / 2
if left > 0 then
  local fresh = redis.call('XREADGROUP', 'GROUP', group, ARGV[4], 'COUNT', left, 'STREAMS', stream, '>')
  if fresh then
    for _, e in ipairs(fresh[1][2]) do take(e[1], e[2]) end
  end
end
return out
"""
)

# KEYS: delivery, due, stream. ARGV: member, state, attempts increment, error ('' keeps), next ('' for
# none). Acknowledges the delivery's stream entry. A retried digest delivery stays in its digest.
_MARK = (
    _DROP_ENTRY
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', ARGV[3])
local state = ARGV[2]
if state == 'pending' and redis.call('HGET', KEYS[1], 'state') == 'digest' then state = 'digest' end
redis.call('HSET', KEYS[1], 'state', state)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'error', string.sub(ARGV[4], 2)) end
drop_entry(KEYS[3], KEYS[1])
if state == 'pending' or state == 'digest' then
  redis.call('HSET', KEYS[1], 'next', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
"""
)

# KEYS: alert, due, stream. ARGV: now, alert id, notifier ('' for all, else '=' .. name). A delivery
# already on the stream (due, or being sent) keeps its entry: a second one would send it twice.
_RETRY = (
    _DROP_ENTRY
    + """
local ns = redis.call('HGET', KEYS[1], 'notifiers')
if not ns then return 0 end
local dprefix = '"""
    + keys.DELIVERY
    + """'
local changed = 0
for _, n in ipairs(cjson.decode(ns)) do
  if ARGV[3] == '' or ARGV[3] == '=' .. n then
    local m = ARGV[2] .. '\\0' .. n
    local state = redis.call('HGET', dprefix .. m, 'state')
    if state == 'dead' or state == 'pending' or state == 'digest' then
      redis.call('HSET', dprefix .. m, 'state', 'pending', 'next', ARGV[1])
      redis.call('ZREM', KEYS[2], m)
      if not redis.call('HGET', dprefix .. m, 'eid') then push_entry(KEYS[3], dprefix .. m, m) end
      changed = changed + 1
    end
  end
end
return changed
"""
)

# KEYS: story-of-url key, then the band buckets of the fingerprint. ARGV: now, window cutoff, retention
# cutoff, signature (hex), size, url, max urls, ttl, key for a new story, fallback key, band keys
# (space-joined), min containment, min shingles, permutations. Returns {key, new, other urls...}.
_RESOLVE = (
    """
local sprefix = '"""
    + keys.STORY
    + """'
local uprefix = '"""
    + keys.STORY_URLS
    + """'
local now, window, sig, size = ARGV[1], tonumber(ARGV[2]), ARGV[4], tonumber(ARGV[5])
local perms = tonumber(ARGV[14])
-- exactly monitor.fingerprint.containment / same_story, operation for operation
local function containment(other, osize)
  local equal = 0
  for i = 0, perms - 1 do
    if string.sub(sig, i * 8 + 1, i * 8 + 8) == string.sub(other, i * 8 + 1, i * 8 + 8) then
      equal = equal + 1
    end
  end
  local j = equal / perms
  return math.min(1.0, j * (size + osize) / ((1.0 + j) * math.min(size, osize)))
end
local function same(other, osize)
  if math.min(size, osize) < tonumber(ARGV[13]) then return size > 0 and size == osize and sig == other end
  return containment(other, osize) >= tonumber(ARGV[12])
end
local key = redis.call('GET', KEYS[1])
if key then
  local last = redis.call('HGET', sprefix .. key, 'last')
  if not last or tonumber(last) < window then key = nil end
end
if not key and size > 0 then
  local best_c, best_first
  local looked = {}
  for i = 2, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[3])
    for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[i], window, '+inf')) do
      if not looked[k] then
        looked[k] = true
        local s = redis.call('HMGET', sprefix .. k, 'sig', 'size', 'first', 'last')
        if s[1] and tonumber(s[4]) >= window and same(s[1], tonumber(s[2])) then
          local c, first = containment(s[1], tonumber(s[2])), tonumber(s[3])
          if not key or c > best_c or (c == best_c and (first < best_first or
              (first == best_first and k < key))) then
            key, best_c, best_first = k, c, first
          end
        end
      end
    end
  end
end
local new = 0
if key then
  redis.call('HSET', sprefix .. key, 'last', now)
  for bucket in string.gmatch(redis.call('HGET', sprefix .. key, 'bands') or '', '%S+') do
    redis.call('ZADD', bucket, 'XX', now, key)
  end
else
  new = 1
  key = ARGV[9]
  if redis.call('EXISTS', sprefix .. key) == 1 then key = ARGV[10] end
  redis.call('DEL', sprefix .. key, uprefix .. key)
  local bands = ''
  if size > 0 then
    bands = ARGV[11]
    for i = 2, #KEYS do
      redis.call('ZADD', KEYS[i], now, key)
      redis.call('EXPIRE', KEYS[i], ARGV[8])
    end
  end
  redis.call('HSET', sprefix .. key, 'sig', sig, 'size', size, 'first', now, 'last', now, 'bands', bands)
end
redis.call('SET', KEYS[1], key, 'EX', ARGV[8])
local ukey = uprefix .. key
local urls = redis.call('ZRANGE', ukey, 0, -1)
if not redis.call('ZSCORE', ukey, ARGV[6]) and #urls < tonumber(ARGV[7]) then
  redis.call('ZADD', ukey, #urls, ARGV[6])
end
redis.call('EXPIRE', sprefix .. key, ARGV[8])
redis.call('EXPIRE', ukey, ARGV[8])
local out = {key, new}
for _, u in ipairs(urls) do
  if u ~= ARGV[6] then table.insert(out, u) end
end
return out
"""
)

# KEYS: delivery, due, stream. ARGV: member, until.
_HOLD = (
    _DROP_ENTRY
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'pending' and state ~= 'digest' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'digest', 'next', ARGV[2])
drop_entry(KEYS[3], KEYS[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""
)

# KEYS: lease. ARGV: owner, ttl ms. SET NX PX, or a renewal by the holder.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease. ARGV: owner, new owner, ttl ms.
_TRANSFER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS: lease. ARGV: owner.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Redis's own clock for liveness: instances on different machines need not agree on the time. Before 7.0
# a script must switch to effects replication to write after reading TIME.
_NOW_MS = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: members. ARGV: instance, ttl ms (<= 0: leave). Returns the live instances.
_HEARTBEAT = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('ZADD', KEYS[1], string.format('%d', now + ttl), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl * 10))
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
)

# KEYS: host. ARGV: delay ms. Returns ms to wait: a queue of start times, `delay` apart, across instances.
_HOST_SLOT = (
    _NOW_MS
    + """
local start = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local after = start + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', string.format('%d', after - now + 1000))
return start - now
"""
)

# KEYS: validators. ARGV: ttl, then field/value pairs. Replaces the hash in one step.
_SET_VALIDATORS = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

# KEYS: slot counter. ARGV: ttl.
_TAKE_SLOT = """
local used = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return used
"""

# KEYS: archive index, sizes, total. ARGV: digest, detected_at, size, ... (triples). Indexes written records.
_ARCHIVE_INDEX = """
for i = 1, #ARGV, 3 do
  local old = redis.call('HGET', KEYS[2], ARGV[i])
  if old then redis.call('DECRBY', KEYS[3], old) end
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
  redis.call('INCRBY', KEYS[3], ARGV[i + 2])
  redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
end
"""

# KEYS: archive index, sizes, total. ARGV: retention cutoff, byte cap ('' for none), limit. Unindexes records
# older than the cutoff, then the oldest while the total exceeds the cap; returns their digests, whose
# records the caller deletes.
_ARCHIVE_TRIM = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local cap = tonumber(ARGV[2])
if cap then
  local total = tonumber(redis.call('GET', KEYS[3]) or '0')
  for _, d in ipairs(gone) do total = total - tonumber(redis.call('HGET', KEYS[2], d) or '0') end
  local offset = #gone
  while total > cap and #gone < tonumber(ARGV[3]) do
    local next = redis.call('ZRANGE', KEYS[1], offset, offset)
    if #next == 0 then break end
    gone[#gone + 1] = next[1]
    total = total - tonumber(redis.call('HGET', KEYS[2], next[1]) or '0')
    offset = offset + 1
  end
end
for _, d in ipairs(gone) do
  redis.call('DECRBY', KEYS[3], redis.call('HGET', KEYS[2], d) or '0')
  redis.call('HDEL', KEYS[2], d)
  redis.call('ZREM', KEYS[1], d)
end
return gone
"""

# KEYS: source. ARGV: now, error ('' for success, else '!' .. error), articles.
_RECORD_POLL = """
redis.call('HSET', KEYS[1], 'last_attempt', ARGV[1])
if ARGV[2] == '' then
  redis.call('HSET', KEYS[1], 'last_success', ARGV[1])
  redis.call('HDEL', KEYS[1], 'last_error')
else
  redis.call('HSET', KEYS[1], 'last_error', string.sub(ARGV[2], 2))
end
redis.call('HINCRBY', KEYS[1], 'articles_seen', ARGV[3])
return 1
"""


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
        self._codec = Codec()  # unpacks, on the loop
        self._packer = Packer()
        self._archive_index = self._raw.register_script(_ARCHIVE_INDEX)
        self._archive_trim = self._raw.register_script(_ARCHIVE_TRIM)
        self._group_ready = False
        self._claim_script = self._r.register_script(_CLAIM)
        self._lease_script = self._r.register_script(_LEASE)
        self._mark_script = self._r.register_script(_MARK)
        self._retry_script = self._r.register_script(_RETRY)
        self._resolve_script = self._r.register_script(_RESOLVE)
        self._hold_script = self._r.register_script(_HOLD)
        self._poll_script = self._r.register_script(_RECORD_POLL)
        self._acquire_script = self._r.register_script(_ACQUIRE)
        self._transfer_script = self._r.register_script(_TRANSFER)
        self._release_script = self._r.register_script(_RELEASE)
        self._heartbeat_script = self._r.register_script(_HEARTBEAT)
        self._host_script = self._r.register_script(_HOST_SLOT)
        self._validators_script = self._r.register_script(_SET_VALIDATORS)
        self._slot_script = self._r.register_script(_TAKE_SLOT)

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
        self._packer.close()
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
        if not self._packer.current:
            await self._load_dictionaries()
        blobs, trained = await self._packer.pack([[r] for r in records])
        packed = [(url_digest(r.url), r.detected_at, blob) for r, blob in zip(records, blobs, strict=True)]
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
            await self._packer.add_dictionary(int(dict_id), data)

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
