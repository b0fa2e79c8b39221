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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor import loop as event_loop
from monitor.config import Config, find_config, load_config
from monitor.errors import ConfigError, NewsmonError, Problem, RuleError
from monitor.safe_text import one_line

EXIT_OK, EXIT_NONE, EXIT_USAGE = 0, 1, 2


def _print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)


def _config(args: argparse.Namespace) -> Config:
    return load_config(find_config(args.config))


# -- run / once -------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from monitor.logs import Scrubber, setup_logging
    from monitor.service import Service, config_secrets

    config = _config(args)
    # The scrubber learns the config's secrets now and the new ones at each reload.
    scrubber = Scrubber(config_secrets(config))
    setup_logging(config.service.log_format, config.service.log_level, scrub=scrubber)
    event_loop.run(Service(config, scrubber=scrubber).run())
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
    results = event_loop.run(Service(config, dry_run=args.dry_run).once(args.source))
    alerts = [alert for r in results for alert in r.alerts]
    for r in results:
        state = "not modified" if r.not_modified else f"{r.new_articles} new article(s)"
        errors = f", {len(r.errors)} error(s)" if r.errors else ""
        print(f"{r.source}: {state}, {len(r.alerts)} alert(s){errors}")
    if args.dry_run:
        for alert in alerts:
            print(f"  would alert [{alert.rule_id}] {one_line(alert.title)} <{one_line(alert.url)}>")
    return EXIT_OK


# -- check ------------------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    from monitor.logs import mask_url
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
            rules = load_rules(
                config.rule_paths,
                sources={s.name for s in config.sources},
                notifiers={n.name for n in config.notifiers},
            )
        except RuleError as exc:
            problems.extend(exc.problems)
        else:
            problems.extend(rules.warnings)
    _print_problems(problems)
    if any(p.severity == "error" for p in problems):
        return EXIT_USAGE
    assert config is not None and rules is not None
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


def _hit_json(h: Any) -> dict[str, Any]:
    return {
        "term": h.term,
        "entity": h.entity,
        "field": h.field,
        "start": h.start,
        "end": h.end,
        "snippet": h.snippet,
    }


def _print_hits(hits: Sequence[Any], prefix: str = "   ") -> None:
    for h in hits:
        via = f" (@{h.entity})" if h.entity else ""
        print(f"{prefix}{h.field}: {one_line(repr(h.term))}{via}: {one_line(h.snippet)}")


def cmd_rules_test(args: argparse.Namespace) -> int:
    from monitor.matching.engine import Engine
    from monitor.matching.rules import load_rules

    if not args.url and args.file is None and not args.stdin:
        print("rules test: give --url URL, --file PATH or - (stdin)", file=sys.stderr)
        return EXIT_USAGE
    rules = load_rules([Path(p) for p in (args.rules or ["rules/"])])
    _print_problems(rules.warnings)
    article = _article_from_input(args)
    explained = Engine(rules.rules).explain(article)
    matches = [x.match for x in explained if x.match is not None]
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
                        {"rule": m.rule_id, "title": m.rule_title, "hits": [_hit_json(h) for h in m.hits]}
                        for m in matches
                    ],
                    "near_misses": [
                        {
                            "rule": x.rule.id,
                            "title": x.rule.title,
                            "failed": list(x.failed),
                            "hits": [_hit_json(h) for h in x.hits],
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
            print(f"\n✔ {m.rule_id} — {one_line(m.rule_title)}")
            _print_hits(m.hits)
        for x in misses:
            print(f"\n✘ {x.rule.id} — {one_line(x.rule.title)} (almost)")
            for reason in x.failed:
                print(f"   {one_line(reason)}")
            _print_hits(x.hits, prefix="   found in ")
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
            error = f" — {one_line(r['last_error'])}" if r["last_error"] else ""
            title = one_line(r["title"])
            print(f"{r['id']}  {r['notifier']:<12} {r['state']:<9} {r['rule']}: {title}{error}")
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
    from monitor.logs import mask_url

    config = _config(args)

    def when(ts: float | None) -> str | None:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None

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
                    "last_success_at": when(state.last_success) if state else None,
                    "last_error": state.last_error if state else None,
                    "articles_seen": state.articles_seen if state else 0,
                }
            )
        quarantined = [
            {"url": q.url, "source": q.source, "reason": q.reason, "at": when(q.at)}
            for q in await store.quarantined()
        ]
        return {
            "store": mask_url(config.store.url),
            "sources": sources,
            "outbox_pending": await store.outbox_pending(),
            "quarantined": quarantined,
        }

    status = asyncio.run(_with_store(config, action))
    if args.json:
        print(json.dumps(status, indent=2))
        return EXIT_OK
    print(f"store: {status['store']}")
    width = max([len("source"), *(len(s["name"]) for s in status["sources"])])
    print(f"{'source':<{width}}  {'last success (UTC)':<25}  {'articles':>8}  last error")
    for s in status["sources"]:
        # A source that never answered shows "never"; one never polled yet shows "-".
        success = s["last_success_at"] or ("never" if s["last_attempt"] else "-")
        error = one_line(s["last_error"]) or "-"
        print(f"{s['name']:<{width}}  {success:<25}  {s['articles_seen']:>8}  {error}")
    print(f"outbox pending: {status['outbox_pending']}")
    if status["quarantined"]:
        print(f"quarantined articles (never retried): {len(status['quarantined'])}")
        for q in status["quarantined"]:
            print(f"  {q['at']}  {q['source']}  {one_line(q['url'])}: {one_line(q['reason'])}")
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
                    print(f"{nc.name}: delivered ({one_line(answer)})")
                except DeliveryError as exc:
                    ok = False
                    print(f"{nc.name}: failed ({one_line(str(exc))})")
                finally:
                    await notifier.close()
        return ok

    return EXIT_OK if asyncio.run(send_all()) else EXIT_NONE


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    return run_demo()


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
    sources = sub.add_parser("sources", help="add, import and export sources").add_subparsers(
        dest="sources_command", required=True
    )
    add = with_config(sources.add_parser("add", help="find how to watch a site and add it to the config"))
    add.add_argument("url", metavar="URL", help="any page of the site (front page, section, feed)")
    add.add_argument("--name", help="source name (default: from the host, made unique)")
    add.add_argument("--interval", metavar="DURATION", help='poll interval, e.g. "5m" (default: 5m)')
    add.add_argument("--kind", choices=["feed", "sitemap", "html"], help="only consider this kind")
    add.add_argument("--dry-run", action="store_true", help="only print what was found")
    add.set_defaults(func=cmd_sources_add)
    imp = with_config(sources.add_parser("import", help="add the feeds of an OPML file"))
    imp.add_argument("file", metavar="FILE", help="OPML from a feed reader (Miniflux, FreshRSS, Feedly, …)")
    imp.add_argument("--interval", metavar="DURATION", help='poll interval for every feed, e.g. "10m"')
    imp.add_argument("--dry-run", action="store_true", help="only print what would be added")
    imp.set_defaults(func=cmd_sources_import)
    exp = with_config(sources.add_parser("export", help="the feed sources as OPML 2.0"))
    exp.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    exp.set_defaults(func=cmd_sources_export)

    completion = sub.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=["bash", "zsh", "fish"])
    completion.set_defaults(func=cmd_completion)


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
    _add_source_commands(sub, with_config)
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
