"""The daemon as the service, fault, crash and scale-out tests run it: one config writer for loopback news
sites and webhook receivers, ``newsmon run`` as a subprocess (its stderr parsed as JSON log lines, its
sd_notify datagrams collected), several of them on one store, and waits with deadlines.

Waits are on events, datagrams and log lines, each with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
DEADLINE = 15.0  # seconds for anything a healthy daemon does in well under one


# -- the sites -----------------------------------------------------------------------------------------
def article_page(title: str, body: str, published: datetime) -> web.Response:
    """An article as the test sites serve it: its headline, publication time and ``body`` (HTML)."""
    html = (
        f"<html><head><title>{title}</title>"
        f'<meta property="article:published_time" content="{published.isoformat()}"></head>'
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    )
    return web.Response(text=html, content_type="text/html")


Articles = Mapping[str, tuple[str, str, datetime]]  # slug -> (title, body HTML, published)


def feed_page(request: web.Request, articles: Articles, slugs: Iterable[str] | None = None) -> web.Response:
    """An RSS feed of ``slugs`` (default: every article), linking to ``/news/<slug>`` on the host asked."""
    base = f"http://{request.host}"
    items = "".join(
        f"<item><title>{articles[s][0]}</title><link>{base}/news/{s}</link><guid>{s}</guid>"
        f"<pubDate>{format_datetime(articles[s][2])}</pubDate></item>"
        for s in (articles if slugs is None else slugs)
    )
    text = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
    return web.Response(text=text, content_type="application/rss+xml")


def article_or_404(request: web.Request, articles: Articles) -> web.Response:
    """The article ``/news/{slug}`` names, as ``article_page`` serves it; 404 for an unknown slug."""
    slug = request.match_info["slug"]
    if slug not in articles:
        raise web.HTTPNotFound()
    return article_page(*articles[slug])


# -- the config ---------------------------------------------------------------------------------------
def write_config(
    tmp_path: Path,
    sources: Mapping[str, str],
    hook: str,
    *,
    rules: str,
    store: str | None = None,
    lease: str | None = None,
    interval: str | None = "1s",
    per_host_delay: str = "0s",
    http: str = "",
    alerts: str = 'first_run = "alert"',
    notifier: str = "",
    metrics: str = "",
    shutdown_timeout: str | None = "2s",
    service: str = "",
) -> Path:
    """``tmp_path/config.toml`` for loopback servers, and its rules.

    Every source (name -> feed URL) is polled every ``interval`` (None: the default); one webhook notifier
    ``hook`` posts to ``hook``. ``rules`` goes to ``rules/test.yaml``, rewritten only when it changed, so
    rewriting the config under a running daemon does not look like a rule edit to its watcher. The store
    is SQLite in ``tmp_path`` unless ``store`` is a URL; ``lease`` is ``[store] lease``. Logs are JSON,
    there is no metrics listener unless ``metrics`` is an address. ``http``, ``alerts``, ``notifier`` and
    ``service`` are extra lines for those sections."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir(exist_ok=True)
    rule_file = rules_dir / "test.yaml"
    if not rule_file.exists() or rule_file.read_text() != rules:
        rule_file.write_text(rules)
    url = store or f"sqlite://{tmp_path / 'state.db'}"
    text = f'[store]\nurl = "{url}"\n' + (f'lease = "{lease}"\n' if lease is not None else "")
    text += f"""[http]
allow_private_networks = true
respect_robots = false
per_host_delay = "{per_host_delay}"
{http}
[rules]
paths = ["rules/"]
[alerts]
{alerts}
"""
    for name, feed in sources.items():
        text += f'[[sources]]\nname = "{name}"\nurl = "{feed}"\n'
        if interval is not None:
            text += f'interval = "{interval}"\n'
    text += f'[[notifiers]]\nname = "hook"\nkind = "webhook"\nurl = "{hook}"\n{notifier}\n'
    text += f'[service]\nlog_format = "json"\nmetrics = "{metrics}"\n'
    if shutdown_timeout is not None:
        text += f'shutdown_timeout = "{shutdown_timeout}"\n'
    text += f"{service}\n"
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


# -- waits --------------------------------------------------------------------------------------------
async def until(
    changed: asyncio.Event, check: Callable[[], object], within: float, what: str | Callable[[], str]
) -> None:
    """Wait on ``changed`` (set by whoever changes what ``check`` looks at) until ``check()`` holds;
    fail with "no ``what`` within ..." after ``within`` seconds (``what`` may be computed then)."""
    try:
        async with asyncio.timeout(within):
            while not check():
                changed.clear()
                await changed.wait()
    except TimeoutError:
        said = what() if callable(what) else what
        raise AssertionError(f"no {said} within {within}s") from None


async def fired(event: asyncio.Event, within: float) -> bool:
    """Whether ``event`` is set within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            await event.wait()
        return True
    except TimeoutError:
        return False


# -- the daemon as a subprocess -----------------------------------------------------------------------
@dataclass
class Daemon:
    """``newsmon run`` with its stderr parsed as JSON log lines and its sd_notify datagrams collected."""

    proc: asyncio.subprocess.Process
    sock: socket.socket
    logs: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)  # every stderr and stdout line, as written
    notes: list[tuple[float, str]] = field(default_factory=list)  # (monotonic arrival, datagram)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _wait(self, find: Callable[[], Any], within: float, what: str) -> Any:
        try:
            async with asyncio.timeout(within), self.changed:
                while (found := find()) is None:
                    if self.proc.returncode is not None:
                        raise AssertionError(f"daemon exited ({self.proc.returncode}) waiting for {what}")
                    await self.changed.wait()
                return found
        except TimeoutError:
            raise AssertionError(f"no {what} within {within}s; last output:\n{self.tail()}") from None

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.raw[-lines:])

    async def note(
        self, predicate: Callable[[str], bool], *, after: int = 0, within: float = DEADLINE
    ) -> int:
        """Index of the first datagram from ``after`` on that satisfies ``predicate``."""

        def find() -> int | None:
            return next((i for i in range(after, len(self.notes)) if predicate(self.notes[i][1])), None)

        return int(await self._wait(find, within, "notify datagram"))

    async def log(self, predicate: Callable[[dict[str, Any]], bool], *, within: float = DEADLINE) -> dict:
        """The first log line that satisfies ``predicate``, once there is one."""
        return dict(
            await self._wait(lambda: next((e for e in self.logs if predicate(e)), None), within, "log line")
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        """Every log line of event ``name`` so far."""
        return [e for e in self.logs if e.get("event") == name]

    def delivered(self) -> list[str]:
        """Alert ids this daemon logged as delivered: the outcome was recorded in the store (on Redis,
        the stream entry acknowledged) before the line was written."""
        return [e["alert_id"] for e in self.events("delivery") if e.get("outcome") == "delivered"]

    async def ready(self) -> int:
        return await self.note(lambda n: "READY=1" in n.split("\n"))

    async def exit_code(self, within: float = DEADLINE) -> int:
        async with asyncio.timeout(within):
            return await self.proc.wait()

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip("\n")
            async with self.changed:
                self.raw.append(text)
                with contextlib.suppress(ValueError):
                    entry = json.loads(text)
                    if isinstance(entry, dict):
                        self.logs.append(entry)
                self.changed.notify_all()
        async with self.changed:  # EOF: wake waiters so they see the exit
            self.changed.notify_all()

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self.sock, 4096)
            async with self.changed:
                self.notes.append((time.monotonic(), data.decode()))
                self.changed.notify_all()


@contextlib.asynccontextmanager
async def run_daemon(config: Path, *, env: dict[str, str] | None = None) -> AsyncIterator[Daemon]:
    """``newsmon run -c config`` with NOTIFY_SOCKET on an abstract socket; killed if still running."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"newsmon-test-{uuid.uuid4().hex}"
    sock.bind("\0" + name)  # an abstract socket, as systemd may hand out: no path length limit
    sock.setblocking(False)
    environ = {k: v for k, v in os.environ.items() if k not in ("WATCHDOG_USEC", "WATCHDOG_PID")}
    environ |= {"NOTIFY_SOCKET": "@" + name, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "monitor", "run", "-c", str(config)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environ,
        cwd=config.parent,
    )
    daemon = Daemon(proc, sock)
    assert proc.stdout is not None and proc.stderr is not None
    daemon.tasks = [
        asyncio.create_task(daemon._read(proc.stderr)),
        asyncio.create_task(daemon._read(proc.stdout)),
        asyncio.create_task(daemon._listen()),
    ]
    try:
        yield daemon
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for task in daemon.tasks:
            task.cancel()
        await asyncio.gather(*daemon.tasks, return_exceptions=True)
        sock.close()


@contextlib.asynccontextmanager
async def instances(config: Path, count: int) -> AsyncIterator[list[Daemon]]:
    """``count`` daemons on one config (and so one store), each ready before the block runs."""
    async with contextlib.AsyncExitStack() as stack:
        daemons = [await stack.enter_async_context(run_daemon(config)) for _ in range(count)]
        await asyncio.gather(*(d.ready() for d in daemons))
        yield daemons
