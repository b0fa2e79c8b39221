"""The web console in a real headless Chromium against a running daemon fed by a local news site: an alert
shows after its article is published, Retry re-queues a dead letter, the playground highlights the seed
article's ATACMS hit, and a title with <script> in it is shown as text.

Skipped, saying what to install, where Chromium, chromedriver or Selenium is missing (see tests/browser.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium, missing, submit
from tests.console import HOSTILE, console
from tests.helpers.playground import PLAYGROUND_RULE, SEED

pytestmark = pytest.mark.skipif(missing() is not None, reason=f"no browser: {missing()}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


async def _open(browser: Any, url: str) -> None:
    # Selenium blocks; the daemon's log lines are read on this test's loop meanwhile.
    await asyncio.to_thread(browser.get, url)


def _texts(browser: Any, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in browser.find_elements(By.CSS_SELECTOR, css)]


async def test_an_alert_shows_after_publication_and_a_script_title_shows_as_text(
    tmp_path: Path, browser: Any
) -> None:
    async with console(tmp_path) as ui:
        await ui.claimed(1)
        await _open(browser, ui.url)
        assert _texts(browser, "article.alert h2") == ["Ukraine fires ATACMS into Kursk"]
        assert "ATACMS" in _texts(browser, "article.alert mark")

        ui.site.publish("hostile", HOSTILE)
        await ui.claimed(2)
        await _open(browser, ui.url)
        assert _texts(browser, "article.alert h2")[0] == HOSTILE[0]
        assert browser.execute_script("return window.pwned === undefined && !document.querySelector('h2 b')")


async def test_retry_requeues_a_dead_letter(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    async with console(tmp_path, reject=True) as ui:
        await ui.delivery("dead")
        await _open(browser, ui.url + "?state=dead")
        assert _texts(browser, "tr.state-dead td:first-child") == ["hook"]
        ui.hook.reject = False
        await submit(browser, browser.find_element(By.CSS_SELECTOR, "tr.state-dead button.retry"))
        await ui.delivery("delivered")
        await _open(browser, ui.url)
        assert _texts(browser, "tr.state-delivered td:first-child") == ["hook"]
        assert _texts(browser, "tr.state-dead") == []


@pytest.mark.skipif(SEED is None, reason="../shared/examples/seed-article.txt is not present")
async def test_the_playground_highlights_the_seed_articles_atacms_hit(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    assert SEED is not None
    async with console(tmp_path) as ui:
        await _open(browser, ui.url + "playground")
        rule = browser.find_element(By.NAME, "rule")
        text = browser.find_element(By.NAME, "text")
        browser.execute_script("arguments[0].value = arguments[1]", rule, PLAYGROUND_RULE)
        browser.execute_script("arguments[0].value = arguments[1]", text, SEED.read_text(encoding="utf-8"))
        await submit(browser, browser.find_element(By.CSS_SELECTOR, "form.playground button"))
        assert _texts(browser, ".match h3") == ["✔ atacms-in-russia — ATACMS used against Russia"]
        assert _texts(browser, ".miss h3") == ["✘ atacms-in-crimea — ATACMS over Crimea (near miss)"]
        marked = _texts(browser, ".article mark")
        assert "ATACMs" in marked and "Russia" in marked
        assert "ATACMs" in _texts(browser, ".match q mark")
