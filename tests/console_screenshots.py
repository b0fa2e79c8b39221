"""Screenshots of the web console's four pages for docs/console.md, taken as the browser tests see it.

    PYTHONPATH=$PWD python -m tests.console_screenshots [docs/]

A daemon watches a local news site (the ATACMS story, a hostile "<script>" title) and delivers to a
receiver that refuses (so a dead letter shows its Retry button); headless Chromium saves one PNG per page.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from tests.browser import chromium, missing, submit
from tests.console import HOSTILE, console
from tests.helpers.playground import PLAYGROUND_RULE, SEED

SIZE = (1100, 760)


async def shoot(out: Path) -> list[Path]:
    from selenium.webdriver.common.by import By

    saved: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        browser.set_window_size(*SIZE)
        async with console(Path(tmp), reject=True, broken=True) as ui:
            ui.site.publish("hostile", HOSTILE)
            await ui.claimed(2)
            await ui.delivery("dead", 2)
            # Logged before the poll is recorded: the second failure means the first is in the store.
            await ui.daemon.log(lambda _: len(ui.daemon.events("poll_failed")) >= 2)

            async def save(path: str, name: str) -> None:
                await asyncio.to_thread(browser.get, ui.url + path)
                saved.append(out / f"console-{name}.png")
                browser.save_screenshot(str(saved[-1]))

            await save("", "alerts")
            await save("sources", "sources")
            await save("rules", "rules")
            await asyncio.to_thread(browser.get, ui.url + "playground")
            text = SEED.read_text(encoding="utf-8") if SEED else HOSTILE[1]
            for field, value in (("rule", PLAYGROUND_RULE), ("text", text)):
                element = browser.find_element(By.NAME, field)
                browser.execute_script("arguments[0].value = arguments[1]", element, value)
            await submit(browser, browser.find_element(By.CSS_SELECTOR, "form.playground button"))
            browser.execute_script("document.querySelector('.results').scrollIntoView()")
            saved.append(out / "console-playground.png")
            browser.save_screenshot(str(saved[-1]))
    return saved


def main() -> int:
    if (why := missing()) is not None:
        print(f"cannot take screenshots: {why}", file=sys.stderr)
        return 1
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    for path in asyncio.run(shoot(out)):
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
