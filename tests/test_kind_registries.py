"""Adding a source kind or a notifier kind is one new module (tests/toy_kinds.py) and one registry line.

Nothing else is edited: the config loader, the pipeline, discovery, ``sources add --kind``, ``status``,
``notify test`` and the outbox all find the new kind through its registry. Each test runs the real CLI
against a real aiohttp site on loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from monitor.cli import main
from monitor.crawl.sources import REGISTRY as SOURCE_KINDS
from monitor.notify import REGISTRY as NOTIFIERS
from tests.cli_config import cli_config
from tests.daemon import article_page
from tests.threaded import serve_in_thread
from tests.toy_kinds import LinesKind, MemoNotifier

RULES = "rules:\n  - id: atacms\n    title: ATACMS\n    any: ['ATACMS']\n"
HEADLINE = "ATACMS strike reported near the border"
BODY = "<p>" + "Officials said ATACMS missiles struck a depot overnight, the third such strike. " * 6 + "</p>"


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    async def links(request: web.Request) -> web.Response:
        base = f"http://{request.host}"
        return web.Response(text=f"{base}/news/1 {HEADLINE}\n{base}/news/2 Weather calm\n")

    async def feed(request: web.Request) -> web.Response:
        item = f"<item><title>{HEADLINE}</title><link>http://{request.host}/news/1</link></item>"
        rss = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{item}</channel></rss>'
        return web.Response(text=rss, content_type="application/rss+xml")

    async def article(request: web.Request) -> web.Response:
        title = HEADLINE if request.match_info["n"] == "1" else "Weather calm"
        body = BODY if request.match_info["n"] == "1" else "<p>" + "Sun and a light breeze. " * 30 + "</p>"
        return article_page(title, body, datetime.now(UTC))

    app = web.Application()
    app.router.add_get("/links.txt", links)
    app.router.add_get("/feed.xml", feed)
    app.router.add_get("/news/{n}", article)
    with serve_in_thread(app) as base:
        yield base


def test_a_source_kind_is_one_module_and_one_registry_line(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cli_config(tmp_path, [("wire", "lines", f"{site}/links.txt")], RULES)
    assert main(["check", "-c", str(config)]) == 2  # not registered: refused, naming the kinds there are
    refused = "sources[0].kind: expected one of 'feed', 'html', 'sitemap', got 'lines'"
    assert refused in capsys.readouterr().err

    monkeypatch.setitem(SOURCE_KINDS, LinesKind.kind, LinesKind())  # the one registry line

    assert main(["check", "-c", str(config)]) == 0
    assert main(["once", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"Title:     {HEADLINE}" in out and f"URL:       {site}/news/1" in out
    assert "Weather calm" not in out  # fetched and matched, but no rule fired

    main(["status", "-c", str(config), "--json"])  # exit 1: no daemon answers
    (wire,) = json.loads(capsys.readouterr().out)["sources"]
    assert (wire["kind"], wire["articles_seen"], wire["last_error"]) == ("lines", 2, None)

    # Discovery asks the new kind where to look and ranks it by its rank: below feeds, above the page.
    (tmp_path / "new").mkdir()
    fresh = cli_config(tmp_path / "new", [], RULES)
    assert main(["sources", "add", f"{site}/", "--kind", "lines", "--dry-run", "-c", str(fresh)]) == 0
    out = capsys.readouterr().out
    assert f" 1. lines    {site}/links.txt  (common path, 2 lines)" in out
    assert 'kind = "lines"' in out
    assert main(["sources", "add", f"{site}/", "--dry-run", "-c", str(fresh)]) == 0
    ranked = [line.split()[:2] for line in capsys.readouterr().out.splitlines() if line[2:4] == ". "]
    assert ranked == [["1.", "feed"], ["2.", "lines"]]  # rank 0, then the toy's 1


def test_a_notifier_kind_is_one_module_and_one_registry_line(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    memo = tmp_path / "memo.txt"
    notifier = f'kind = "memo"\npath = "{memo}"'
    config = cli_config(tmp_path, [("wire", "feed", f"{site}/feed.xml")], RULES, notifier=notifier)
    assert main(["check", "-c", str(config)]) == 2
    assert "notifiers[0].kind: expected one of apprise, console, email, webhook, got 'memo'" in (
        capsys.readouterr().err
    )

    monkeypatch.setitem(NOTIFIERS, MemoNotifier.kind, MemoNotifier)  # the one registry line

    assert main(["check", "-c", str(config)]) == 0
    assert main(["once", "-c", str(config)]) == 0
    assert memo.read_text(encoding="utf-8").splitlines() == [HEADLINE]
    assert main(["notify", "test", "-c", str(config)]) == 0
    assert memo.read_text(encoding="utf-8").splitlines()[1] == "Test alert: your newsmon notifier works"

    # The kind's own options are checked like any other kind's: unknown keys are refused by name.
    config.write_text(config.read_text() + 'colour = "red"\n')
    assert main(["check", "-c", str(config)]) == 2
    assert "notifiers[0].colour: unknown key; allowed: digest, max_per_hour, path" in capsys.readouterr().err
