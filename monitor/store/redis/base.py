"""The shared store: ``redis.asyncio`` (or its Cluster client); every multi-key decision is one Lua script.

Key layout and TTLs live in ``monitor.store.keys``. Redis errors are translated into ``StoreError`` at
this boundary; losing a race (an alert already claimed, a lease held elsewhere) is an ordinary ``False``,
never an error.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import blake2b
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError, ResponseError

from monitor.archive import Codec, Packer
from monitor.errors import StoreError
from monitor.model import Clock
from monitor.store import keys
from monitor.store.base import ArchivePolicy, Store
from monitor.store.redis import scripts

MAX_CONNECTIONS = 10_000  # per pool (per node on a cluster)
DEFAULT_TIMEOUT = 5.0  # seconds, for connect and for each command
CLUSTER_SCHEME = "redis+cluster"


def url_digest(url: str) -> str:
    """12 bytes of hash instead of the URL in the key: small, and collisions are negligible."""
    return blake2b(url.encode(), digest_size=12).hexdigest()


def ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def num(value: float) -> str:
    # repr keeps every digit of a float; Lua's tostring would round to 14.
    return repr(float(value))


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise StoreError(f"redis: {exc}") from exc


def opt_float(value: str | None) -> float | None:
    return float(value) if value is not None else None


def _client(url: str, timeout: float, *, decode: bool = True) -> Any:
    """A client for ``url`` (``aioredis.Redis`` or ``RedisCluster``); building one does not connect, the
    pool connects (and reconnects) on use. Typed Any: redis-py types every answer as bytes or str whatever
    ``decode`` says, so each store method says what it gets back instead."""
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


class RedisBase(Store):
    """The clients, the scripts and the outbox's consumer group: what every part of the store shares."""

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
        self._acquire_script = self._r.register_script(scripts.source("acquire_leases"))
        self._transfer_script = self._r.register_script(scripts.source("transfer_lease"))
        self._release_script = self._r.register_script(scripts.source("release_leases"))
        self._heartbeat_script = self._r.register_script(scripts.source("heartbeat"))
        self._host_script = self._r.register_script(scripts.source("host_slot"))
        self._validators_script = self._r.register_script(scripts.source("set_validators"))
        self._slot_script = self._r.register_script(scripts.source("take_slot"))

    # -- lifecycle --------------------------------------------------------------------------------
    async def open(self) -> None:
        with translated():
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
        with translated():
            await self._r.aclose()
            await self._raw.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._r.ping())
        except RedisError:
            return False
