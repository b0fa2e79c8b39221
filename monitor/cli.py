"""Command line: wiring and output only.

Exit codes: 0 ok, 1 nothing found / check failed, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor.config import Config, find_config, load_config
from monitor.errors import ConfigError, NewsmonError, Problem, RuleError

EXIT_OK, EXIT_NONE, EXIT_USAGE = 0, 1, 2


def _print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)


def _config(args: argparse.Namespace) -> Config:
    return load_config(find_config(args.config))


# -- run / once -------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from monitor.logs import setup_logging
    from monitor.service import Service

    config = _config(args)
    setup_logging(config.service.log_format, config.service.log_level)
    asyncio.run(Service(config).run())
    return EXIT_OK


def cmd_once(args: argparse.Namespace) -> int:
    from monitor.logs import setup_logging
    from monitor.service import Service

    config = _config(args)
    setup_logging("text", config.service.log_level)
    unknown = set(args.source) - {s.name for s in config.sources}
    if unknown:
        print(f"unknown source(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return EXIT_USAGE
    results = asyncio.run(Service(config, dry_run=args.dry_run).once(args.source))
    alerts = [alert for r in results for alert in r.alerts]
    for r in results:
        state = "not modified" if r.not_modified else f"{r.new_articles} new article(s)"
        errors = f", {len(r.errors)} error(s)" if r.errors else ""
        print(f"{r.source}: {state}, {len(r.alerts)} alert(s){errors}")
    if args.dry_run:
        for alert in alerts:
            print(f"  would alert [{alert.rule_id}] {alert.title} <{alert.url}>")
    return EXIT_OK


# -- check ------------------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    from monitor.matching.rules import load_rules

    path = find_config(args.config)
    problems: list[Problem] = []
    config: Config | None = None
    try:
        config = load_config(path)
    except ConfigError as exc:
        problems.extend(exc.problems)
    rules = None
    if config is not None:
        try:
            rules = load_rules(config.rule_paths)
        except RuleError as exc:
            problems.extend(exc.problems)
    if rules is not None and config is not None:
        sources = {s.name for s in config.sources}
        notifiers = {n.name for n in config.notifiers}
        for rule in rules.rules:
            for name in rule.sources:
                if name not in sources:
                    problems.append(
                        Problem(rule.path, rule.line, 1, f"rule {rule.id}: unknown source {name!r}")
                    )
            for name in rule.notify:
                if name not in notifiers:
                    problems.append(
                        Problem(rule.path, rule.line, 1, f"rule {rule.id}: unknown notifier {name!r}")
                    )
    if problems:
        _print_problems(problems)
        return EXIT_USAGE
    assert config is not None and rules is not None
    print(
        f"{path}: ok — {len(config.sources)} source(s), {len(rules.rules)} rule(s) in "
        f"{len(rules.files)} file(s), {len(config.notifiers)} notifier(s), store {config.store.url}"
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


def cmd_rules_test(args: argparse.Namespace) -> int:
    from monitor.matching.engine import Engine
    from monitor.matching.rules import load_rules

    if not args.url and args.file is None and not args.stdin:
        print("rules test: give --url URL, --file PATH or - (stdin)", file=sys.stderr)
        return EXIT_USAGE
    rules = load_rules([Path(p) for p in (args.rules or ["rules/"])])
    article = _article_from_input(args)
    matches = Engine(rules.rules).match(article)
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
                            "rule": m.rule_id,
                            "title": m.rule_title,
                            "hits": [
                                {
                                    "term": h.term,
                                    "entity": h.entity,
                                    "field": h.field,
                                    "start": h.start,
                                    "end": h.end,
                                    "snippet": h.snippet,
                                }
                                for h in m.hits
                            ],
                        }
                        for m in matches
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        print(f"article: {article.title or '(no title)'} <{article.url}>")
        if not matches:
            print(f"no rule matched ({len(rules.rules)} rule(s) tried)")
        for m in matches:
            print(f"\n✔ {m.rule_id} — {m.rule_title}")
            for h in m.hits:
                via = f" (@{h.entity})" if h.entity else ""
                print(f"   {h.field}: {h.term!r}{via}: {h.snippet}")
    return EXIT_OK if matches else EXIT_NONE


# -- alerts / status / notify test ---------------------------------------------------------------------
async def _with_store(config: Config, action: Any) -> Any:
    from monitor.model import SystemClock
    from monitor.store import open_store

    store = open_store(config.store.url, retention=config.store.retention, clock=SystemClock())
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()


def cmd_alerts_list(args: argparse.Namespace) -> int:
    config = _config(args)

    async def action(store: Any) -> list[dict[str, Any]]:
        rows = []
        for d in await store.deliveries("dead" if args.failed else None):
            alert = await store.get_alert(d.alert_id)
            rows.append(
                {
                    "id": d.alert_id,
                    "notifier": d.notifier,
                    "state": d.state,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "rule": alert.rule_id if alert else None,
                    "title": alert.title if alert else None,
                    "url": alert.url if alert else None,
                }
            )
        return rows

    rows = asyncio.run(_with_store(config, action))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for r in rows:
            error = f" — {r['last_error']}" if r["last_error"] else ""
            print(f"{r['id']}  {r['notifier']:<12} {r['state']:<9} {r['rule']}: {r['title']}{error}")
        print(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'}")
    return EXIT_OK if rows else EXIT_NONE


def cmd_alerts_retry(args: argparse.Namespace) -> int:
    config = _config(args)
    if not args.ids and not args.failed:
        print("alerts retry: give alert IDs or --failed", file=sys.stderr)
        return EXIT_USAGE

    async def action(store: Any) -> int:
        ids = list(args.ids) or sorted({d.alert_id for d in await store.deliveries("dead")})
        return sum([await store.retry(alert_id) for alert_id in ids])

    changed = asyncio.run(_with_store(config, action))
    print(f"{changed} deliver{'y' if changed == 1 else 'ies'} queued for retry")
    return EXIT_OK if changed else EXIT_NONE


def cmd_status(args: argparse.Namespace) -> int:
    config = _config(args)

    async def action(store: Any) -> dict[str, Any]:
        states = {s.name: s for s in await store.source_states()}
        return {
            "sources": [
                {
                    "name": src.name,
                    "last_success": states[src.name].last_success if src.name in states else None,
                    "last_error": states[src.name].last_error if src.name in states else None,
                    "articles_seen": states[src.name].articles_seen if src.name in states else 0,
                }
                for src in config.sources
            ],
            "outbox_pending": await store.outbox_pending(),
        }

    status = asyncio.run(_with_store(config, action))
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        for s in status["sources"]:
            print(f"{s['name']:<24} articles={s['articles_seen']:<6} last_error={s['last_error'] or '-'}")
        print(f"outbox pending: {status['outbox_pending']}")
    return EXIT_OK


def cmd_notify_test(args: argparse.Namespace) -> int:
    import aiohttp

    from monitor.errors import DeliveryError
    from monitor.notify import REGISTRY
    from monitor.notify.base import sample_alert

    config = _config(args)
    chosen = [n for n in config.notifiers if not args.names or n.name in args.names]
    missing = set(args.names) - {n.name for n in config.notifiers}
    if missing:
        print(f"unknown notifier(s): {', '.join(sorted(missing))}", file=sys.stderr)
        return EXIT_USAGE
    # A fresh id per run: receivers that dedupe on Idempotency-Key must not swallow a repeated test.
    alert = dataclasses.replace(sample_alert(), id=f"test-{time.time_ns():x}")

    async def send_all() -> bool:
        ok = True
        # Receivers are the operator's own endpoints, so no crawler SSRF guard (as in the daemon).
        async with aiohttp.ClientSession(trust_env=False) as session:
            for nc in chosen:
                notifier = REGISTRY[nc.kind](nc.name, nc.options, session=session)
                try:
                    answer = await notifier.send(alert)
                    print(f"{nc.name}: delivered ({answer})")
                except DeliveryError as exc:
                    ok = False
                    print(f"{nc.name}: failed ({exc})")
                finally:
                    await notifier.close()
        return ok

    return EXIT_OK if asyncio.run(send_all()) else EXIT_NONE


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    return run_demo()


# -- parser -----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsmon", description=__doc__)
    parser.add_argument("--version", action="version", version=f"newsmon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "-c", "--config", help="config file (default: $NEWSMON_CONFIG, ./config.toml, /etc/newsmon)"
        )
        return p

    with_config(sub.add_parser("run", help="run the daemon")).set_defaults(func=cmd_run)
    once = with_config(sub.add_parser("once", help="one pass over the sources, then exit"))
    once.add_argument("--source", action="append", default=[], metavar="NAME", help="only this source")
    once.add_argument("--dry-run", action="store_true", help="print the alerts, deliver and record nothing")
    once.set_defaults(func=cmd_once)
    with_config(sub.add_parser("check", help="validate config and rule files")).set_defaults(func=cmd_check)

    rules = sub.add_parser("rules", help="rule tools").add_subparsers(dest="rules_command", required=True)
    test = rules.add_parser("test", help="which rules match an article, and why")
    test.add_argument(
        "--rules", action="append", metavar="PATH", help="rule file or folder (default: rules/)"
    )
    test.add_argument("--json", action="store_true")
    test.add_argument("--url")
    test.add_argument("--file")
    test.add_argument("stdin", nargs="?", choices=["-"], help="read the article from standard input")
    test.set_defaults(func=cmd_rules_test)

    alerts = sub.add_parser("alerts", help="the outbox").add_subparsers(dest="alerts_command", required=True)
    listing = with_config(alerts.add_parser("list", help="list deliveries"))
    listing.add_argument("--failed", action="store_true", help="only dead letters")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_alerts_list)
    retry = with_config(alerts.add_parser("retry", help="resend dead letters"))
    retry.add_argument("ids", nargs="*", metavar="ID")
    retry.add_argument("--failed", action="store_true", help="every dead letter")
    retry.set_defaults(func=cmd_alerts_retry)

    status = with_config(sub.add_parser("status", help="sources and outbox"))
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    notify = sub.add_parser("notify", help="notifier tools").add_subparsers(
        dest="notify_command", required=True
    )
    ntest = with_config(notify.add_parser("test", help="send a sample alert through notifiers"))
    ntest.add_argument("names", nargs="*", metavar="NAME")
    ntest.set_defaults(func=cmd_notify_test)

    sub.add_parser("demo", help="offline demo on a bundled sample site").set_defaults(func=cmd_demo)
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
