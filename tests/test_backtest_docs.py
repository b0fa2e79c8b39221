"""docs/rules.md's "Test a rule against last week" runs: its rule file is archived against the articles its
expectations list (one a day, oldest first), and the backtest command it shows must print what it shows,
dates and timings aside."""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import Path

import pytest

from monitor.archive import ArchivedArticle
from monitor.cli import main
from monitor.model import SystemClock
from monitor.store import open_store
from tests.helpers.rules_docs import DOC, blocks, parse_article

SECTION = "## Test a rule against last week"
DAY = 86400.0
_DATES = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}\+00:00)?")
_SECONDS = re.compile(r"\d+\.\d s\b")


def section_blocks() -> list[tuple[int, str, str]]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    first, last = text.count("\n", 0, start) + 1, text.count("\n", 0, end if end > 0 else len(text)) + 1
    return [b for b in blocks() if first <= b[0] <= last]


def stable(text: str) -> list[str]:
    """Lines without what changes from run to run: dates and timings."""
    lines = [_SECONDS.sub("N s", _DATES.sub("DATE", line.rstrip())) for line in text.splitlines()]
    return [line for line in lines if line]


async def archive(db: Path, articles: list[str]) -> None:
    store = open_store(f"sqlite://{db}", retention=30 * DAY, clock=SystemClock())
    await store.open()
    now = SystemClock().time()
    records = []
    for n, line in enumerate(articles, 1):
        fields, source, language = parse_article(line.rpartition(" => ")[0])
        records.append(
            ArchivedArticle(
                url=f"https://news.example/{n}",
                source=source,
                title=fields.get("title", ""),
                body=fields.get("body", ""),
                summary=fields.get("summary", ""),
                language=language,
                detected_at=now - (len(articles) - n + 1) * DAY,
            )
        )
    await store.mark_seen({}, records)
    await store.close()


def test_the_backtest_example_prints_what_the_guide_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    found = section_blocks()
    languages = [lang for _, lang, _ in found]
    assert languages[:3] == ["yaml", "text", "console"], "the section shows a rule file, articles, a run"
    rules, articles, console = (body for _, _, body in found[:3])
    (tmp_path / "rules.yaml").write_text(rules)
    (tmp_path / "config.toml").write_text('[store]\nurl = "sqlite://state.db"\n')
    asyncio.run(archive(tmp_path / "state.db", [a for a in articles.splitlines() if " => " in a]))

    command, _, shown = console.partition("\n")
    args = shlex.split(command.removeprefix("$ "))
    assert args[:3] == ["newsmon", "rules", "test"]
    monkeypatch.chdir(tmp_path)  # the command names config.toml and rules.yaml as a user in that folder would
    code = main(args[1:])
    out = capsys.readouterr().out
    assert code == 0
    assert stable(out) == stable(shown)
