"""``newsmon rules test``: which rules match an article and why (``--since``: monitor/cli_backtest.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor.cli.common import (
    EXIT_NONE,
    EXIT_OK,
    EXIT_USAGE,
    _print_problems,
)
from monitor.config import find_config, load_config
from monitor.errors import ConfigError, Problem
from monitor.safe_text import one_line


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
