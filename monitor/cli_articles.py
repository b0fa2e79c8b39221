"""``newsmon articles list | show | search``: what newsmon saw, as the rules saw it (output only)."""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from monitor.archive import ArchivedArticle, decode_payload
from monitor.backtest import Scan
from monitor.cli.common import EXIT_NONE, EXIT_OK, EXIT_USAGE, _config, _print_problems
from monitor.cli.rules_test import _hit_json, _print_hits
from monitor.cli_backtest import NoArchive, article_json, since_seconds, with_archive
from monitor.config import Config
from monitor.crawl.urls import canonicalize
from monitor.matching.engine import Engine
from monitor.matching.rules import Rule, load_rules, rules_from_text
from monitor.model import Hit
from monitor.store.base import Store

SEARCH_RULE = "articles-search"


def run(args: argparse.Namespace) -> int:
    config = _config(args)
    command = {"list": _list, "show": _show, "search": _search}[args.articles_command]
    try:
        return command(args, config)
    except NoArchive as exc:
        print(f"articles {args.articles_command}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _line(article: ArchivedArticle) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(article.detected_at))
    return f"{when}  {article.source}  {article.title or '(no title)'} <{article.url}>"


def _print_articles(found: list[tuple[ArchivedArticle, tuple[Hit, ...]]], as_json: bool) -> None:
    if as_json:
        for article, hits in found:
            row = {**article_json(article), "hits": [_hit_json(h) for h in hits]}
            print(json.dumps(row, ensure_ascii=False))
        return
    for article, hits in found:
        print(_line(article))
        _print_hits(hits, [None] * len(hits), prefix="   ")
    print(f"{len(found)} article(s)")


def _list(args: argparse.Namespace, config: Config) -> int:
    since = since_seconds(args.since, "articles list")
    if since is None:
        return EXIT_USAGE

    async def action(store: Store) -> list[ArchivedArticle]:
        newest: collections.deque[ArchivedArticle] = collections.deque(maxlen=max(1, args.limit))
        async for payloads in store.archive_payloads(time.time() - since, None, args.source):
            newest.extend(decode_payload(p) for p in payloads)
        return list(newest)

    found = asyncio.run(with_archive(config, action))
    _print_articles([(a, ()) for a in found], args.json)
    return EXIT_OK if found else EXIT_NONE


def _search(args: argparse.Namespace, config: Config) -> int:
    since = since_seconds(args.since, "articles search")
    if since is None:
        return EXIT_USAGE
    rule = _search_rule(args.terms)

    async def action(store: Store) -> list[tuple[ArchivedArticle, tuple[Hit, ...]]]:
        newest: collections.deque[tuple[ArchivedArticle, tuple[Hit, ...]]] = collections.deque(
            maxlen=max(1, args.limit)
        )
        now = time.time()
        async for article, matches in Scan(store, [rule], now - since, now, source=args.source):
            newest.append((article, matches[0].hits))
        return list(newest)

    found = asyncio.run(with_archive(config, action))
    _print_articles(found, args.json)
    return EXIT_OK if found else EXIT_NONE


def _search_rule(terms: list[str]) -> Rule:
    """An ``any:`` rule of ``terms``, read as a rule file would be: the same term semantics."""
    text = yaml.safe_dump({"rules": [{"id": SEARCH_RULE, "title": "search", "any": list(terms)}]})
    return rules_from_text(text, "<search terms>").rules[0]


def _show(args: argparse.Namespace, config: Config) -> int:
    async def action(store: Store) -> ArchivedArticle | None:
        return await store.archived(args.url) or await store.archived(canonicalize(args.url) or args.url)

    article = asyncio.run(with_archive(config, action))
    if article is None:
        print(f"articles show: {args.url} is not in the archive", file=sys.stderr)
        return EXIT_NONE
    rules = load_rules([Path(p) for p in args.rules] if args.rules else config.rule_paths)
    _print_problems(rules.warnings)
    explained = Engine(rules.rules).explain(article)
    if args.json:
        print(json.dumps(_show_json(article, explained), ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"url: {article.url}")
    if article.fetched_url and article.fetched_url != article.url:
        print(f"fetched from: {article.fetched_url}")
    print(f"source: {article.source}")
    print(f"published: {article.published.isoformat() if article.published else '-'}")
    print(f"detected: {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(article.detected_at))} UTC")
    print(f"language: {article.language or '-'}")
    print(f"story: {article.story_key or '-'}")
    print(f"matched when seen: {', '.join(article.rules) or 'no rule'}")
    for name in ("title", "summary", "body"):
        print(f"\n--- {name} ---\n{getattr(article, name)}")
    print("\n--- rules now ---")
    if not explained:
        print(f"no rule has any of its terms here ({len(rules.rules)} rule(s) tried)")
    for x in explained:
        mark = "✔" if x.match is not None else "✘"
        print(f"{mark} {x.rule.id} — {x.rule.title}")
        for reason in x.failed:
            print(f"   {reason}")
        _print_hits(x.hits, x.lemmas, prefix="   found in " if x.match is None else "   ")
    return EXIT_OK


def _show_json(article: ArchivedArticle, explained: list[Any]) -> dict[str, Any]:
    return {
        "article": {
            **article_json(article),
            "fetched_url": article.fetched_url,
            "language": article.language,
            "story": article.story_key,
            "summary": article.summary,
            "body": article.body,
            "matched_when_seen": list(article.rules),
        },
        "matches": [
            {"rule": x.rule.id, "title": x.rule.title, "hits": _hits_json(x)}
            for x in explained
            if x.match is not None
        ],
        "near_misses": [
            {
                "rule": x.rule.id,
                "title": x.rule.title,
                "failed": list(x.failed),
                "hits": _hits_json(x),
            }
            for x in explained
            if x.match is None
        ],
    }


def _hits_json(explained: Any) -> list[dict[str, Any]]:
    return [_hit_json(h, lemma) for h, lemma in zip(explained.hits, explained.lemmas, strict=True)]
