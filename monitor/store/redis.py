"""The shared store: ``redis.asyncio``; every multi-key decision is one Lua script.

Key layout and TTLs live in ``monitor.store.keys``. Redis errors are translated into ``StoreError`` at
this boundary; losing a race (an alert already claimed) is an ordinary ``False``, never an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import blake2b
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from monitor.codec import dumps_alert, loads_alert
from monitor.errors import StoreError
from monitor.fingerprint import MAX_DISTANCE, bands
from monitor.model import Alert, Clock, Delivery
from monitor.store import keys
from monitor.store.base import SourceState, Store, StoryRef, Validators

MAX_STORY_URLS = 50
DEFAULT_TIMEOUT = 5.0  # seconds, for connect and for each command

# KEYS: alert, due, index. ARGV: now, claim cutoff, ttl, alert json, notifiers json, alert id.
_CLAIM = (
    """
local at = redis.call('HGET', KEYS[1], 'at')
if at and tonumber(at) >= tonumber(ARGV[2]) then return 0 end
local dprefix = '"""
    + keys.DELIVERY
    + """'
if at then
  -- a claim older than retention (by the clock) is forgotten, as if it had expired
  for _, n in ipairs(cjson.decode(redis.call('HGET', KEYS[1], 'notifiers') or '[]')) do
    local m = ARGV[6] .. '\\0' .. n
    redis.call('DEL', dprefix .. m)
    redis.call('ZREM', KEYS[2], m)
    redis.call('ZREM', KEYS[3], m)
  end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'json', ARGV[4], 'at', ARGV[1], 'notifiers', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[3])
for _, n in ipairs(cjson.decode(ARGV[5])) do
  local m = ARGV[6] .. '\\0' .. n
  redis.call('HSET', dprefix .. m, 'state', 'pending', 'attempts', 0, 'next', ARGV[1], 'created', ARGV[1])
  redis.call('EXPIRE', dprefix .. m, ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[1], m)
  redis.call('ZADD', KEYS[3], ARGV[1], m)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2])
return 1
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
_MARK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', ARGV[3])
redis.call('HSET', KEYS[1], 'state', ARGV[2])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'error', string.sub(ARGV[4], 2)) end
if ARGV[2] == 'pending' then
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
    if state == 'dead' or state == 'pending' then
      redis.call('HSET', dprefix .. m, 'state', 'pending', 'next', ARGV[1])
      redis.call('ZADD', KEYS[2], ARGV[1], m)
      changed = changed + 1
    end
  end
end
return changed
"""
)

# KEYS: the band buckets of the fingerprint. ARGV: now, window cutoff, retention cutoff, fingerprint
# (16 hex), url, max urls, ttl, max distance, key for a new story, fallback key, band keys (space-joined).
_RESOLVE = (
    """
local sprefix = '"""
    + keys.STORY
    + """'
local uprefix = '"""
    + keys.STORY_URLS
    + """'
local POP = {[0]=0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4}
local function distance(a, b)
  local d = 0
  for i = 1, 16 do
    d = d + POP[bit.bxor(tonumber(string.sub(a, i, i), 16), tonumber(string.sub(b, i, i), 16))]
  end
  return d
end
local fp, maxd = ARGV[4], tonumber(ARGV[8])
local best, best_d, best_first
local looked = {}
for _, bucket in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', bucket, '-inf', '(' .. ARGV[3])
  for _, k in ipairs(redis.call('ZRANGEBYSCORE', bucket, ARGV[2], '+inf')) do
    if not looked[k] then
      looked[k] = true
      local s = redis.call('HMGET', sprefix .. k, 'fp', 'first', 'last')
      if s[1] and tonumber(s[3]) >= tonumber(ARGV[2]) then
        local d = distance(s[1], fp)
        local first = tonumber(s[2])
        if d <= maxd and (best == nil or d < best_d or (d == best_d and
            (first < best_first or (first == best_first and k < best)))) then
          best, best_d, best_first = k, d, first
        end
      end
    end
  end
end
local key, new = best, 0
if key then
  redis.call('HSET', sprefix .. key, 'last', ARGV[1])
  for bucket in string.gmatch(redis.call('HGET', sprefix .. key, 'bands'), '%S+') do
    redis.call('ZADD', bucket, 'XX', ARGV[1], key)
  end
else
  new = 1
  key = ARGV[9]
  if redis.call('EXISTS', sprefix .. key) == 1 then key = ARGV[10] end
  redis.call('DEL', sprefix .. key, uprefix .. key)
  redis.call('HSET', sprefix .. key, 'fp', fp, 'first', ARGV[1], 'last', ARGV[1], 'bands', ARGV[11])
  for _, bucket in ipairs(KEYS) do
    redis.call('ZADD', bucket, ARGV[1], key)
    redis.call('EXPIRE', bucket, ARGV[7])
  end
end
local ukey = uprefix .. key
local urls = redis.call('ZRANGE', ukey, 0, -1)
if not redis.call('ZSCORE', ukey, ARGV[5]) and #urls < tonumber(ARGV[6]) then
  redis.call('ZADD', ukey, #urls, ARGV[5])
end
redis.call('EXPIRE', sprefix .. key, ARGV[7])
redis.call('EXPIRE', ukey, ARGV[7])
local out = {key, new}
for _, u in ipairs(urls) do
  if u ~= ARGV[5] then table.insert(out, u) end
end
return out
"""
)

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
    async def unseen(self, urls: list[str]) -> list[str]:
        if not urls:
            return []
        cutoff = self.clock.time() - self.retention
        with _translated():
            # A pipeline of GETs rather than MGET: the keys spread over Cluster slots on purpose.
            async with self._r.pipeline(transaction=False) as pipe:
                for u in urls:
                    pipe.get(keys.SEEN + url_digest(u))
                values = await pipe.execute()
        return [u for u, v in zip(urls, values, strict=True) if v is None or float(v) < cutoff]

    async def mark_seen(self, urls: list[str]) -> None:
        if not urls:
            return
        now = _num(self.clock.time())
        with _translated():
            async with self._r.pipeline(transaction=False) as pipe:
                for u in urls:
                    pipe.set(keys.SEEN + url_digest(u), now, ex=self._ttl)
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
    async def resolve_story(self, fingerprint: int, url: str, window: float) -> StoryRef:
        """Near-duplicate lookup by LSH banding, in one Lua script.

        Same rules as ``SqliteStore.resolve_story`` (which explains the 6-bit threshold and 7 bands):
        the nearest story within ``MAX_DISTANCE`` bits sharing a band and last seen within
        ``window`` wins; else a new story keyed by the fingerprint's hex (plus the clock second if that
        key names a story outside the window). At most ``MAX_STORY_URLS`` URLs, the first, are kept.
        """
        now = self.clock.time()
        buckets = [f"{keys.STORY_BAND}{i}:{v}" for i, v in enumerate(bands(fingerprint))]
        base_key = f"{fingerprint:016x}"
        args = [
            _num(now),
            _num(now - window),
            _num(now - self.retention),
            base_key,
            url,
            MAX_STORY_URLS,
            self._ttl,
            MAX_DISTANCE,
            base_key,
            f"{base_key}-{int(now):x}",
            " ".join(buckets),
        ]
        with _translated():
            result = await self._resolve_script(keys=buckets, args=args)
        return StoryRef(key=result[0], urls=tuple(result[2:]), new=bool(int(result[1])))

    # -- claims + outbox ----------------------------------------------------------------------------
    async def claim(self, alert: Alert, notifiers: list[str]) -> bool:
        now = self.clock.time()
        args = [
            _num(now),
            _num(now - self.retention),
            self._ttl,
            dumps_alert(alert),
            json.dumps(list(dict.fromkeys(notifiers))),
            alert.id,
        ]
        with _translated():
            won = await self._claim_script(keys=[keys.ALERT + alert.id, keys.DUE, keys.INDEX], args=args)
        return bool(int(won))

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
