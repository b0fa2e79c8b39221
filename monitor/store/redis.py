"""The shared store: ``redis.asyncio``; every multi-key decision is one Lua script.

Key layout and TTLs live in ``monitor.store.keys``. Redis errors are translated into ``StoreError`` at
this boundary; losing a race (an alert already claimed) is an ordinary ``False``, never an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from hashlib import blake2b
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from monitor.codec import dumps_alert, loads_alert
from monitor.errors import StoreError
from monitor.fingerprint import MIN_CONTAINMENT, MIN_SHINGLES, PERMUTATIONS, Fingerprint
from monitor.model import Alert, Clock, Delivery
from monitor.store import keys
from monitor.store.base import SourceState, Store, StoryRef, Validators

MAX_STORY_URLS = 50
DEFAULT_TIMEOUT = 5.0  # seconds, for connect and for each command
_EMPTY_ID = '{"id":"",'

# KEYS: claim, due, index. ARGV: now, retention cutoff, ttl, alert json after its id field, notifiers json,
# claim key, realert cutoff ('' for never). Returns the claimed alert id, or false.
_CLAIM = (
    """
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
    redis.call('DEL', dprefix .. m)
    redis.call('ZREM', KEYS[2], m)
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
  redis.call('ZADD', KEYS[2], ARGV[1], m)
  redis.call('ZADD', KEYS[3], ARGV[1], m)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2])
return id
"""
)

# KEYS: due. ARGV: now, lease-until, limit.
_LEASE = (
    """
local dprefix = '"""
    + keys.DELIVERY
    + """'
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))) do
  if redis.call('EXISTS', dprefix .. m) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[2], m)
    redis.call('HSET', dprefix .. m, 'next', ARGV[2])
    table.insert(out, m)
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
return out
"""
)

# KEYS: delivery, due. ARGV: member, state, attempts increment, error ('' keeps), next ('' for none).
# A retried digest delivery stays in its digest.
_MARK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', ARGV[3])
local state = ARGV[2]
if state == 'pending' and redis.call('HGET', KEYS[1], 'state') == 'digest' then state = 'digest' end
redis.call('HSET', KEYS[1], 'state', state)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'error', string.sub(ARGV[4], 2)) end
if state == 'pending' or state == 'digest' then
  redis.call('HSET', KEYS[1], 'next', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
"""

# KEYS: alert, due. ARGV: now, alert id, notifier ('' for all, else '=' .. name).
_RETRY = (
    """
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
      redis.call('ZADD', KEYS[2], ARGV[1], m)
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

# KEYS: delivery, due. ARGV: member, until.
_HOLD = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'pending' and state ~= 'digest' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'digest', 'next', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
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


class RedisStore(Store):
    def __init__(self, url: str, *, retention: float, clock: Clock, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.retention = retention
        self.clock = clock
        self.timeout = timeout
        self._ttl = math.ceil(retention) + keys.TTL_MARGIN
        # Building the client does not connect; the pool connects (and reconnects) on use.
        self._r: aioredis.Redis = aioredis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
        )
        self._claim_script = self._r.register_script(_CLAIM)
        self._lease_script = self._r.register_script(_LEASE)
        self._mark_script = self._r.register_script(_MARK)
        self._retry_script = self._r.register_script(_RETRY)
        self._resolve_script = self._r.register_script(_RESOLVE)
        self._hold_script = self._r.register_script(_HOLD)
        self._poll_script = self._r.register_script(_RECORD_POLL)

    def __repr__(self) -> str:
        parts = urlsplit(self.url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return f"RedisStore({urlunsplit(parts._replace(netloc=netloc))!r})"
        return f"RedisStore({self.url!r})"

    # -- lifecycle --------------------------------------------------------------------------------
    async def open(self) -> None:
        with _translated():
            await self._r.ping()

    async def close(self) -> None:
        with _translated():
            await self._r.aclose()

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

    async def mark_seen(self, urls: list[str], revision: str = "") -> None:
        if not urls:
            return
        value = f"{_num(self.clock.time())} {revision}"
        with _translated():
            async with self._r.pipeline(transaction=False) as pipe:
                for u in urls:
                    pipe.set(keys.SEEN + url_digest(u), value, ex=self._ttl)
                await pipe.execute()

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
        with _translated():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.hset(key, mapping=fields)
                pipe.expire(key, self._ttl)
                await pipe.execute()

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
            json.dumps(list(dict.fromkeys(notifiers))),
            alert.id,
            "" if realert is None else _num(now - realert),
        ]
        with _translated():
            claimed = await self._claim_script(keys=[keys.CLAIM + alert.id, keys.DUE, keys.INDEX], args=args)
        return replace(alert, id=claimed) if claimed else None

    async def lease_due(self, limit: int, lease: float) -> list[tuple[Delivery, Alert]]:
        """Due deliveries, returned as stored after the lease: ``next_attempt_at`` is now + ``lease``."""
        if limit <= 0:
            return []
        now = self.clock.time()
        with _translated():
            members: list[str] = await self._lease_script(
                keys=[keys.DUE], args=[_num(now), _num(now + lease), limit]
            )
            if not members:
                return []
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
            await self._hold_script(keys=[keys.DELIVERY + member, keys.DUE], args=[member, _num(until)])

    async def take_slot(self, notifier: str, window_start: float, limit: int) -> bool:
        key = keys.slot(notifier, window_start)
        with _translated():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, self._ttl)
                used, _ = await pipe.execute()
        return int(used) <= limit

    async def _mark(
        self, alert_id: str, notifier: str, state: str, error: str | None, at: float | None
    ) -> None:
        member = keys.member(alert_id, notifier)
        # Prefixes tell "no value" ('') apart from an empty error message ('!').
        args = [member, state, 1, "" if error is None else "!" + error, "" if at is None else _num(at)]
        with _translated():
            await self._mark_script(keys=[keys.DELIVERY + member, keys.DUE], args=args)

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
            return int(await self._retry_script(keys=[keys.ALERT + alert_id, keys.DUE], args=args))

    async def outbox_pending(self) -> int:
        with _translated():
            return int(await self._r.zcard(keys.DUE))

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


def _source(name: str, data: dict[str, Any]) -> SourceState:
    return SourceState(
        name=name,
        last_attempt=_opt_float(data.get("last_attempt")),
        last_success=_opt_float(data.get("last_success")),
        last_error=data.get("last_error"),
        articles_seen=int(data.get("articles_seen", 0)),
    )
