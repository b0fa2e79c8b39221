"""Sharing sources between instances that use one store, and living through store outages.

Each source has a lease in the store (``Store.acquire_lease``: ``SET NX PX`` on Redis). An instance polls a
source only while it holds its lease; the lease lasts one interval plus ``margin`` and is renewed at every
tick and while a poll runs, so its holder keeps the source and nobody else polls it in between. An instance
that dies stops renewing: its leases lapse after at most ``interval + margin`` and the next instance to
tick takes each source over.

Lease writes are batched (``Store.acquire_leases``): requests made within ``BATCH_WINDOW`` of each other
share one store call. A tick waits for the answer only when it needs one: a holder whose lease still runs
for more than half the margin (as it does at every tick of a source it kept) polls at once, its renewal
written with the next batch. What this instance believes it holds is a lower bound of what the store says
(the expiry is counted from before the write), so it never polls a source whose lease could have lapsed.

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
# Seconds a lease request waits for others to share its store write: short next to any interval, long
# enough that the ticks of many sources (hundreds a second at 100,000 sources) make one write.
BATCH_WINDOW = 0.05


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
        batch_window: float = BATCH_WINDOW,
    ) -> None:
        self.store = store
        self.clock = clock or SystemClock()  # the clock the store records polls with
        self.margin = margin
        self.batch_window = batch_window
        self.instance = instance or instance_id()
        self.outage = outage or StoreOutage()
        self.live: list[str] = [self.instance]
        # source -> clock time until which its lease is surely ours (counted from before the write)
        self._held: dict[str, float] = {}
        self._ticked: dict[str, float] = {}  # source -> clock time of the last tick that held its lease
        self._known: set[str] = set()  # every source ticked here: a lease may be handed to us unasked
        self._handed: dict[str, float] = {}  # source -> clock time this instance handed its lease over
        self._polling: dict[str, float] = {}  # source -> lease TTL, while a poll of it runs here
        # Lease writes waiting for the next batch: source -> (TTL, ticks waiting for the answer).
        self._pending: dict[str, tuple[float, list[asyncio.Future[bool]]]] = {}
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
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
            # A poll longer than the margin must not let the lease lapse under it.
            for name, ttl in self._polling.items():
                self._request(name, ttl)

    def _request(self, name: str, ttl: float, *, answer: bool = False) -> asyncio.Future[bool] | None:
        """Queue the lease write for ``name`` with the next batch; with ``answer``, a future of whether
        this instance holds the lease afterwards."""
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop())
        before, waiters = self._pending.get(name, (0.0, []))
        self._pending[name] = (max(before, ttl), waiters)
        self._wanted.set()
        if not answer:
            return None
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiters.append(future)
        return future

    async def _write_loop(self) -> None:
        while True:
            await self._wanted.wait()
            await asyncio.sleep(self.batch_window)
            self._wanted.clear()
            batch, self._pending = self._pending, {}
            await self._write(batch)

    async def _write(self, batch: dict[str, tuple[float, list[asyncio.Future[bool]]]]) -> None:
        started = self.clock.time()
        try:
            held = await self.store.acquire_leases(self.instance, [(n, ttl) for n, (ttl, _) in batch.items()])
        except Exception as exc:
            # Leases this instance believes it holds stay believed until their (lower-bound) expiry.
            self.outage.failed(exc)
            for _, waiters in batch.values():
                for future in waiters:
                    if not future.done():
                        future.set_exception(exc)
            return
        self.outage.ok()
        for (name, (ttl, waiters)), answer in zip(batch.items(), held, strict=True):
            # A lease handed over while this write was out was renewed before the hand-over, not after:
            # believing the answer would have this instance poll it beside its new holder.
            handed = self._handed.pop(name, None)
            mine = answer and (handed is None or handed < started)
            if mine:
                self._held[name] = started + ttl
            else:
                self._held.pop(name, None)
            for future in waiters:
                if not future.done():
                    future.set_result(mine)

    @contextlib.asynccontextmanager
    async def holding(self, source: Source) -> AsyncIterator[bool]:
        """Yields True when this instance should poll ``source`` now (it holds the lease, renewed in the
        background while the block runs), else False. Afterwards a holder that is not the preferred
        instance hands the lease over."""
        name, ttl = source.name, self.ttl(source)
        self._known.add(name)
        if self._held.get(name, 0.0) - self.clock.time() > self.margin / 2:
            self._request(name, ttl)  # kept with time to spare: the renewal need not hold up the poll
        else:
            answer = self._request(name, ttl, answer=True)
            assert answer is not None
            try:
                mine = await answer
            except Exception:  # the batch's writer told the outage tracker
                mine = False
            if not mine:
                self._ticked.pop(name, None)
                yield False
                return
        now, since = self.clock.time(), self._ticked.get(name)
        self._ticked[name] = now
        if (since is None or now - since >= ttl) and await self._polled_lately(source, now):
            # Not held here since before its TTL: it may have changed hands in between and been handed
            # (or released) to us right after another instance polled it. This instance's ticks have
            # their own phase, so polling now would poll the source twice in one interval; keep the
            # lease, the next tick (within the interval) polls.
            yield False
            return
        self._polling[name] = ttl
        try:
            yield True
        finally:
            self._polling.pop(name, None)
            if self._handing_over(name):
                await asyncio.shield(self._hand_over(source, ttl))

    def _handing_over(self, name: str) -> bool:
        """Whether, by what this instance last heard, another instance should hold ``name``: checked
        before a hand-over task is started, as most polls have none to make."""
        return not self._leaving and preferred(self.live, name) != self.instance

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
            answer = self._request(source.name, max(self.ttl(source), seconds + self.margin), answer=True)
            assert answer is not None
            await answer

    async def _hand_over(self, source: Source, ttl: float) -> None:
        # ``live`` may be a heartbeat old: an instance that left since would be handed a lease it never
        # polls, until the lease lapses. Asking again narrows that to the moment between two calls.
        await self._beat()
        target = preferred(self.live, source.name)
        if target == self.instance:
            return
        try:
            if await self.store.transfer_lease(source.name, self.instance, target, ttl):
                self._handed[source.name] = self.clock.time()
                self._held.pop(source.name, None)
                self._ticked.pop(source.name, None)
                log.debug("lease_handed_over", extra={"source": source.name, "detail": target})
        except Exception as exc:
            self.outage.failed(exc)

    async def close(self) -> None:
        """Leave the live set and release every lease this instance holds, so the others take over at
        their next tick instead of after the TTL. Best effort: a down store lets them lapse instead."""
        self._leaving = True
        for task in (self._task, self._writer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._writer = None
        for _, waiters in self._pending.values():
            for future in waiters:
                future.cancel()
        self._pending = {}
        # Leaving first: another instance checks that a target is live just before handing it a lease,
        # so none is handed to us once we are gone. release_leases drops only leases we hold, so
        # releasing every source we know is safe, and it catches one handed to us before we left.
        held = sorted(self._held.keys() | self._known)
        self._held, self._ticked = {}, {}
        try:
            await self.store.heartbeat(self.instance, 0)
            await self.store.release_leases(self.instance, held)
        except Exception as exc:
            log.warning("lease_release_failed", extra={"error": str(exc), "count": len(held)})
