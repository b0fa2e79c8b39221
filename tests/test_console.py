"""The web console over HTTP, against a running daemon: who may see it, the headers every page carries,
CSRF on state changes, hostile article text escaped, no secret rendered, and the config rules that
keep it loopback-only unless a token guards it. The browser-driven checks are in test_console_browser."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from monitor.config import HttpConfig, parse_config
from monitor.crawl.http import HostLimiter, HttpClient
from monitor.errors import ConfigError
from monitor.ui import playground
from monitor.ui.present import href, marked
from tests.console import HOOK_PASSWORD, RULES, console
from tests.daemon import DEADLINE, ROOT

PAGES = ("", "sources", "rules", "playground")
TOKEN = "console-token-9f3a1c7e5b"


async def _get(url: str, **options: Any) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False, **options) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


async def test_every_page_renders_with_csp_and_no_framing(tmp_path: Path) -> None:
    async with console(tmp_path) as ui:
        await ui.claimed(1)
        for page in PAGES:
            status, body, headers = await _get(ui.url + page)
            assert status == 200, (page, body[:500])
            csp = headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
            assert headers["X-Frame-Options"] == "DENY"
            assert "<title>" in body
        _, alerts, _ = await _get(ui.url)
        assert "Ukraine fires ATACMS into Kursk" in alerts and "<mark>ATACMS</mark>" in alerts
        status, _, headers = await _get(ui.url.rstrip("/"))
        assert status == 303 and headers["Location"] == "/ui/"


async def test_hostile_titles_are_escaped_and_only_http_links_are_links(tmp_path: Path) -> None:
    async with console(tmp_path) as ui:
        ui.site.publish("hostile", ("<script>alert(1)</script>ATACMS <img src=x onerror=alert(2)>", ""))
        await ui.claimed(2)
        _, body, _ = await _get(ui.url)
        assert "<script>alert(1)" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert href("javascript:alert(1)") is None and href("JAVASCRIPT:x") is None
    assert href("https://example.org/a") == "https://example.org/a"
    assert marked("abcdef", [(1, 3), (2, 4), (4, 9)]) == [("a", False), ("bc", True), ("def", False)]


def test_the_politeness_shown_is_the_longer_of_the_configs_delay_and_robots_crawl_delay() -> None:
    limiter = HostLimiter(concurrency=1, delay=1.0)
    limiter.set_crawl_delay("slow.example", 30.0)
    assert limiter.spacing("slow.example") == 30.0 and limiter.spacing("other.example") == 1.0


async def test_a_post_without_the_form_token_or_from_another_site_is_refused(tmp_path: Path) -> None:
    async with console(tmp_path, reject=True) as ui:
        await ui.delivery("dead")
        _, page, _ = await _get(ui.url + "?state=dead")
        form = {"alert_id": re.search(r'name="alert_id" value="([^"]+)"', page).group(1), "notifier": "hook"}  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as http:
            async with http.post(ui.url + "alerts/retry", data=form, allow_redirects=False) as resp:
                assert resp.status == 403 and "form token" in await resp.text()
            cross = {"Sec-Fetch-Site": "cross-site"}
            async with http.post(
                ui.url + "alerts/retry",
                data={**form, "csrf": _csrf(page)},
                headers=cross,
                allow_redirects=False,
            ) as resp:
                assert resp.status == 403
            async with http.post(
                ui.url + "alerts/retry", data={**form, "csrf": _csrf(page)}, allow_redirects=False
            ) as resp:
                assert resp.status == 303
        retried = await ui.daemon.log(lambda e: e.get("event") == "console_retry")
        assert retried["count"] == 1
        for page in PAGES:
            assert HOOK_PASSWORD not in (await _get(ui.url + page))[1]


async def test_a_token_guards_the_console_and_never_shows_itself(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "console-token").write_text(TOKEN + "\n")
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}
    service = 'ui = true\nui_token_file = "console-token"'
    async with console(tmp_path, service=service, env=env) as ui:
        said = await ui.daemon.log(lambda e: e.get("event") == "console_listening")
        assert said["detail"] == "access: token"
        status, _, headers = await _get(ui.url)
        assert status == 303 and headers["Location"] == "/ui/login"
        assert (await _get(ui.url + "static/console.css"))[0] == 200  # the sign-in page's own style
        status, body, _ = await _get(ui.url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and TOKEN not in body
        async with aiohttp.ClientSession() as http:
            async with http.get(ui.url + "login") as resp:
                token_form = _csrf(await resp.text())
            wrong = {"csrf": token_form, "token": "guess"}
            async with http.post(ui.url + "login", data=wrong, allow_redirects=False) as resp:
                assert resp.status == 403
            right = {"csrf": token_form, "token": TOKEN}
            async with http.post(ui.url + "login", data=right) as resp:
                assert resp.status == 200 and "Alerts" in await resp.text()
                assert all(TOKEN not in c.value for c in http.cookie_jar)
            for page in PAGES:
                async with http.get(ui.url + page) as resp:
                    assert resp.status == 200 and TOKEN not in await resp.text()
    assert all(TOKEN not in line for line in ui.daemon.raw)


def test_the_console_stays_on_loopback_unless_a_token_guards_it(tmp_path: Path) -> None:
    def problems(service: str) -> str:
        with pytest.raises(ConfigError) as caught:
            parse_config(f"[service]\n{service}\n", tmp_path / "config.toml")
        return str(caught.value)

    assert "set ui_token_file" in problems('metrics = ":9464"\nui = true')
    assert "set ui_token_file" in problems('metrics = "0.0.0.0:9464"\nui = true')
    assert "served on the metrics listener" in problems('metrics = ""\nui = true')
    parse_config('[service]\nmetrics = "[::1]:9464"\nui = true\n', tmp_path / "config.toml")
    (tmp_path / "token").write_text(TOKEN)
    config = parse_config(
        '[service]\nmetrics = ":9464"\nui = true\nui_token_file = "token"\n', tmp_path / "config.toml"
    )
    assert config.service.ui_token is not None and config.service.ui_token.reveal() == TOKEN
    assert TOKEN not in repr(config)


async def test_the_playground_fetches_through_the_crawlers_ssrf_guard(tmp_path: Path) -> None:
    async with console(tmp_path) as ui:
        feed = ui.url  # any loopback URL: the guard refuses it before connecting
        async with HttpClient(HttpConfig(respect_robots=False)) as http:
            daemon: Any = SimpleNamespace(http=http)
            view = await playground.run(daemon, {"rule": playground.EXAMPLE_RULE, "url": feed})
        assert view.article is None and "not a public address" in view.errors[0]
        async with aiohttp.ClientSession() as http:
            async with http.get(ui.url + "playground") as resp:
                form = {"csrf": _csrf(await resp.text()), "rule": "rules: [", "text": "x"}
            async with http.post(ui.url + "playground", data=form) as resp:
                body = await resp.text()
        assert resp.status == 200 and "Cannot test" in body and "pasted rule" in body


async def test_demo_with_the_console_shows_all_four_pages(free_port: int) -> None:
    """What a fresh clone shows with ``newsmon demo --console``: the sample site's alerts and every page."""
    address = f"127.0.0.1:{free_port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "monitor", "demo", "--console", address),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(DEADLINE):
            while b"web console at" not in (line := await proc.stdout.readline()):
                assert line, "the demo exited before its console came up"
            # The console notifier prints each alert after the store has it.
            while b"Ukraine fires ATACMS" not in (line := await proc.stdout.readline()):
                assert line, "the demo exited before its first alert"
        url = f"http://{address}/ui/"
        status, alerts, _ = await _get(url)
        assert status == 200 and "Ukraine fires ATACMS" in alerts and "long-range-strike-permission" in alerts
        for page in PAGES[1:]:
            status, body, _ = await _get(url + page)
            assert status == 200 and "<h1>" in body
        assert "demo-world-feed" in (await _get(url + "sources"))[1]
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), DEADLINE) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_the_config_examples_in_the_console_docs_load(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", (ROOT / "docs" / "console.md").read_text(), re.S)
    assert len(blocks) == 2
    (tmp_path / "console-token").write_text(TOKEN)
    configs = [parse_config(block, tmp_path / "config.toml") for block in blocks]
    assert all(c.service.ui for c in configs)
    assert configs[1].service.ui_token is not None and configs[1].service.ui_token.reveal() == TOKEN


async def test_the_playground_looks_back_over_the_article_archive(tmp_path: Path) -> None:
    async with console(tmp_path) as ui:
        await ui.claimed(1)
        async with aiohttp.ClientSession() as http:
            async with http.get(ui.url + "playground") as resp:
                form = {"csrf": _csrf(await resp.text()), "rule": RULES, "days": "7"}
            # The archive is written with the poll's seen-marks, just after the claim: poll until then.
            async with asyncio.timeout(DEADLINE):
                while True:
                    async with http.post(ui.url + "playground", data=form) as resp:
                        body = await resp.text()
                    if resp.status != 200 or "atacms: 1 alert " in body:
                        break
                    await asyncio.sleep(0.1)  # polling the page under the deadline
    assert resp.status == 200 and "Over the last 7 days" in body and "Cannot test" not in body
    assert "atacms: 1 alert " in body and "Ukraine fires ATACMS into Kursk" in body


async def test_the_rules_page_shows_each_rules_place_its_counts_and_a_refused_reload(tmp_path: Path) -> None:
    async with console(tmp_path) as ui:
        await ui.claimed(1)
        _, body, _ = await _get(ui.url + "rules")
        assert "rules/test.yaml:2" in body and "refused" not in body
        row = re.search(r"<code>rules/test.yaml:2</code></td><td>(\d+)</td><td>(\d+)</td>", body)
        assert row is not None and row.groups() == ("1", "1")
        (tmp_path / "rules" / "broken.yaml").write_text("rules:\n  - id: broken\n    title: [\n")
        await ui.daemon.log(lambda e: e.get("event") == "reload_failed" and "count" in e)
        _, body, _ = await _get(ui.url + "rules")
        assert "The last reload was refused" in body and "broken.yaml" in body
