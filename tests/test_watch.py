"""RuleWatcher on real files, with a fake clock for debouncing (``poll``) and real time for ``run``."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from monitor.matching.watch import RuleWatcher
from tests.helpers.clock import FakeClock


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "a.yaml").write_text("rules: [{id: a, any: [Kursk]}]\n")
    return folder


def watcher(paths: list[Path], clock: FakeClock, calls: list[int]) -> RuleWatcher:
    return RuleWatcher(paths, lambda: calls.append(1), interval=0.01, debounce=2.0, clock=clock.time)


def test_a_change_is_reported_once_after_the_debounce(rules: Path) -> None:
    clock, calls = FakeClock(), []
    w = watcher([rules], clock, calls)
    assert not w.poll()
    (rules / "a.yaml").write_text("rules: [{id: a, any: [Kursk, Oryol]}]\n")
    assert not w.poll()
    clock.now += 1.9
    assert not w.poll() and calls == []
    clock.now += 0.1
    assert w.poll() and calls == [1]
    clock.now += 10
    assert not w.poll() and calls == [1]


def test_a_burst_of_writes_is_one_change_after_the_last(rules: Path) -> None:
    clock, calls = FakeClock(), []
    w = watcher([rules], clock, calls)
    for i in range(4):
        (rules / "a.yaml").write_text("rules: [{id: a, any: [Kursk]}]\n" + "#" * (i + 1))
        w.poll()
        clock.now += 1.5  # each write comes before the previous one settled
    assert calls == []
    clock.now += 0.5
    assert w.poll() and calls == [1]


def test_same_content_is_no_change(rules: Path) -> None:
    clock, calls = FakeClock(), []
    w = watcher([rules], clock, calls)
    file = rules / "a.yaml"
    file.write_text(file.read_text())
    os.utime(file, ns=(1, 1))
    w.poll()
    clock.now += 5
    assert not w.poll() and calls == []


def test_an_edit_undone_before_it_settles_is_no_change(rules: Path) -> None:
    clock, calls = FakeClock(), []
    w = watcher([rules], clock, calls)
    file = rules / "a.yaml"
    original = file.read_text()
    file.write_text(original + "# wip\n")
    w.poll()
    clock.now += 1
    file.write_text(original)
    w.poll()
    clock.now += 5
    assert not w.poll() and calls == []


def test_files_added_to_or_removed_from_a_folder_are_changes(rules: Path) -> None:
    clock, calls = FakeClock(), []
    w = watcher([rules], clock, calls)
    (rules / "b.yml").write_text("rules: []\n")
    (rules / "notes.txt").write_text("not a rule file")
    w.poll()
    clock.now += 2
    assert w.poll() and calls == [1]
    (rules / "b.yml").unlink()
    w.poll()
    clock.now += 2
    assert w.poll() and calls == [1, 1]
    (rules / "notes.txt").write_text("still not a rule file, longer")
    clock.now += 2
    assert not w.poll() and calls == [1, 1]


def test_a_file_path_that_appears_later(tmp_path: Path) -> None:
    clock, calls = FakeClock(), []
    file = tmp_path / "later.yaml"
    w = watcher([file], clock, calls)
    file.write_text("rules: []\n")
    w.poll()
    clock.now += 2
    assert w.poll() and calls == [1]


def test_a_failing_callback_is_logged_and_watching_goes_on(
    rules: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock, calls = FakeClock(), []

    def on_change() -> None:
        calls.append(1)
        raise RuntimeError("reload exploded")

    w = RuleWatcher([rules], on_change, debounce=1.0, clock=clock.time)
    for content in ("# one\n", "# two, longer\n"):
        (rules / "a.yaml").write_text(content)
        w.poll()
        clock.now += 1
        with caplog.at_level(logging.ERROR, logger="newsmon.rules"):
            assert w.poll()
    assert calls == [1, 1]
    assert [r.message for r in caplog.records].count("rules_watch_callback_failed") == 2


async def test_run_polls_until_stopped(rules: Path) -> None:
    changed = asyncio.Event()
    w = RuleWatcher([rules], changed.set, interval=0.01, debounce=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    (rules / "a.yaml").write_text("rules: [{id: a, any: [Oryol]}]\n")
    await asyncio.wait_for(changed.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
