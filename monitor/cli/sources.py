"""``newsmon sources add``, ``import`` and ``export``: the config's ``[[sources]]``, comments kept."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Any

from monitor.cli.common import (
    EXIT_NONE,
    EXIT_OK,
    EXIT_USAGE,
    _config,
    _print_problems,
)
from monitor.config import Config, find_config
from monitor.errors import ConfigError
from monitor.safe_text import one_line

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
    from monitor.durations import parse_duration

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
    from monitor.discover import discover, looked_for

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
    for finding in result.findings:
        if finding.worth_reporting:
            print(
                f"  ✗ {finding.kind:<8} {one_line(finding.url)}  ({finding.how}: {one_line(finding.error)})"
            )
    best = valid[0] if valid else None
    if best is None and result.page_error is not None:
        print(f"sources add: could not fetch {args.url}: {one_line(result.page_error)}", file=sys.stderr)
        return EXIT_NONE
    if best is None:
        wanted = f"no {args.kind} source" if args.kind else f"no {looked_for()}"
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
    from monitor.opml import export_opml, subscribable, unsubscribable_kinds

    config = _config(args)
    feeds = subscribable(config.sources)
    data = export_opml(feeds)
    others = len(config.sources) - len(feeds)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"exported {len(feeds)} feed source(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    if others:
        print(
            f"({others} {unsubscribable_kinds()} source(s) left out: OPML lists feeds only)", file=sys.stderr
        )
    return EXIT_OK if feeds else EXIT_NONE
