"""Style-preserving config edits: append, validate, write atomically or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.config_edit import SourceBlock, append_sources, read_config, render_blocks, slug, unique_name
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("www.example.co.uk", "www-example-co-uk"),
        ("BBC News - World", "bbc-news-world"),
        ("World news | The Guardian", "world-news-the-guardian"),
        ("Риа Новости", "риа-новости"),
        ("  --__--  ", ""),
        ("a" * 100, "a" * 60),
    ],
)
def test_slug(text: str, expected: str) -> None:
    assert slug(text) == expected


def test_unique_name() -> None:
    assert unique_name("bbc", set()) == "bbc"
    assert unique_name("bbc", {"bbc", "bbc-2"}) == "bbc-3"


def test_append_to_the_example_config_keeps_every_byte(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    original = (ROOT / "config.example.toml").read_text()
    path.write_text(original)
    (tmp_path / "rules").mkdir()
    new = append_sources(path, original, [SourceBlock("new-one", "https://example.net/feed", interval="5m")])
    assert path.read_text() == new
    # The original with one block inserted after the last [[sources]] table, nothing else moved.
    added = (
        '[[sources]]\nname = "new-one"\nkind = "feed"\nurl = "https://example.net/feed"\ninterval = "5m"\n\n'
    )
    assert new.index(added) < new.index("[[notifiers]]")
    assert new.replace(added, "") == original
    assert [s.name for s in load_config(path).sources][-1] == "new-one"


def test_first_source_in_a_file_without_any(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = '[store]\nurl = "sqlite://x.db"  # here\n\n# a closing comment\n'
    path.write_text(text)
    new = append_sources(path, text, [SourceBlock("a", "https://example.org/", kind="html", comment="hi")])
    assert new == text + '\n[[sources]]\n# hi\nname = "a"\nkind = "html"\nurl = "https://example.org/"\n'


def test_invalid_result_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = '[[sources]]\nname = "a"\nurl = "https://example.org/feed"\n'
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        append_sources(path, text, [SourceBlock("a", "https://example.org/other")])
    assert 'duplicate source name "a"' in str(caught.value)
    assert path.read_text() == text
    assert sorted(os.listdir(tmp_path)) == ["config.toml"]  # no temporary file left behind


def test_inline_sources_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = 'sources = [{name = "a", url = "https://example.org/feed"}]\n'
    path.write_text(text)
    with pytest.raises(ConfigError, match="by hand"):
        append_sources(path, text, [SourceBlock("b", "https://example.org/b")])


def test_permissions_survive_the_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("")
    path.chmod(0o640)
    append_sources(path, "", [SourceBlock("a", "https://example.org/feed")])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_write_false_only_returns_text(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("")
    new = append_sources(path, "", [SourceBlock("a", "https://example.org/feed")], write=False)
    assert path.read_text() == "" and 'name = "a"' in new


def test_read_config_refuses_an_invalid_file_before_any_edit(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[http]\ntimeout = 'soon'\n")
    with pytest.raises(ConfigError, match=r"http\.timeout"):
        read_config(path)


def test_render_blocks() -> None:
    text = render_blocks([SourceBlock("a", "https://example.org/feed"), SourceBlock("b", "https://x.org/")])
    assert text.count("[[sources]]") == 2 and 'url = "https://x.org/"' in text
