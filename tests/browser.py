"""Debian's headless Chromium driven by Selenium through Debian's chromedriver: nothing is downloaded at
run time (Selenium Manager is never asked, both paths are given). ``chromium()`` says why it cannot run
when either is missing, for tests to skip with."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)
WAIT = 15.0  # seconds a page may take to load after a form is sent
INSTALL = "apt-get install -y chromium chromium-driver && pip install 'selenium>=4.20'"


def missing() -> str | None:
    """Why no browser test can run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"selenium is not installed ({INSTALL})"
    for binary in ("chromium", "chromedriver"):
        if shutil.which(binary) is None:
            return f"{binary} is not installed ({INSTALL})"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A fresh headless Chromium (its own profile directory) as a Selenium WebDriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="newsmon-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(shutil.which("chromium"))
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(
            options=options, service=Service(executable_path=shutil.which("chromedriver"))
        )
        try:
            yield driver
        finally:
            driver.quit()


async def submit(browser: Any, button: Any) -> None:
    """Click a form's button and wait until the page it posts to has loaded: a click returns as soon as
    the navigation starts, with the old page still in place. The old document is marked first; the wait
    ends on a loaded document without the mark. Selenium blocks, so it runs in a thread and the caller's
    loop (reading the daemon's log) keeps going."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.wait import WebDriverWait

    def replaced(driver: Any) -> bool:
        script = "return window.newsmonOld === undefined && document.readyState === 'complete'"
        return bool(driver.execute_script(script))

    browser.execute_script("window.newsmonOld = true")
    await asyncio.to_thread(button.click)
    # Mid-navigation the driver may answer with an error about the document going away: ask again.
    wait = WebDriverWait(browser, WAIT, ignored_exceptions=(WebDriverException,))
    await asyncio.to_thread(wait.until, replaced)
