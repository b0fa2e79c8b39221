"""OPML import/export with subscription lists shaped like the big feed readers' exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.errors import ParseError
from monitor.model import Source
from monitor.opml import export_opml, parse_opml

# Written in the shape each reader exports (folders, attribute spelling, namespaces, quirks).
DATA = Path(__file__).parent / "data" / "opml"

MINIFLUX = (DATA / "miniflux.opml").read_bytes()
FRESHRSS = (DATA / "freshrss.opml").read_bytes()
FEEDLY = (DATA / "feedly.opml").read_bytes()
INOREADER = (DATA / "inoreader.opml").read_bytes()

SAMPLES = {"miniflux": MINIFLUX, "freshrss": FRESHRSS, "feedly": FEEDLY, "inoreader": INOREADER}


def test_miniflux_nested_and_duplicate() -> None:
    feeds, skipped = parse_opml(MINIFLUX, "miniflux.opml")
    assert [(f.title, f.category) for f in feeds] == [
        ("BBC News - World", "All"),
        ("The Kyiv Independent", "Ukraine"),
    ]
    assert [s.reason for s in skipped] == ["duplicate URL"]


def test_freshrss_namespaced_attributes_and_scraped_pages() -> None:
    feeds, skipped = parse_opml(FRESHRSS, "freshrss.opml")
    assert [f.url for f in feeds] == [
        "https://www.theguardian.com/world/rss",
        "https://breakingdefense.com/feed/",
    ]
    assert feeds[0].title == "World news | The Guardian" and feeds[1].category == "Defence"
    assert len(skipped) == 1 and "html+xpath" in skipped[0].reason


def test_feedly_query_urls_and_unicode_titles() -> None:
    feeds, _ = parse_opml(FEEDLY, "feedly.opml")
    assert feeds[0].url == "https://www.reutersagency.com/feed/?best-topics=political-general&post_type=best"
    assert [f.title for f in feeds][2] == "Риа Новости"
    assert [f.category for f in feeds] == ["World", "World", "Russia", "Russia"]


def test_inoreader_deep_nesting_case_and_schemes() -> None:
    feeds, skipped = parse_opml(INOREADER, "inoreader.opml")
    assert [f.title for f in feeds] == ["NK News", "Yonhap", "Old feed"]
    assert feeds[2].category == "Podcasts / Archive"  # lower-case "xmlurl" still read
    assert {(s.where, s.reason) for s in skipped} == {
        ("Yonhap again", "duplicate URL"),  # same URL up to scheme and host case
        ("Local file", "not an http(s) URL"),
    }


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body>not opml</body></html>",
        b"<opml version='2.0'><head/></opml>",
        b"<opml><body><outline",
    ],
)
def test_not_opml_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError, match="not OPML"):
        parse_opml(data, "x.opml")


def test_entity_declarations_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    external = f"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>
<opml version="2.0"><head><title>&xxe;</title></head><body>
<outline text="&xxe;" xmlUrl="https://example.org/a.xml"/>
</body></opml>""".encode()
    # libxml2 expands internal entities in attributes even with resolve_entities=False: a bomb there
    # would cost memory, so any entity declaration is refused before parsing.
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<opml version="2.0"><body><outline text="&b;" xmlUrl="https://example.org/b.xml"/></body></opml>"""
    for data in (external, bomb):
        with pytest.raises(ParseError, match="declares XML entities") as caught:
            parse_opml(data, "evil.opml")
        assert "TOPSECRET" not in str(caught.value)


def test_plain_doctype_is_fine() -> None:
    data = b'<?xml version="1.0"?>\n<!DOCTYPE opml>\n<opml version="2.0"><body>' + (
        b'<outline text="A &amp; B" xmlUrl="https://example.org/b.xml"/></body></opml>'
    )
    assert [f.title for f in parse_opml(data, "ok.opml")[0]] == ["A & B"]


def _config(tmp_path: Path, sources: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'# mine\n[store]\nurl = "sqlite://state.db"  # keep\n{sources}')
    return path


def test_import_all_samples_gives_unique_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, '\n[[sources]]\nname = "reuters"\nurl = "https://example.org/reuters.xml"\n')
    for name, data in SAMPLES.items():
        (tmp_path / f"{name}.opml").write_bytes(data)
        assert main(["sources", "import", str(tmp_path / f"{name}.opml"), "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "skipped Meduza" in out
    sources = load_config(path).sources
    names = [s.name for s in sources]
    assert len(names) == len(set(names)) == 1 + 2 + 2 + 4 + 3
    assert names[1:3] == ["bbc-news-world", "the-kyiv-independent"]
    assert "reuters-2" in names and "reuters-3" in names and "риа-новости" in names
    text = path.read_text()
    assert text.startswith('# mine\n[store]\nurl = "sqlite://state.db"  # keep\n')
    assert "# OPML folder: Podcasts / Archive" in text
    # Importing the same file again adds nothing: every URL is already watched.
    assert main(["sources", "import", str(tmp_path / "feedly.opml"), "-c", str(path)]) == 1
    assert "already watched" in capsys.readouterr().out


def test_import_dry_run_and_interval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path)
    before = path.read_text()
    (tmp_path / "m.opml").write_bytes(MINIFLUX)
    assert main(["sources", "import", str(tmp_path / "m.opml"), "-c", str(path), "--dry-run"]) == 0
    assert path.read_text() == before
    assert 'name = "bbc-news-world"' in capsys.readouterr().out
    assert main(["sources", "import", str(tmp_path / "m.opml"), "-c", str(path), "--interval", "10m"]) == 0
    assert {s.interval for s in load_config(path).sources} == {600.0}


def test_import_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path)
    (tmp_path / "bad.opml").write_text("<html/>")
    assert main(["sources", "import", str(tmp_path / "bad.opml"), "-c", str(path)]) == 2
    assert main(["sources", "import", str(tmp_path / "missing.opml"), "-c", str(path)]) == 2
    assert "not OPML" in capsys.readouterr().err


def test_export_is_opml_2_of_feed_sources_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sources = [
        Source("world & more", "feed", "https://example.org/rss?a=1&b=2", 300.0),
        Source("front", "html", "https://example.org/", 300.0),
    ]
    data = export_opml(sources)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<opml version=\"2.0\">")
    assert b"<dateCreated>" in data and b"front" not in data
    feeds, _ = parse_opml(data, "export.opml")
    assert [(f.title, f.url) for f in feeds] == [("world & more", "https://example.org/rss?a=1&b=2")]


def test_round_trip_import_export_import_is_stable(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    (tmp_path / "a").mkdir()
    first = _config(tmp_path / "a")
    for name, data in SAMPLES.items():
        (tmp_path / f"{name}.opml").write_bytes(data)
        assert main(["sources", "import", str(tmp_path / f"{name}.opml"), "-c", str(first)]) == 0
    capsysbinary.readouterr()
    assert main(["sources", "export", "-c", str(first)]) == 0
    exported = capsysbinary.readouterr().out
    (tmp_path / "export.opml").write_bytes(exported)
    (tmp_path / "b").mkdir()
    second = _config(tmp_path / "b")
    assert main(["sources", "import", str(tmp_path / "export.opml"), "-c", str(second)]) == 0
    a = [(s.name, s.kind, s.url) for s in load_config(first).sources]
    b = [(s.name, s.kind, s.url) for s in load_config(second).sources]
    assert a == b and len(a) == 11
    assert main(["sources", "export", "-c", str(second), "-o", str(tmp_path / "again.opml")]) == 0
    again = parse_opml((tmp_path / "again.opml").read_bytes(), "again.opml")[0]
    assert [(f.title, f.url) for f in again] == [(n, u) for n, _, u in a]
