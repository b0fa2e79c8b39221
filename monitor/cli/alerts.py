"""``newsmon alerts list``, ``alerts retry`` and ``notify test``: the outbox and the notifiers."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from typing import Any

from monitor.cli.common import (
    EXIT_NONE,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    _config,
    _refuse_unknown,
    _when,
    _with_store,
)
from monitor.config import Config
from monitor.safe_text import one_line


def _current_error(delivery: Any, configured: set[str]) -> str | None:
    """What stands between a delivery and its receiver now, not what once did."""
    if delivery.state == "delivered":
        return None  # its earlier failures are history
    if delivery.state == "pending" and delivery.notifier not in configured:
        return f"notifier {delivery.notifier!r} is not in the config: kept, not sent"
    return str(delivery.last_error) if delivery.last_error else None


def cmd_alerts_list(args: argparse.Namespace) -> int:
    from monitor.durations import parse_duration

    config = _config(args)
    try:
        since = time.time() - parse_duration(args.since) if args.since else None
    except ValueError as exc:
        print(f"alerts list: --since: {exc}", file=sys.stderr)
        return EXIT_USAGE

    configured = {n.name for n in config.notifiers}

    async def action(store: Any) -> list[dict[str, Any]]:
        deliveries = sorted(
            await store.deliveries("dead" if args.failed else None), key=lambda d: d.created_at, reverse=True
        )
        rows = []
        for d in deliveries:
            if since is not None and d.created_at < since:
                continue
            alert = await store.get_alert(d.alert_id)
            if args.rule and (alert is None or alert.rule_id != args.rule):
                continue
            rows.append(
                {
                    "id": d.alert_id,
                    "created_at": _when(d.created_at),
                    "detected_at": alert.detected_at.isoformat(timespec="seconds") if alert else None,
                    "notifier": d.notifier,
                    "state": d.state,
                    "attempts": d.attempts,
                    "next_attempt_at": _when(d.next_attempt_at) if d.state == "pending" else None,
                    "last_error": _current_error(d, configured),
                    "rule": alert.rule_id if alert else None,
                    "title": alert.title if alert else None,
                    "url": alert.url if alert else None,
                }
            )
            if len(rows) >= args.limit:
                break
        return rows

    rows = asyncio.run(_with_store(config, action))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for r in rows:
            error = f" — last error: {one_line(r['last_error'])}" if r["last_error"] else ""
            due = r["next_attempt_at"] if r["attempts"] else None
            retry = f" (next attempt {due})" if due else ""
            print(
                f"{r['created_at']}  {r['id']}  {r['notifier']:<12} {r['state']:<9}{retry} "
                f"{r['rule']}: {one_line(r['title'])}{error}"
            )
        print(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'} (newest first, at most {args.limit})")
    return EXIT_OK if rows else EXIT_NONE


def cmd_alerts_retry(args: argparse.Namespace) -> int:
    from monitor.leases import instance_id

    config = _config(args)
    if not args.ids and not args.failed:
        print("alerts retry: give alert IDs or --failed", file=sys.stderr)
        return EXIT_USAGE

    async def action(store: Any) -> int:
        # A mistyped id among good ones must not vanish behind "1 delivery queued".
        unknown = [alert_id for alert_id in args.ids if await store.get_alert(alert_id) is None]
        for alert_id in unknown:
            print(f"alerts retry: no alert {alert_id!r} (ids are in `newsmon alerts list`)", file=sys.stderr)
        if unknown:
            return EXIT_USAGE
        ids = list(args.ids) or sorted({d.alert_id for d in await store.deliveries("dead")})
        changed = sum([await store.retry(alert_id) for alert_id in ids])
        if not changed:
            why = "every delivery was delivered already" if args.ids else "no dead letters"
            print(f"alerts retry: nothing to retry ({why})", file=sys.stderr)
            return EXIT_NONE
        print(f"{changed} deliver{'y' if changed == 1 else 'ies'} queued for retry")
        # A daemon sharing this store polls its outbox every second; without one, send now ourselves.
        daemons = await store.heartbeat(instance_id(), 0)
        if daemons:
            print(f"the running daemon ({', '.join(daemons)}) sends them within a second or two")
            return EXIT_OK
        return await _deliver_now(config, store)

    return int(asyncio.run(_with_store(config, action)))


async def _deliver_now(config: Config, store: Any) -> int:
    """Deliver what is due through the configured notifiers, as the daemon's outbox would."""
    from monitor.model import SystemClock
    from monitor.notify import REGISTRY
    from monitor.notify.outbox import Outbox
    from monitor.runtime import notify_session

    outcomes: list[tuple[str, str]] = []
    async with notify_session(config) as session:
        notifiers = {
            nc.name: REGISTRY[nc.kind](nc.name, nc.options, session=session) for nc in config.notifiers
        }
        outbox = Outbox(
            store,
            lambda: notifiers,
            SystemClock(),
            give_up_after=lambda: config.alerts.give_up_after,
            lease=config.store.lease,
            on_outcome=lambda notifier, outcome: outcomes.append((notifier, outcome)),
        )
        try:
            await outbox.drain(time.time() + config.service.shutdown_timeout)
        finally:
            for notifier in notifiers.values():
                await notifier.close()
    sent = sum(outcome == "delivered" for _, outcome in outcomes)
    print(f"no daemon is running: sent now, {sent} delivered, {len(outcomes) - sent} not")
    for name, outcome in outcomes:
        if outcome != "delivered":
            print(f"  {name}: {outcome} (see `newsmon alerts list`)")
    return EXIT_OK if sent == len(outcomes) else EXIT_PARTIAL


def cmd_notify_test(args: argparse.Namespace) -> int:
    from monitor.errors import DeliveryError
    from monitor.notify import REGISTRY
    from monitor.notify.base import sample_alert
    from monitor.runtime import notify_session

    config = _config(args)
    chosen = [n for n in config.notifiers if not args.names or n.name in args.names]
    if _refuse_unknown("notify test", "notifier", args.names, [n.name for n in config.notifiers]):
        return EXIT_USAGE
    if not chosen:
        print("notify test: no [[notifiers]] in the config", file=sys.stderr)
        return EXIT_USAGE
    # A fresh id per run: receivers that dedupe on Idempotency-Key must not swallow a repeated test.
    alert = dataclasses.replace(sample_alert(), id=f"test-{time.time_ns():x}")

    async def send_all() -> bool:
        ok = True
        async with notify_session(config) as session:
            for nc in chosen:
                notifier = REGISTRY[nc.kind](nc.name, nc.options, session=session)
                try:
                    answer = await notifier.send(alert)
                    print(f"{nc.name}: delivered ({one_line(answer)})")
                except DeliveryError as exc:
                    ok = False
                    print(f"{nc.name}: failed ({one_line(str(exc))})")
                finally:
                    await notifier.close()
        return ok

    return EXIT_OK if asyncio.run(send_all()) else EXIT_NONE
