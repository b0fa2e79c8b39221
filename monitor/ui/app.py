"""The console's HTTP side: routes under /ui/, who may see them, and the headers every answer carries.

Access: with no token the console answers loopback peers only (config refuses ``ui = true`` on a wider
listener without ``ui_token``). With a token, a request carries it as ``Authorization: Bearer`` or in the
session cookie the login form sets (an HMAC of the token, never the token itself). Every state change is a
POST with this process's CSRF token; pages render from Jinja2 templates with autoescape on.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from monitor.logs import Scrubber
from monitor.runtime import config_secrets
from monitor.ui import pages, playground
from monitor.ui.daemon import Daemon, store_of
from monitor.ui.present import FILTERS

log = logging.getLogger("newsmon.ui")

PREFIX = "/ui"
COOKIE = "newsmon_console"
HERE = Path(__file__).resolve().parent
# Nothing but this origin's own stylesheet and script; no frames around the console, no form posting away.
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template: titles and bodies are hostile input
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(FILTERS)
    return env


def _loopback(peer: str | None) -> bool:
    try:
        return peer is not None and ipaddress.ip_address(peer.split("%")[0]).is_loopback
    except ValueError:
        return False


class Console:
    """Mount with ``Console(daemon).mount(app)`` on the metrics listener's application."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.env = _environment()
        self.sources = pages.SourceLedger()
        self.csrf = secrets.token_urlsafe(32)  # per process: a restart invalidates open forms, no more
        token = daemon.config.service.ui_token
        self._token = token.reveal() if token else None
        self._session = (
            hmac.new(self._token.encode(), b"newsmon console session", hashlib.sha256).hexdigest()
            if self._token
            else None
        )
        # Error texts (a receiver's answer, a reload problem) may quote a URL with its password.
        self.scrub = Scrubber()
        self._scrubbing: object = None  # the config whose secrets the scrubber knows
        self.env.filters["scrub"] = self.scrub

    @property
    def auth(self) -> str:
        return "token" if self._token else "loopback only"

    def mount(self, app: web.Application) -> None:
        ui = web.Application(middlewares=[self._headers, self._guard])
        ui.router.add_get("/", self._alerts)
        ui.router.add_post("/alerts/retry", self._retry)
        ui.router.add_get("/sources", self._sources)
        ui.router.add_get("/rules", self._rules)
        ui.router.add_get("/playground", self._playground)
        ui.router.add_post("/playground", self._playground)
        ui.router.add_get("/login", self._login_form)
        ui.router.add_post("/login", self._login)
        ui.router.add_static("/static/", HERE / "static")
        ui.on_startup.append(self._start_ledger)
        app.router.add_get(PREFIX, _to_console)  # before the sub-application, which would answer 404
        app.add_subapp(PREFIX + "/", ui)

    async def _start_ledger(self, app: web.Application) -> None:
        with contextlib.suppress(Exception):  # a store down at start: rates start at the first page
            self.sources.start(await store_of(self.daemon).source_states(), self.daemon.clock.time())

    # -- middlewares ------------------------------------------------------------------------------------
    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(HEADERS)
            raise
        response.headers.update(HEADERS)
        return response

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._token is None:
            if not _loopback(request.remote):
                raise web.HTTPForbidden(text="the console answers loopback only; set [service] ui_token_file")
        elif not self._signed_in(request) and not self._open_to_all(request):
            raise _redirect("/login")
        if request.method == "POST":
            await self._check_csrf(request)
        return await handler(request)

    def _open_to_all(self, request: web.Request) -> bool:
        """The sign-in form and the stylesheet and script it uses (nothing in them is private)."""
        sign_in = request.match_info.route.handler in (self._login_form, self._login)
        return sign_in or request.path.startswith(f"{PREFIX}/static/")

    def _signed_in(self, request: web.Request) -> bool:
        assert self._token is not None and self._session is not None
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer ") and hmac.compare_digest(bearer[7:].encode(), self._token.encode()):
            return True
        return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), self._session.encode())

    async def _check_csrf(self, request: web.Request) -> None:
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            raise web.HTTPForbidden(text="cross-site form posts are refused")
        form = await request.post()
        sent = form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), self.csrf.encode()):
            raise web.HTTPForbidden(text="stale or missing form token: reload the page and try again")

    # -- pages ------------------------------------------------------------------------------------------
    def _scrubber(self) -> Scrubber:
        """The scrubber, knowing the secrets of the config in effect (a reload may bring new ones)."""
        if self.daemon.config is not self._scrubbing:
            self._scrubbing = self.daemon.config
            self.scrub.update([*config_secrets(self.daemon.config), *([self._token] if self._token else [])])
        return self.scrub

    def _render(self, template: str, request: web.Request, **context: Any) -> web.Response:
        self._scrubber()
        html = self.env.get_template(template).render(
            csrf=self.csrf, page=template.removesuffix(".html"), here=request.path_qs, **context
        )
        return web.Response(text=html, content_type="text/html")

    async def _alerts(self, request: web.Request) -> web.Response:
        view = await pages.alerts(self.daemon, request.query)
        return self._render("alerts.html", request, view=view)

    async def _retry(self, request: web.Request) -> web.Response:
        form = await request.post()
        alert_id, notifier = str(form.get("alert_id", "")), str(form.get("notifier", ""))
        changed = await store_of(self.daemon).retry(alert_id, notifier or None)
        if changed and self.daemon.outbox is not None:
            self.daemon.outbox.wake()
        log.info("console_retry", extra={"alert_id": alert_id, "notifier": notifier, "count": changed})
        back = str(form.get("back", "/"))
        raise _redirect(back if back.startswith("/") and not back.startswith("//") else "/")

    async def _sources(self, request: web.Request) -> web.Response:
        view = await pages.sources(self.daemon, request.query, self.sources)
        return self._render("sources.html", request, view=view)

    async def _rules(self, request: web.Request) -> web.Response:
        view = await pages.rules(self.daemon, request.query, self._scrubber())
        return self._render("rules.html", request, view=view)

    async def _playground(self, request: web.Request) -> web.Response:
        form = await request.post() if request.method == "POST" else {}
        view = await playground.run(self.daemon, {k: str(v) for k, v in form.items()})
        return self._render("playground.html", request, view=view)

    async def _login_form(self, request: web.Request) -> web.Response:
        return self._render("login.html", request, failed=False)

    async def _login(self, request: web.Request) -> web.Response:
        assert self._token is not None and self._session is not None
        form = await request.post()
        sent = str(form.get("token", ""))
        if not hmac.compare_digest(sent.encode(), self._token.encode()):
            log.warning("console_login_failed", extra={"detail": str(request.remote)})
            response = self._render("login.html", request, failed=True)
            response.set_status(403)
            return response
        response = _redirect("/")
        response.set_cookie(COOKIE, self._session, path=PREFIX + "/", httponly=True, samesite="Strict")
        return response


async def _to_console(request: web.Request) -> web.StreamResponse:
    raise _redirect("/")


def _redirect(path: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(PREFIX + path)
