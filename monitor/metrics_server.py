"""The /metrics + /healthz HTTP server: its own module, so only a daemon that serves metrics imports
aiohttp's server side."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from monitor.metrics import Health, Metrics

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
