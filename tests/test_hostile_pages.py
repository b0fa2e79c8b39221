"""Pages that attack the pipeline rather than the parser: spoofed canonicals, pathological nesting and
poison-pill articles, through the real pipeline with a local server on loopback.

Host names come from the test's resolver (``FakeResolver``), so two "sites" can share one loopback server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.cli import main
from monitor.config import AlertsConfig, HttpConfig
from monitor.crawl.http import HttpClient
from monitor.matching.engine import Engine
from monitor.matching.rules import rules_from_text
from monitor.model import Source
from monitor.pipeline import Pipeline, PollResult
from monitor.store.sqlite import SqliteStore
from tests.cli_config import cli_config
from tests.helpers.clock import FakeClock
from tests.helpers.resolver import FakeResolver

OPEN = HttpConfig(allow_private_networks=True, per_host_delay=0, respect_robots=False, timeout=5)
RULES = "rules:\n  - id: atacms\n    any: ['ATACMS']\n"


def _page(title: str, body: str, canonical: str | None = None) -> str:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    paragraphs = "".join(f"<p>{body} ({title}, part {i}.)</p>" for i in range(8))
    return (
        f"<html><head><title>{title}</title>{link}</head><body><article>{paragraphs}</article></body></html>"
    )


def _feed(base: str, *items: tuple[str, str]) -> str:
    """An RSS feed of (path, title) items under ``base``."""
    entries = "".join(
        f"<item><title>{title}</title><link>{base}{path}</link></item>" for path, title in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{entries}</channel></rss>'


@dataclass
class Sites:
    port: int
    pages: dict[tuple[str, str], str]  # (host, path) -> HTML or RSS

    def url(self, host: str, path: str = "") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
async def sites() -> AsyncIterator[Sites]:
    pages: dict[tuple[str, str], str] = {}

    async def handler(request: web.Request) -> web.Response:
        body = pages.get((request.host.split(":")[0], request.path))
        if body is None:
            raise web.HTTPNotFound()
        ctype = "application/rss+xml" if request.path.endswith(".xml") else "text/html"
        return web.Response(text=body, content_type=ctype)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Sites(server.port, pages)
    finally:
        await server.close()


async def poll_all(
    tmp_path: Path, sources: list[Source], hosts: list[str], rules: str = RULES
) -> list[PollResult]:
    store = SqliteStore(str(tmp_path / "state.db"), retention=86400.0, clock=FakeClock())
    await store.open()
    resolver = FakeResolver({host: [["127.0.0.1"]] for host in hosts})
    engine = Engine(rules_from_text(rules).rules)

    async def matcher() -> Engine:
        return engine

    try:
        async with HttpClient(OPEN, resolver=resolver) as client:
            pipeline = Pipeline(
                store=store,
                http=client,
                engine=matcher,
                alerts=lambda: AlertsConfig(first_run="alert", max_age=0),
                notifiers=lambda: ["hook"],
                clock=FakeClock(datetime.now(UTC).timestamp()),
            )
            return [await pipeline.poll(source) for source in sources]
    finally:
        await store.close()


# -- canonical poisoning -------------------------------------------------------------------------------
async def test_a_page_cannot_claim_another_sites_canonical(sites: Sites, tmp_path: Path) -> None:
    trusted, evil = "news.trusted.example", "evil.test"
    story = sites.url(trusted, "/story")
    sites.pages[(trusted, "/feed.xml")] = _feed(sites.url(trusted), ("/story", "Real story"))
    sites.pages[(trusted, "/story")] = _page(
        "Real story", "ATACMS launchers were moved north, officials said."
    )
    sites.pages[(evil, "/feed.xml")] = _feed(sites.url(evil), ("/fake", "Fake story"))
    sites.pages[(evil, "/fake")] = _page(
        "Fake story",
        "Call our premium hotline now and win a free cruise; ATACMS mentioned for reach.",
        canonical=story,
    )
    # Same-site canonicals are still followed: a sibling subdomain of the trusted site. (Its title
    # shares no word with the first story's: with "story" in both, the pages' shared template made
    # half their shingles, and the two one story at the containment threshold.)
    sites.pages[(trusted, "/story2-view")] = _page(
        "Second report",
        "ATACMS stocks ran low by winter, the ministry said.",
        sites.url("www.trusted.example", "/s2"),
    )
    sites.pages[(trusted, "/feed2.xml")] = _feed(sites.url(trusted), ("/story2-view", "Second report"))

    results = await poll_all(
        tmp_path,
        [
            Source(name="evil", kind="feed", url=sites.url(evil, "/feed.xml"), interval=60),
            Source(name="trusted", kind="feed", url=sites.url(trusted, "/feed.xml"), interval=60),
            Source(name="trusted2", kind="feed", url=sites.url(trusted, "/feed2.xml"), interval=60),
        ],
        [trusted, evil, "www.trusted.example"],
    )
    assert [r.errors for r in results] == [[], [], []]
    evil_alerts, trusted_alerts, sibling_alerts = ([a.url for a in r.alerts] for r in results)
    assert evil_alerts == [sites.url(evil, "/fake")]  # the attacker's text keeps the attacker's URL
    assert trusted_alerts == [story]  # and the real article still alerts
    assert sibling_alerts == [sites.url("www.trusted.example", "/s2")]


# -- nesting depth -------------------------------------------------------------------------------------
def _nested(depth: int, text: str) -> str:
    return (
        f"<html><head><title>{text}</title></head><body>"
        + "<div>" * depth
        + f"<p>{text}</p>" * 8
        + ("</div>" * depth + "</body></html>")
    )


async def test_a_page_nested_thousands_deep_is_refused_and_the_rest_of_the_poll_goes_on(
    sites: Sites, tmp_path: Path
) -> None:
    host = "deep.example"
    base = sites.url(host)
    sites.pages[(host, "/feed.xml")] = _feed(base, ("/deep", "Deep"), ("/fine", "Fine"))
    sites.pages[(host, "/deep")] = _nested(20_000, "ATACMS deep page sentence, long enough to count.")
    sites.pages[(host, "/fine")] = _nested(40, "ATACMS ordinary page sentence, long enough to count.")
    (result,) = await poll_all(
        tmp_path, [Source(name="deep", kind="feed", url=f"{base}/feed.xml", interval=60)], [host]
    )
    assert [a.url for a in result.alerts] == [f"{base}/fine"]
    (error,) = result.errors
    assert "/deep" in error and "nested more than 5000 deep" in error


def test_nesting_depth_counts_what_the_parser_nests() -> None:
    from monitor.html_guard import nesting_depth

    assert nesting_depth("<div><div><span>x</span></div></div>") == 3
    # Implied ends, void and self-closed elements, and tags spelled inside scripts or comments: not nesting.
    assert nesting_depth("<ul>" + "<li><p>x<br><img src=y>" * 9000 + "</ul>") == 1
    assert nesting_depth("<svg>" + "<path d='m0'/>" * 9000 + "</svg>") == 1
    assert nesting_depth("<script>" + "'<div>'+" * 9000 + "</script><!--" + "<div>" * 9000 + "-->") == 0
    assert nesting_depth("<div>" * 9000, limit=100) == 101  # stops counting past the limit


# -- poison pills ------------------------------------------------------------------------------------
async def test_a_backtracking_regex_on_a_hostile_article_is_bounded_then_quarantined(
    sites: Sites, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`(a|aa)+c` against a long run of "a" without a "c" after it backtracks exponentially in the re
    module. Each `newsmon once` gives up on it within the budget; the third failure quarantines it."""
    host = "127.0.0.1"
    base = sites.url(host)
    sites.pages[(host, "/feed.xml")] = _feed(base, ("/pill", "Pill"), ("/fine", "Fine"))
    sites.pages[(host, "/pill")] = _page("Pill", "a" * 80 + "! cat")
    sites.pages[(host, "/fine")] = _page("Fine", "The aac codec and ATACMS were discussed at length.")
    rules = "rules:\n  - id: poison\n    any: [{re: '(a|aa)+c'}]\n  - id: atacms\n    any: [ATACMS]\n"
    config = cli_config(tmp_path, [("pills", "feed", f"{base}/feed.xml")], rules)
    outputs = []
    for _ in range(4):
        await asyncio.to_thread(main, ["once", "-c", str(config)])
        outputs.append(capsys.readouterr())
    assert "Fine" in outputs[0].out  # the rest of the feed alerted at once
    for run in outputs[:3]:
        assert "matching budget" in run.out + run.err
    assert "matching budget" not in outputs[3].out + outputs[3].err  # quarantined: not tried again
    await asyncio.to_thread(main, ["status", "-c", str(config), "--json"])
    status = json.loads(capsys.readouterr().out)
    (pill,) = status["quarantined"]
    assert pill["url"] == f"{base}/pill" and pill["source"] == "pills"
    assert "(a|aa)+c" in pill["reason"] and "matching budget" in pill["reason"]


# -- rule files: YAML aliases (item 14) -------------------------------------------------------------------
def test_check_refuses_yaml_aliases_in_rule_files_without_expanding_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    terms = ", ".join(f"term{i}" for i in range(300))
    aliases = ", ".join(["*big"] * 100)  # 30,000 terms once expanded, from 4 KB
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "bomb.yaml").write_text(
        f"entities:\n  big: &big [{terms}]\nrules:\n  - id: r\n    all: [{aliases}]\n"
    )
    config = tmp_path / "config.toml"
    config.write_text('[store]\nurl = "sqlite://state.db"\n[rules]\npaths = ["rules"]\n')
    assert main(["check", "-c", str(config)]) != 0
    err = capsys.readouterr().err
    assert "bomb.yaml:2:8: YAML anchors and aliases" in err and "'@name'" in err
