"""`newsmon once` from cron or a timer: a run with nothing new pays for no matcher (benchmarks/startup.py
measures what it costs), a matcher that cannot be compiled consumes nothing, and the run logs as the
config says."""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web

import monitor.matching.engine
from monitor.cli import main
from monitor.logs import MASK
from tests.cli_config import cli_config
from tests.threaded import serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
ETAG = '"v1"'
RULES = "rules:\n  - id: kursk\n    any: [Kursk]\n"
PUBLISHED = datetime.now(UTC) - timedelta(minutes=5)
FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Wire</title><link>{base}/</link>
<item><title>Shelling near Kursk</title><link>{base}/a/kursk</link>
<pubDate>{published}</pubDate></item>
</channel></rss>"""
ARTICLE = """<html><head><title>Shelling near Kursk</title></head><body><article><h1>Shelling near Kursk</h1>
<p>Officials in Kursk said the shelling went on through the night and the border villages were
evacuated. Rescue teams reached the district in the morning and counted the damage house by house.</p>
</article></body></html>"""


def site_app(article_down: dict[str, bool]) -> web.Application:
    """One feed that answers 304 to its own ETag, and the article it lists (503 while ``article_down``
    says so)."""

    async def feed(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == ETAG:
            return web.Response(status=304, headers={"ETag": ETAG})
        text = FEED.format(base=f"http://{request.host}", published=format_datetime(PUBLISHED))
        return web.Response(text=text, content_type="application/rss+xml", headers={"ETag": ETAG})

    async def article(request: web.Request) -> web.Response:
        if article_down["down"]:
            return web.Response(status=503, text="busy")
        return web.Response(text=ARTICLE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/feed.xml", feed)
    app.router.add_get("/a/kursk", article)
    return app


@pytest.fixture
def article_down() -> dict[str, bool]:
    return {"down": False}


@pytest.fixture
def site(article_down: dict[str, bool]) -> Iterator[str]:
    with serve_in_thread(site_app(article_down)) as url:
        yield url


def write_config(tmp_path: Path, base: str, log_format: str = "text") -> str:
    config = cli_config(tmp_path, [("wire", "feed", f"{base}/feed.xml")], RULES)
    with config.open("a", encoding="utf-8") as f:
        f.write(f'[service]\nlog_format = "{log_format}"\nlog_level = "info"\nmetrics = ""\n')
    return str(config)


def test_an_unchanged_run_neither_imports_nor_compiles_the_matcher(
    site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, site)
    assert main(["once", "-c", config]) == 0
    assert "wire: 1 new article(s), 1 alert(s)" in capsys.readouterr().out

    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "monitor", "once", "-c", config],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wire: not modified, 0 alert(s)" in done.stdout
    imported = {
        line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    assert "monitor.matching.rules" in imported  # the rules were read and validated all the same
    assert not {"monitor.matching.engine", "monitor.matching.compiled", "monitor.extract"} & imported


def test_a_matcher_that_cannot_be_compiled_fails_the_run_and_consumes_nothing(
    site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Uncompilable:
        def __init__(self, rules: object) -> None:
            raise MemoryError("no room for the automaton")

    config = write_config(tmp_path, site)
    with monkeypatch.context() as patch:
        patch.setattr(monitor.matching.engine, "Engine", Uncompilable)
        assert main(["once", "-c", config]) == 4
    captured = capsys.readouterr()
    assert "no room for the automaton" in captured.out
    assert "once: every source failed: wire" in captured.err

    # The article was not marked seen: the next run, with a matcher, alerts it.
    assert main(["once", "-c", config]) == 0
    assert "wire: 1 new article(s), 1 alert(s)" in capsys.readouterr().out


def test_an_article_that_failed_is_retried_although_its_feed_is_unchanged(
    site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], article_down: dict[str, bool]
) -> None:
    """The feed's ETag is kept only once everything it listed is handled: kept at once, the next run's
    304 left the article waiting for the site's next change."""
    config = write_config(tmp_path, site)
    article_down["down"] = True
    assert main(["once", "-c", config]) == 4
    assert "wire: 0 new article(s), 0 alert(s), 1 error(s)" in capsys.readouterr().out

    article_down["down"] = False
    assert main(["once", "-c", config]) == 0
    assert "wire: 1 new article(s), 1 alert(s)" in capsys.readouterr().out
    assert main(["once", "-c", config]) == 0  # and now the feed's ETag is kept
    assert "wire: not modified, 0 alert(s)" in capsys.readouterr().out


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_once_logs_in_the_configured_format(
    site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    assert main(["once", "-c", write_config(tmp_path, site, log_format)]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines, "log_level info logs the start and the stop"
    if log_format == "json":
        events = [json.loads(line)["event"] for line in lines]
        assert "started" in events and "stopped" in events
    else:
        assert not any(line.startswith("{") for line in lines)
        assert any(" started " in line for line in lines)


def test_a_refused_config_is_refused_before_anything_is_fetched_and_leaves_the_collector_on(
    site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Start-up pauses the garbage collector; whatever happens at start-up, the run gets it back, and what
    start-up made stays frozen out of its passes to the end (the service's stop does not thaw it)."""
    gc.unfreeze()
    config = write_config(tmp_path, site)
    (tmp_path / "rules" / "r.yaml").write_text("rules:\n  - id: kursk\n    any: []\n", encoding="utf-8")
    assert main(["once", "-c", config]) == 2
    assert "r.yaml:3:" in capsys.readouterr().err
    assert not (tmp_path / "state.db").exists()
    assert gc.isenabled()

    gc.unfreeze()
    write_config(tmp_path, site)
    assert main(["once", "-c", config]) == 0
    assert gc.isenabled() and gc.get_freeze_count() > 0
    gc.unfreeze()


def test_once_log_lines_never_carry_the_configs_secrets(
    site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "whsec-0f5e1d2c3b4a"
    config = write_config(tmp_path, site)
    with open(config, "a", encoding="utf-8") as f:
        f.write(f'[[notifiers]]\nname = "hook"\nkind = "webhook"\nurl = "{site}/hook"\nsecret = "{secret}"\n')
    assert main(["once", "-c", config, "--dry-run"]) == 0
    capsys.readouterr()
    # What a library's error text might quote: the handler `once` set up masks it.
    logging.getLogger("newsmon.probe").warning("probe", extra={"detail": f"signed with {secret}"})
    err = capsys.readouterr().err
    assert f"signed with {MASK}" in err and secret not in err
