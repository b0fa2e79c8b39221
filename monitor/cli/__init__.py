"""Command line: the parser and its dispatch; each command group lives in a module of its own here."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from monitor import __version__
from monitor.cli.alerts import cmd_alerts_list, cmd_alerts_retry, cmd_notify_test
from monitor.cli.common import (
    DESCRIPTION,
    EXIT_CODES,
    EXIT_OK,
    EXIT_USAGE,
    _at_least_one,
    _command,
    _print_problems,
)
from monitor.cli.daemon import cmd_check, cmd_demo, cmd_init, cmd_once, cmd_run
from monitor.cli.rules_test import cmd_rules_test
from monitor.cli.sources import cmd_sources_add, cmd_sources_export, cmd_sources_import
from monitor.cli.status import cmd_status
from monitor.errors import ConfigError, NewsmonError, RuleError


def cmd_completion(args: argparse.Namespace) -> int:
    from monitor.completion import generate

    sys.stdout.write(generate(args.shell, build_parser()))
    return EXIT_OK


def _add_source_commands(sub: Any, with_config: Any) -> None:
    from monitor.crawl.sources import ranked

    sources = _command(sub, "sources", "add, import and export sources").add_subparsers(
        dest="sources_command", required=True, metavar="COMMAND"
    )
    add = with_config(_command(sources, "add", "find how to watch a site and add it to the config"))
    add.add_argument("url", metavar="URL", help="any page of the site (front page, section, feed)")
    add.add_argument("--name", help="source name (default: from the host, made unique)")
    add.add_argument("--interval", metavar="DURATION", help='poll interval, e.g. "5m" (default: 5m)')
    add.add_argument("--kind", choices=[k.kind for k in ranked()], help="only consider this kind")
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
