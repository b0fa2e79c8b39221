"""``newsmon status``: the daemon's health, the sources, the outbox and config problems."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from monitor.cli.common import (
    EXIT_NONE,
    EXIT_OK,
    _config,
    _when,
    _with_store,
)
from monitor.config import Config
from monitor.errors import ConfigError, NewsmonError
from monitor.safe_text import one_line


def cmd_status(args: argparse.Namespace) -> int:
    from monitor.healthz import unconfigured_message
    from monitor.logs import mask_url
    from monitor.validate import load

    config = _config(args)
    try:
        # What the daemon would say to a reload of the files as they are now.
        disk_problems = [str(p) for p in load(config.path, strict=True).warnings]
        disk_ok = True
    except ConfigError as exc:
        disk_problems, disk_ok = [str(p) for p in exc.problems], False

    async def action(store: Any) -> dict[str, Any]:
        states = {s.name: s for s in await store.source_states()}
        sources = []
        for src in config.sources:
            state = states.get(src.name)
            sources.append(
                {
                    "name": src.name,
                    "kind": src.kind,
                    "last_attempt": state.last_attempt if state else None,
                    "last_success": state.last_success if state else None,
                    "last_success_at": _when(state.last_success) if state else None,
                    "last_error": state.last_error if state else None,
                    "articles_seen": state.articles_seen if state else 0,
                }
            )
        quarantined = [
            {"url": q.url, "source": q.source, "reason": q.reason, "at": _when(q.at)}
            for q in await store.quarantined()
        ]
        return {
            "store": mask_url(config.store.url),
            "sources": sources,
            "outbox_pending": await store.outbox_pending(),
            "dead_letters": len(await store.deliveries("dead")),
            "quarantined": quarantined,
            "unconfigured_notifiers": sorted(
                {d.notifier for d in await store.deliveries("pending")} - {n.name for n in config.notifiers}
            ),
        }

    try:
        status = asyncio.run(_with_store(config, action))
        status["store_error"] = None
    except (NewsmonError, OSError) as exc:
        # A store that does not answer is the news here, not a reason to hide what the daemon says.
        status = {"store": mask_url(config.store.url), "store_error": str(exc), "sources": []}
    status["config"] = {"ok": disk_ok, "problems": disk_problems}
    status["daemon"] = asyncio.run(_daemon_health(config))
    orphans = status.get("unconfigured_notifiers")
    daemon_ok = status["daemon"].get("status") in ("ok", None)
    healthy = disk_ok and daemon_ok and not status["store_error"] and not orphans
    if args.json:
        print(json.dumps(status, indent=2))
        return EXIT_OK if healthy else EXIT_NONE
    store_error = f" — DOES NOT ANSWER: {status['store_error']}" if status["store_error"] else ""
    print(f"store: {status['store']}{store_error}")
    daemon = status["daemon"]
    print(f"daemon: {daemon['summary']}")
    for name, check in daemon.get("checks", {}).items():
        if check != "ok":
            print(f"  {name}: {one_line(check)}")
    for name, note in daemon.get("notes", {}).items():
        print(f"  {name}: {note}")
    if not disk_ok:
        print(f"config on disk: {len(disk_problems)} problem(s); a reload or restart would be refused:")
    for problem in disk_problems:
        print(f"  {problem}")
    if status["store_error"]:
        return EXIT_NONE  # sources, outbox and dead letters live in the store
    width = max([len("source"), *(len(s["name"]) for s in status["sources"])])
    print(f"{'source':<{width}}  {'last success (UTC)':<25}  {'articles':>8}  last error")
    for s in status["sources"]:
        # A source that never answered shows "never"; one never polled yet shows "-".
        success = s["last_success_at"] or ("never" if s["last_attempt"] else "-")
        error = one_line(s["last_error"]) or "-"
        print(f"{s['name']:<{width}}  {success:<25}  {s['articles_seen']:>8}  {error}")
    print(f"outbox pending: {status['outbox_pending']}, dead letters: {status['dead_letters']}")
    if orphans:
        print(f"  {unconfigured_message(orphans)}")
    if status["quarantined"]:
        print(f"quarantined articles (never retried): {len(status['quarantined'])}")
        for q in status["quarantined"]:
            print(f"  {q['at']}  {q['source']}  {one_line(q['url'])}: {one_line(q['reason'])}")
    return EXIT_OK if healthy else EXIT_NONE


async def _daemon_health(config: Config) -> dict[str, Any]:
    """The running daemon's own /healthz answer: rule and reload errors live only in its memory."""
    import aiohttp

    from monitor.config import parse_listen

    address = parse_listen(config.service.metrics)
    if address is None or address[1] == 0:
        return {"status": None, "summary": "unknown ([service] metrics is off, so there is no /healthz)"}
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address[0], address[0])
    url = f"http://{f'[{host}]' if ':' in host else host}:{address[1]}/healthz"
    try:
        timeout = aiohttp.ClientTimeout(total=3)
        async with (
            aiohttp.ClientSession(trust_env=False, timeout=timeout) as session,
            session.get(url) as response,
        ):
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        # Metrics are on, so a running daemon would answer: a dead daemon must fail `status || page`.
        return {
            "status": "down",
            "summary": f"NOT ANSWERING at {url} (not running?): {exc or type(exc).__name__}",
        }
    healthy = body.get("status") == "ok"
    return {
        "status": "ok" if healthy else "unhealthy",
        "summary": f"{'healthy' if healthy else 'UNHEALTHY'} ({url})",
        "checks": body.get("checks", {}),
        "notes": body.get("notes", {}),
    }
