"""Writes the SQLite store takes in batches: the records of polls that end together share one hand-off to
its thread, and each caller still returns only once its row is written."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from monitor.model import SystemClock
from monitor.store.sqlite import SqliteStore

T = TypeVar("T")


class CountingStore(SqliteStore):
    def __init__(self, path: str) -> None:
        super().__init__(path, retention=3600, clock=SystemClock())
        self.hand_offs = 0

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        self.hand_offs += 1
        return await super()._run(fn, *args)


async def test_polls_ending_together_are_recorded_in_one_write(tmp_path: Path) -> None:
    store = CountingStore(str(tmp_path / "s.db"))
    await store.open()
    try:
        before = store.hand_offs
        await asyncio.gather(
            *(
                store.record_poll(f"s{i % 10}", error="HTTP 503" if i == 15 else None, articles=1)
                for i in range(20)
            )
        )
        assert store.hand_offs == before + 1
        states = {s.name: s for s in await store.source_states()}
        assert sorted(states) == [f"s{i}" for i in range(10)]
        assert all(s.articles_seen == 2 for s in states.values())
        assert states["s5"].last_error == "HTTP 503"  # the later poll of s5 in the batch wins
        assert states["s4"].last_error is None and states["s4"].last_success is not None
    finally:
        await store.close()
