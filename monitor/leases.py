"""Sharing sources between instances that use one store, and living through store outages.

Each source has a lease in the store (``Store.acquire_lease``: ``SET NX PX`` on Redis). An instance polls a
source only while it holds its lease; the lease lasts one interval plus ``margin`` and is renewed at every
tick and while a poll runs, so its holder keeps the source and nobody else polls it in between. An instance
that dies stops renewing: its leases lapse after at most ``interval + margin`` and the next instance to
tick takes each source over.

Who *should* hold a source is decided by rendezvous hashing over the live instances (``Store.heartbeat``),
so adding an instance moves about 1/N of the sources to it instead of leaving the first instance with all of
them: a holder that is not the preferred instance polls once more, then hands the lease to the preferred
one (``Store.transfer_lease``), which polls from its next tick on.

When the store does not answer, an instance polls nothing (it cannot take leases) and says so once per
outage, not once per attempt (``monitor.store.outage.StoreOutage``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from hashlib import blake2b

from monitor.model import Clock, Source, SystemClock
from monitor.store.base import Store
from monitor.store.outage import StoreOutage

log = logging.getLogger("newsmon.leases")

DEFAULT_MARGIN = 60.0  # seconds a lease outlives its source's interval; also the membership TTL


def instance_id() -> str:
    """Unique per process start: a restarted daemon is a new instance, its old leases simply lapse."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def preferred(instances: list[str], source: str) -> str:
    """The instance that should poll ``source``: highest rendezvous hash. Stable as instances come and go:
    only sources preferring an instance that joined or left change hands."""
    return max(instances, key=lambda i: blake2b(f"{i}\0{source}".encode(), digest_size=8).digest())


class SourceLeases:
    """The per-source gate in front of every poll of this instance."""

    def __init__(
        self,
        store: Store,
        *,
        margin: float = DEFAULT_MARGIN,
        instance: str | None = None,
        outage: StoreOutage | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or SystemClock()  # the clock the store records polls with
        self.margin = margin
        self.instance = instance or instance_id()
        self.outage = outage or StoreOutage()
        self.live: list[str] = [self.instance]
        self._held: dict[str, float] = {}  # source -> clock time of the last tick that held its lease
        self._known: set[str] = set()  # every source ticked here: a lease may be handed to us unasked
        self._task: asyncio.Task[None] | None = None
        self._leaving = False

    def ttl(self, source: Source) -> float:
        return source.interval + self.margin

    async def start(self) -> None:
        """Join the live instances and keep the membership fresh (every third of ``margin``)."""
        await self._beat()
        self._task = asyncio.create_task(self._heartbeat_loop())

    async def _beat(self) -> None:
        try:
            live = await self.store.heartbeat(self.instance, self.margin)
        except Exception as exc:
            self.outage.failed(exc)
            return
        self.outage.ok()
        self.live = live if self.instance in live else sorted([*live, self.instance])

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.margin / 3)
            await self._beat()

    @contextlib.asynccontextmanager
    async def holding(self, source: Source) -> AsyncIterator[bool]:
        """Yields True when this instance should poll ``source`` now (it holds the lease, renewed in the
        background while the block runs), else False. Afterwards a holder that is not the preferred
        instance hands the lease over."""
        ttl = self.ttl(source)
        self._known.add(source.name)
        try:
            held = await self.store.acquire_lease(source.name, self.instance, ttl)
        except Exception as exc:
            self.outage.failed(exc)
            yield False
            return
        self.outage.ok()
        if not held:
            self._held.pop(source.name, None)
            yield False
            return
        now, since = self.clock.time(), self._held.get(source.name)
        self._held[source.name] = now
        if (since is None or now - since >= ttl) and await self._polled_lately(source, now):
            # Not held here since before its TTL: it may have changed hands in between and been handed
            # (or released) to us right after another instance polled it. This instance's ticks have
            # their own phase, so polling now would poll the source twice in one interval; keep the
            # lease, the next tick (within the interval) polls.
            yield False
            return
        renewer = asyncio.create_task(self._renew(source, ttl))
        try:
            yield True
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await asyncio.shield(self._hand_over(source, ttl))

    async def _polled_lately(self, source: Source, now: float) -> bool:
        """Whether any instance polled ``source`` less than half an interval ago (one read, made only
        when a lease may have changed hands)."""
        try:
            last = (await self.store.source_state(source.name)).last_attempt
        except Exception as exc:
            self.outage.failed(exc)
            return False
        return last is not None and now - last < source.interval / 2

    async def extend(self, source: Source, seconds: float) -> None:
        """Keep a held lease until this instance's next poll, ``seconds`` away (adaptive schedules may
        wait longer than the interval the lease was taken for)."""
        if source.name in self._held:
            ttl = max(self.ttl(source), seconds + self.margin)
            await self.store.acquire_lease(source.name, self.instance, ttl)

    async def _renew(self, source: Source, ttl: float) -> None:
        # A poll longer than the margin must not let the lease lapse under it.
        while True:
            await asyncio.sleep(self.margin / 2)
            with contextlib.suppress(Exception):  # the holder's next tick or the outage tracker reports
                await self.store.acquire_lease(source.name, self.instance, ttl)

    async def _hand_over(self, source: Source, ttl: float) -> None:
        if self._leaving or preferred(self.live, source.name) == self.instance:
            return
        # ``live`` may be a heartbeat old: an instance that left since would be handed a lease it never
        # polls, until the lease lapses. Asking again narrows that to the moment between two calls.
        await self._beat()
        target = preferred(self.live, source.name)
        if target == self.instance:
            return
        try:
            if await self.store.transfer_lease(source.name, self.instance, target, ttl):
                self._held.pop(source.name, None)
                log.debug("lease_handed_over", extra={"source": source.name, "detail": target})
        except Exception as exc:
            self.outage.failed(exc)

    async def close(self) -> None:
        """Leave the live set and release every lease this instance holds, so the others take over at
        their next tick instead of after the TTL. Best effort: a down store lets them lapse instead."""
        self._leaving = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # Leaving first: another instance checks that a target is live just before handing it a lease,
        # so none is handed to us once we are gone. release_lease drops only leases we hold, so
        # releasing every source we know is safe, and it catches one handed to us before we left.
        held, self._held = sorted(self._held.keys() | self._known), {}
        try:
            await self.store.heartbeat(self.instance, 0)
            for name in held:
                await self.store.release_lease(name, self.instance)
        except Exception as exc:
            log.warning("lease_release_failed", extra={"error": str(exc), "count": len(held)})
