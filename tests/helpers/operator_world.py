"""A daemon's world for the operator-mistake tests: a news site, a receiver, a config folder and its store."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests import daemon as harness
from tests.helpers.receiver import Receiver
from tests.helpers.service_net import ATACMS, RULES, Site
from tests.threaded import serve_in_thread

USER_AGENT = "newsmon-test/1.0 (+https://desk.example/contact)"


@dataclass
class World:
    tmp: Path
    site: Site
    receiver: Receiver
    base: str
    hook: str

    def config(self, *, sources: dict[str, str] | None = None, hook: str | None = None, **kw: str) -> Path:
        feeds = {"feed": f"{self.base}/feed.xml"} if sources is None else sources
        kw.setdefault("http", f'user_agent = "{USER_AGENT}"')
        return harness.write_config(self.tmp, feeds, hook or self.hook, rules=RULES, interval=None, **kw)

    @property
    def db(self) -> Path:
        return self.tmp / "state.db"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    site, receiver = Site(), Receiver()
    site.publish("atacms-kursk", ATACMS)
    with serve_in_thread(site.app()) as base, serve_in_thread(receiver.app()) as hook_base:
        yield World(tmp_path, site, receiver, base, f"{hook_base}/hook")


def seen_rows(db: Path) -> int:
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM seen").fetchone()[0])


def replace_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, text)
    path.write_text(text.replace(old, new))


# -- the running daemon: reloads, health, sign of life ----------------------------------------------------
def refused_url(path: str) -> str:
    """A loopback URL whose port was bound and released, never listened on: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}{path}"


async def health(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()
