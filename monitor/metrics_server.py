"""The /metrics + /healthz HTTP server: its own module, so only a daemon that serves metrics imports
aiohttp's server side."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from monitor.config import parse_listen
from monitor.metrics import Health, Metrics

if TYPE_CHECKING:
    from monitor.ui.daemon import Daemon

log = logging.getLogger("newsmon.metrics")

REFRESH_TIMEOUT = 2.0  # seconds a scrape waits for the store before serving the last known values


class MetricsServer:
    """``/metrics`` (Prometheus text format) and ``/healthz`` (200 / 503 with a JSON reason)."""

    def __init__(
        self,
        metrics: Metrics,
        host: str,
        port: int,
        *,
        health: Callable[[], Awaitable[Health]],
        refresh: Callable[[], Awaitable[None]] | None = None,
        mount: Callable[[web.Application], None] | None = None,
    ) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._health = health
        self._refresh = refresh
        self._mount = mount  # adds more routes (the web console) to this listener
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        if self._mount is not None:
            self._mount(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        if self.port == 0:  # tests ask for any free port; report the one we got
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        if self._refresh is not None:
            try:
                async with asyncio.timeout(REFRESH_TIMEOUT):
                    await self._refresh()
            except Exception as exc:  # a down store must not break the scrape that would show it
                log.debug("metrics_refresh_failed", extra={"error": str(exc)})
        body = self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        health = await self._health()
        return web.Response(
            status=200 if health.ok else 503, text=health.body(), content_type="application/json"
        )


async def serve(
    listen: str,
    metrics: Metrics,
    *,
    health: Callable[[], Awaitable[Health]],
    refresh: Callable[[], Awaitable[None]],
    console_of: Daemon | None,
) -> MetricsServer | None:
    """Start the listener ``[service] metrics`` names, with the web console on it for ``console_of``;
    None when metrics are off or the address cannot be bound (logged: the daemon runs on)."""
    address = parse_listen(listen)
    if address is None:
        return None
    console = None
    if console_of is not None:
        from monitor.ui import Console  # Jinja2 and the templates load only when the console is on

        console = Console(console_of)
    server = MetricsServer(
        metrics,
        *address,
        health=health,
        refresh=refresh,
        mount=console.mount if console is not None else None,
    )
    try:
        await server.start()
    except OSError as exc:
        # Monitoring news matters more than exposing metrics: run on, loudly.
        logging.getLogger("newsmon.service").error(
            "metrics_unavailable", extra={"detail": listen, "error": str(exc)}
        )
        return None
    service_log = logging.getLogger("newsmon.service")
    service_log.info("metrics_listening", extra={"url": f"http://{address[0]}:{server.port}/metrics"})
    if console is not None:
        url = f"http://{address[0]}:{server.port}/ui/"
        service_log.info("console_listening", extra={"url": url, "detail": f"access: {console.auth}"})
    return server
