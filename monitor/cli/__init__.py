"""Command line: wiring and output only."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor import loop as event_loop
from monitor.config import Config, did_you_mean, find_config, load_config
from monitor.errors import ConfigError, NewsmonError, Problem, RuleError
from monitor.safe_text import one_line

# The contract scripts and timers rely on; EXIT_CODES is printed by --help.
EXIT_OK, EXIT_NONE, EXIT_USAGE, EXIT_PARTIAL, EXIT_FAILED = 0, 1, 2, 3, 4
EXIT_CODES = """exit codes:
  0  ok
  1  nothing found (no rule matched, no alert listed) or a check failed (unhealthy daemon)
  2  usage or input error: a bad config or rule file (every problem printed as path:line:col: message)
  3  partly failed: some sources could not be polled, or some alerts are not delivered yet
  4  failed: no source could be polled"""
DESCRIPTION = "newsmon watches news sites, feeds and sitemaps, matches your rules and alerts once per story."


def _print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)


def _config(args: argparse.Namespace) -> Config:
    return load_config(find_config(args.config))


def _loaded(args: argparse.Namespace) -> Any:
    """Config and rules with every check of ``newsmon check``; any error exits 2 before anything starts."""
    from monitor.validate import load

    return load(find_config(args.config), strict=True)


# -- run / once -------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from monitor.logs import Scrubber, setup_logging
    from monitor.runtime import config_secrets
    from monitor.service import Service

    loaded = _loaded(args)
    config = loaded.config
    _print_problems(loaded.warnings)
    # The scrubber learns the config's secrets now and the new ones at each reload.
    scrubber = Scrubber(config_secrets(config))
    setup_logging(config.service.log_format, config.service.log_level, scrub=scrubber)
    event_loop.run(Service(config, scrubber=scrubber, rules=loaded.rules).run())
    return EXIT_OK


def cmd_once(args: argparse.Namespace) -> int:
    from monitor.healthz import unconfigured_message
    from monitor.logs import setup_logging
    from monitor.service import Service

    loaded = _loaded(args)
    config = loaded.config
    _print_problems(loaded.warnings)
    setup_logging("text", config.service.log_level)
    names = [s.name for s in config.sources]
    unknown = [name for name in args.source if name not in names]
    if unknown:
        for name in unknown:
            print(f"once: unknown source {name!r}{did_you_mean(name, names)}", file=sys.stderr)
        return EXIT_USAGE
    first = _first_polls(config) if config.alerts.first_run == "mark-seen" else set()
    service = Service(config, dry_run=args.dry_run, rules=loaded.rules)
    results = event_loop.run(service.once(args.source))
    alerts = [alert for r in results for alert in r.alerts]
    for r in results:
        if r.source in first and not r.errors and not r.not_modified:
            # Said here, not only in an info log line: a first `once` that alerts nothing looks broken,
            # and a dry run that lists alerts the real run will not send looks like a lie.
            marks = "would mark" if args.dry_run else "marked"
            print(
                f"{r.source}: first poll: {marks} what is there now seen without alerting ([alerts] "
                'first_run = "mark-seen"; "alert" alerts it); new articles alert from now on'
            )
        else:
            state = "not modified" if r.not_modified else f"{r.new_articles} new article(s)"
            errors = f", {len(r.errors)} error(s)" if r.errors else ""
            print(f"{r.source}: {state}, {len(r.alerts)} alert(s){errors}")
        for error in r.errors[:3]:
            print(f"  error: {one_line(error)}")
    if args.dry_run:
        for alert in alerts:
            would = "matches, first poll so no alert:" if alert.source in first else "would alert"
            print(f"  {would} [{alert.rule_id}] {one_line(alert.title)} <{one_line(alert.url)}>")
    if orphans := service.unconfigured_notifiers:
        print(f"once: {unconfigured_message(orphans)}", file=sys.stderr)
    code = _once_outcome(results, service.activity.take(), dry_run=args.dry_run)
    return max(code, EXIT_PARTIAL) if orphans else code


def _first_polls(config: Config) -> set[str]:
    """Sources never polled successfully: their first poll marks what is there seen, without alerting."""

    async def action(store: Any) -> set[str]:
        polled = {s.name for s in await store.source_states() if s.last_success is not None}
        return {s.name for s in config.sources} - polled

    return set(asyncio.run(_with_store(config, action)))


def _once_outcome(results: Sequence[Any], activity: dict[str, int], *, dry_run: bool) -> int:
    """Say what went wrong, if anything, and pick the exit code a timer can act on."""
    failed = [r.source for r in results if r.errors]
    undelivered = 0 if dry_run else activity["failed"] + activity["dead"]
    if failed:
        which = "every source" if len(failed) == len(results) else f"{len(failed)} of {len(results)} sources"
        print(f"once: {which} failed: {', '.join(failed)}", file=sys.stderr)
    if undelivered:
        print(
            f"once: {undelivered} deliver{'y' if undelivered == 1 else 'ies'} failed; they stay in the "
            "outbox and are retried by the next run (see `newsmon alerts list`)",
            file=sys.stderr,
        )
    if failed and len(failed) == len(results):
        return EXIT_FAILED
    return EXIT_PARTIAL if failed or undelivered else EXIT_OK


# -- check ------------------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    from monitor.logs import mask_url
    from monitor.validate import load

    path = find_config(args.config)
    # The same checks as run, once and every reload; only an empty setup is a warning here, not an error.
    loaded = load(path, strict=False)
    config, rules, problems = loaded.config, loaded.rules, loaded.warnings
    _print_problems(problems)
    warned = f", {len(problems)} warning(s)" if problems else ""
    print(
        f"{path}: ok — {len(config.sources)} source(s), {len(rules.rules)} rule(s) in "
        f"{len(rules.files)} file(s), {len(config.notifiers)} notifier(s), "
        f"store {mask_url(config.store.url)}{warned}"
    )
    return EXIT_OK


# -- rules test -------------------------------------------------------------------------------------------
def _article_from_input(args: argparse.Namespace) -> Any:
    from monitor.config import HttpConfig
    from monitor.crawl.http import HttpClient
    from monitor.extract import article_from_text, extract
    from monitor.model import Fetched

    if args.url:

        async def fetch() -> Fetched:
            # The user named this URL explicitly, so loopback and intranet pages are fine here.
            config = HttpConfig(allow_private_networks=True, respect_robots=False, per_host_delay=0)
            async with HttpClient(config) as http:
                return await http.fetch(args.url)

        return extract(asyncio.run(fetch()), source="cli")
    if args.file == "-" or args.file is None:
        data = sys.stdin.buffer.read()
        name = "<stdin>"
    else:
        data = Path(args.file).read_bytes()
        name = args.file
    url = Path(name).resolve().as_uri() if name != "<stdin>" else "stdin:"
    if name.endswith(".txt") or (name == "<stdin>" and data.lstrip()[:1] != b"<"):
        return article_from_text(data.decode("utf-8", "replace"), url=url, source="cli")
    return extract(Fetched(url=url, status=200, body=data, content_type="text/html"), source="cli")


def _hit_json(h: Any, lemmas: str | None = None) -> dict[str, Any]:
    return {
        "term": h.term,
        "via_lemma": lemmas,
        "entity": h.entity,
        "field": h.field,
        "start": h.start,
        "end": h.end,
        "snippet": h.snippet,
    }


def _print_hits(hits: Sequence[Any], lemmas: Sequence[str | None] | None = None, prefix: str = "   ") -> None:
    """One line per hit; ``lemmas`` (per hit, from ``Explanation.lemmas``) says which were found in another
    grammatical form."""
    for h, lemma in zip(hits, lemmas or [None] * len(hits), strict=True):
        via = f" (@{h.entity})" if h.entity else ""
        inflected = f" (matched via lemma {lemma!r})" if lemma else ""
        print(f"{prefix}{h.field}: {one_line(repr(h.term))}{via}{inflected}: {one_line(h.snippet)}")


def _rules_to_test(args: argparse.Namespace) -> Any:
    """``--rules``, else the config's ``[rules] paths`` as ``run`` reads them (the config named by ``-c``
    or found where ``run`` looks), else ``./rules/``; a path that does not exist is an error."""
    from monitor.matching.rules import load_rules

    if args.rules:
        paths = [Path(p) for p in args.rules]
    else:
        found = find_config(args.config)
        paths = load_config(found).rule_paths if args.config or found.exists() else [Path("rules")]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise ConfigError(
            [
                Problem(str(p), 1, 1, "no such rule file or folder (name one with --rules PATH)")
                for p in missing
            ]
        )
    rules = load_rules(paths)
    _print_problems(rules.warnings)
    return rules


def cmd_rules_test(args: argparse.Namespace) -> int:
    from monitor.matching.engine import Engine

    if args.since is not None:
        from monitor.cli_backtest import cmd_backtest

        return cmd_backtest(args)
    if not args.url and args.file is None and not args.stdin:
        print("rules test: give --url URL, --file PATH or - (stdin), or --since DURATION", file=sys.stderr)
        return EXIT_USAGE
    rules = _rules_to_test(args)
    article = _article_from_input(args)
    explained = Engine(rules.rules).explain(article)
    matches = [x for x in explained if x.match is not None]
    misses = [x for x in explained if x.match is None]
    if args.json:
        print(
            json.dumps(
                {
                    "article": {
                        "title": article.title,
                        "url": article.url,
                        "published": article.published.isoformat() if article.published else None,
                    },
                    "matches": [
                        {
                            "rule": m.rule.id,
                            "title": m.rule.title,
                            "hits": [_hit_json(*h) for h in zip(m.hits, m.lemmas, strict=True)],
                        }
                        for m in matches
                    ],
                    "near_misses": [
                        {
                            "rule": x.rule.id,
                            "title": x.rule.title,
                            "failed": list(x.failed),
                            "hits": [_hit_json(*h) for h in zip(x.hits, x.lemmas, strict=True)],
                        }
                        for x in misses
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        print(f"article: {one_line(article.title) or '(no title)'} <{one_line(article.url)}>")
        if not matches:
            print(f"no rule matched ({len(rules.rules)} rule(s) tried)")
        for m in matches:
            print(f"\n✔ {m.rule.id} — {one_line(m.rule.title)}")
            _print_hits(m.hits, m.lemmas)
        for x in misses:
            print(f"\n✘ {x.rule.id} — {one_line(x.rule.title)} (almost)")
            for reason in x.failed:
                print(f"   {one_line(reason)}")
            _print_hits(x.hits, x.lemmas, prefix="   found in ")
    return EXIT_OK if matches else EXIT_NONE


# -- alerts / status / notify test ---------------------------------------------------------------------
async def _with_store(config: Config, action: Any) -> Any:
    from monitor.model import SystemClock
    from monitor.store import open_configured

    store = open_configured(config, SystemClock())
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()


def _when(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None


def _current_error(delivery: Any, configured: set[str]) -> str | None:
    """What stands between a delivery and its receiver now, not what once did."""
    if delivery.state == "delivered":
        return None  # its earlier failures are history
    if delivery.state == "pending" and delivery.notifier not in configured:
        return f"notifier {delivery.notifier!r} is not in the config: kept, not sent"
    return str(delivery.last_error) if delivery.last_error else None


def cmd_alerts_list(args: argparse.Namespace) -> int:
    from monitor.config import parse_duration

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


def cmd_notify_test(args: argparse.Namespace) -> int:
    from monitor.errors import DeliveryError
    from monitor.notify import REGISTRY
    from monitor.notify.base import sample_alert
    from monitor.runtime import notify_session

    config = _config(args)
    chosen = [n for n in config.notifiers if not args.names or n.name in args.names]
    names = [n.name for n in config.notifiers]
    missing = [name for name in args.names if name not in names]
    if missing:
        for name in missing:
            print(f"notify test: unknown notifier {name!r}{did_you_mean(name, names)}", file=sys.stderr)
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


def cmd_init(args: argparse.Namespace) -> int:
    from monitor.init import run_init

    return run_init(Path(args.dir))


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    return run_demo(args.console)


# -- sources add / import / export, completion ------------------------------------------------------------
# Discovery is a one-off of a dozen requests while someone waits: the daemon's per-host delay (made for
# polling around the clock) is capped for it. Everything else (robots.txt, SSRF guard, caps) is kept.
DISCOVERY_DELAY = 0.2


def _source_key(url: str) -> str:
    from monitor.crawl.urls import canonicalize

    return canonicalize(url) or url


def _edit_target(args: argparse.Namespace) -> tuple[Path, str | None, Config | None]:
    """The config to edit, its text and Config; a missing file is fine only for a dry run."""
    from monitor.config_edit import read_config

    path = find_config(args.config)
    if args.dry_run and not path.exists():
        return path, None, None
    text, config = read_config(path)
    return path, text, config


def _write_sources(path: Path, text: str, blocks: list[Any], what: str) -> int:
    from monitor.config_edit import append_sources

    try:
        append_sources(path, text, blocks)
    except ConfigError as exc:
        print(f"{what}: the config would not load with this change, so {path} is unchanged:", file=sys.stderr)
        _print_problems(exc.problems)
        return EXIT_USAGE
    return EXIT_OK


def _interval(args: argparse.Namespace, what: str) -> bool:
    from monitor.config import parse_duration

    if args.interval is None:
        return True
    try:
        parse_duration(args.interval)
    except ValueError as exc:
        print(f"{what}: --interval: {exc}", file=sys.stderr)
        return False
    return True


def cmd_sources_add(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from monitor.config import HttpConfig
    from monitor.config_edit import SourceBlock, render_blocks, slug, unique_name
    from monitor.crawl.http import HttpClient
    from monitor.discover import LINKED, PAGE, ROBOTS, discover

    if not _interval(args, "sources add"):
        return EXIT_USAGE
    if urlsplit(args.url).scheme not in ("http", "https"):
        print(f"sources add: expected an http:// or https:// URL, got {args.url!r}", file=sys.stderr)
        return EXIT_USAGE
    path, text, config = _edit_target(args)
    names = {s.name for s in config.sources} if config else set()
    if args.name and args.name in names:
        print(f'sources add: a source named "{args.name}" exists already in {path}', file=sys.stderr)
        return EXIT_USAGE
    http_config = config.http if config else HttpConfig()
    http_config = dataclasses.replace(
        http_config, per_host_delay=min(http_config.per_host_delay, DISCOVERY_DELAY)
    )

    async def run() -> Any:
        async with HttpClient(http_config) as http:
            return await discover(args.url, http)

    result = asyncio.run(run())
    valid = [f for f in result.valid if args.kind in (None, f.kind)]
    for n, finding in enumerate(valid, 1):
        print(f"{n:>2}. {finding.kind:<8} {one_line(finding.url)}  ({one_line(finding.describe())})")
    # Guessed paths that 404 are noise; a linked feed or a robots.txt sitemap that fails is news.
    for finding in result.findings:
        if not finding.ok and finding.how in (LINKED, ROBOTS, PAGE):
            print(
                f"  ✗ {finding.kind:<8} {one_line(finding.url)}  ({finding.how}: {one_line(finding.error)})"
            )
    best = valid[0] if valid else None
    if best is None and result.page_error is not None:
        print(f"sources add: could not fetch {args.url}: {one_line(result.page_error)}", file=sys.stderr)
        return EXIT_NONE
    if best is None:
        wanted = f"no {args.kind} source" if args.kind else "no feed, sitemap or article links"
        print(f"sources add: {wanted} found at {args.url}", file=sys.stderr)
        return EXIT_NONE
    if config is not None:
        watched = {_source_key(s.url): s.name for s in config.sources}
        if _source_key(best.url) in watched:
            print(
                f'sources add: {best.url} is already watched as "{watched[_source_key(best.url)]}"',
                file=sys.stderr,
            )
            return EXIT_USAGE
    host = (urlsplit(best.url).hostname or "source").removeprefix("www.")
    name = args.name or unique_name(slug(host) or "source", names)
    block = SourceBlock(name=name, url=best.url, kind=best.kind, interval=args.interval)
    if args.dry_run or text is None:
        print(f"\ndry run, {path} not changed; this would be added:\n\n{render_blocks([block])}", end="")
        return EXIT_OK
    code = _write_sources(path, text, [block], "sources add")
    if code == EXIT_OK:
        print(f'\nadded source "{name}" ({best.kind}, {best.url}) to {path}')
    return code


def cmd_sources_import(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from monitor.config_edit import SourceBlock, render_blocks, slug, unique_name
    from monitor.opml import Skipped, parse_opml

    if not _interval(args, "sources import"):
        return EXIT_USAGE
    feeds, skipped = parse_opml(Path(args.file).read_bytes(), args.file)
    path, text, config = _edit_target(args)
    names = {s.name for s in config.sources} if config else set()
    watched = {_source_key(s.url): s.name for s in config.sources} if config else {}
    blocks: list[SourceBlock] = []
    for feed in feeds:
        label = one_line(feed.title or feed.url, 80)
        if _source_key(feed.url) in watched:
            skipped.append(Skipped(label, f'already watched as "{watched[_source_key(feed.url)]}"'))
            continue
        host = (urlsplit(feed.url).hostname or "").removeprefix("www.")
        name = unique_name(slug(feed.title or "") or slug(host) or "feed", names)
        names.add(name)
        # The reader's folder survives as a comment: rules can then be scoped with `sources = [...]`.
        comment = f"OPML folder: {one_line(feed.category, 200)}" if feed.category else None
        blocks.append(SourceBlock(name=name, url=feed.url, interval=args.interval, comment=comment))
    for skip in skipped:
        print(f"  skipped {one_line(skip.where, 80)}: {skip.reason}")
    if not blocks:
        print(f"sources import: no new feeds in {args.file}", file=sys.stderr)
        return EXIT_NONE
    if args.dry_run or text is None:
        print(f"dry run, {path} not changed; {len(blocks)} source(s) would be added:\n")
        print(render_blocks(blocks), end="")
        return EXIT_OK
    code = _write_sources(path, text, blocks, "sources import")
    if code == EXIT_OK:
        print(f"imported {len(blocks)} feed(s) into {path}, skipped {len(skipped)}")
    return code


def cmd_sources_export(args: argparse.Namespace) -> int:
    from monitor.opml import export_opml

    config = _config(args)
    feeds = [s for s in config.sources if s.kind == "feed"]
    data = export_opml(feeds)
    others = len(config.sources) - len(feeds)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"exported {len(feeds)} feed source(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    if others:
        print(f"({others} html/sitemap source(s) left out: OPML lists feeds only)", file=sys.stderr)
    return EXIT_OK if feeds else EXIT_NONE


def cmd_completion(args: argparse.Namespace) -> int:
    from monitor.completion import generate

    sys.stdout.write(generate(args.shell, build_parser()))
    return EXIT_OK


def _add_source_commands(sub: Any, with_config: Any) -> None:
    sources = _command(sub, "sources", "add, import and export sources").add_subparsers(
        dest="sources_command", required=True, metavar="COMMAND"
    )
    add = with_config(_command(sources, "add", "find how to watch a site and add it to the config"))
    add.add_argument("url", metavar="URL", help="any page of the site (front page, section, feed)")
    add.add_argument("--name", help="source name (default: from the host, made unique)")
    add.add_argument("--interval", metavar="DURATION", help='poll interval, e.g. "5m" (default: 5m)')
    add.add_argument("--kind", choices=["feed", "sitemap", "html"], help="only consider this kind")
    add.add_argument("--dry-run", action="store_true", help="only print what was found")
    add.set_defaults(func=cmd_sources_add)
    imp = with_config(_command(sources, "import", "add the feeds of an OPML file"))
    imp.add_argument("file", metavar="FILE", help="OPML from a feed reader (Miniflux, FreshRSS, Feedly, …)")
    imp.add_argument("--interval", metavar="DURATION", help='poll interval for every feed, e.g. "10m"')
    imp.add_argument("--dry-run", action="store_true", help="only print what would be added")
    imp.set_defaults(func=cmd_sources_import)
    exp = with_config(_command(sources, "export", "print the feed sources as OPML 2.0"))
    exp.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    exp.set_defaults(func=cmd_sources_export)

    completion = _command(sub, "completion", "print a shell completion script")
    completion.add_argument("shell", choices=["bash", "zsh", "fish"])
    completion.set_defaults(func=cmd_completion)


def _articles(args: argparse.Namespace) -> int:
    from monitor.cli_articles import run

    return run(args)


def _add_article_commands(sub: Any, with_config: Any) -> None:
    articles = _command(sub, "articles", "the article archive: what newsmon saw").add_subparsers(
        dest="articles_command", required=True
    )
    listing = with_config(_command(articles, "list", "archived articles, oldest first"))
    show = with_config(_command(articles, "show", "one article as the rules saw it, with matches"))
    show.add_argument("url", metavar="URL")
    show.add_argument("--rules", action="append", metavar="PATH", help="rules to explain (default: config's)")
    search = with_config(_command(articles, "search", "archived articles with any of these terms"))
    search.add_argument("terms", nargs="+", metavar="TERM", help="terms as a rule writes them")
    for p in (listing, search):
        p.add_argument("--source", metavar="NAME", help="only articles from this source")
        p.add_argument("--since", metavar="DURATION", default="1d", help='how far back (default "1d")')
        p.add_argument(
            "--limit", type=_at_least_one, default=50, metavar="N", help="at most N, newest (default 50)"
        )
    for p in (listing, show, search):
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=_articles)


# -- parser -----------------------------------------------------------------------------------------------
def _at_least_one(value: str) -> int:
    """``--limit N``: a limit of 0 or less used to list a row anyway."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {value!r}")
    return number


def _command(sub: Any, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand whose one-line ``text`` shows both in ``newsmon --help`` and in its own ``--help``."""
    return sub.add_parser(  # type: ignore[no-any-return]
        name,
        help=text,
        description=text,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsmon",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"newsmon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "-c",
            "--config",
            help="config file (default: $NEWSMON_CONFIG, else ./config.toml, else /etc/newsmon/config.toml)",
        )
        return p

    with_config(
        _command(sub, "run", "run the daemon: poll on schedule, alert, reload on SIGHUP")
    ).set_defaults(func=cmd_run)
    once = with_config(_command(sub, "once", "poll every source once, deliver the alerts, exit"))
    once.add_argument("--source", action="append", default=[], metavar="NAME", help="only this source")
    once.add_argument("--dry-run", action="store_true", help="print the alerts, deliver and record nothing")
    once.set_defaults(func=cmd_once)
    with_config(_command(sub, "check", "validate the config and every rule file it names")).set_defaults(
        func=cmd_check
    )

    rules = _command(sub, "rules", "rule tools").add_subparsers(
        dest="rules_command", required=True, metavar="COMMAND"
    )
    test = _command(
        rules, "test", "which rules match an article and why, or (--since) what they would have sent"
    )
    test.add_argument(
        "--rules",
        action="append",
        metavar="PATH",
        help="rule file or folder (default: the config's [rules] paths, else rules/)",
    )
    test.add_argument("--json", action="store_true", help="print the matches as JSON")
    test.add_argument("--url", help="fetch and extract this article page")
    test.add_argument("--file", help="an HTML page, or body text in a .txt file")
    test.add_argument("stdin", nargs="?", choices=["-"], help="read the article from standard input")
    test.set_defaults(func=cmd_rules_test)
    test.add_argument(
        "--since",
        metavar="DURATION",
        help='backtest: run the rules over the articles archived in the last DURATION (e.g. "7d")',
    )
    test.add_argument("--source", metavar="NAME", help="backtest: only articles from this source")
    test.add_argument(
        "--examples", type=int, default=5, metavar="N", help="backtest: alerts shown per rule (default 5)"
    )
    with_config(test)

    alerts = _command(sub, "alerts", "list and resend alerts in the outbox").add_subparsers(
        dest="alerts_command", required=True, metavar="COMMAND"
    )
    listing = with_config(_command(alerts, "list", "list deliveries, newest first"))
    listing.add_argument("--failed", action="store_true", help="only dead letters")
    listing.add_argument("--rule", metavar="ID", help="only alerts of this rule")
    listing.add_argument("--since", metavar="DURATION", help='only alerts newer than this, e.g. "24h"')
    listing.add_argument(
        "--limit", type=_at_least_one, default=50, metavar="N", help="at most N rows (default 50)"
    )
    listing.add_argument("--json", action="store_true", help="print the rows as JSON")
    listing.set_defaults(func=cmd_alerts_list)
    retry = with_config(
        _command(alerts, "retry", "resend alerts now (or let the running daemon send them at once)")
    )
    retry.add_argument("ids", nargs="*", metavar="ID", help="alert ids from `newsmon alerts list`")
    retry.add_argument("--failed", action="store_true", help="every dead letter")
    retry.set_defaults(func=cmd_alerts_retry)

    status = with_config(_command(sub, "status", "daemon health, sources, outbox and config problems"))
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=cmd_status)

    notify = _command(sub, "notify", "notifier tools").add_subparsers(
        dest="notify_command", required=True, metavar="COMMAND"
    )
    ntest = with_config(_command(notify, "test", "send a sample alert through notifiers (all by default)"))
    ntest.add_argument("names", nargs="*", metavar="NAME", help="notifier names from the config")
    ntest.set_defaults(func=cmd_notify_test)

    demo = _command(sub, "demo", "offline demo: crawl a bundled sample site on loopback")
    demo.add_argument(
        "--console",
        nargs="?",
        const="127.0.0.1:9464",
        metavar="HOST:PORT",
        help="keep running with the web console on (default 127.0.0.1:9464) until Ctrl-C",
    )
    demo.set_defaults(func=cmd_demo)
    init = _command(sub, "init", "write a starter config.toml and example rules/ (never overwrites)")
    init.add_argument("dir", nargs="?", default=".", metavar="DIR", help="folder to write into (default: .)")
    init.set_defaults(func=cmd_init)
    _add_source_commands(sub, with_config)
    _add_article_commands(sub, with_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, RuleError) as exc:
        _print_problems(exc.problems)
        return EXIT_USAGE
    except NewsmonError as exc:
        print(f"newsmon: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        print(f"newsmon: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
