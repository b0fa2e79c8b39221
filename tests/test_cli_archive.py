"""The archive's commands: ``rules test --since`` (backtest) and ``articles list | show | search``, their
output shapes and exit codes (0 found, 1 nothing, 2 error), over an archive the daemon filled by polling
the bundled demo site."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.demo import demo_app
from tests.helpers.cli_site import ROOT, write_config
from tests.threaded import serve_in_thread

RULES = str(ROOT / "rules")


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(config path, site URL) after one ``newsmon once`` over the demo site: its four articles archived."""
    with serve_in_thread(demo_app(datetime.now(UTC) - timedelta(minutes=5))) as url:
        config = str(write_config(tmp_path_factory.mktemp("archive"), url))
        assert main(["once", "-c", config]) == 0
        yield config, url


def test_backtest_prints_alerts_per_rule_and_rules_that_never_fired(
    polled: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = polled
    capsys.readouterr()
    (tmp_path / "extra.yaml").write_text("rules:\n  - {id: pumpkins, any: [Atlantis]}\n")
    assert (
        main(["rules", "test", "-c", config, "--rules", RULES, "--rules", str(tmp_path), "--since", "1d"])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("4 archived article(s) from ")
    assert "✔ north-korean-troops — North Korean troops in the war: 1 alert(s) (1 matching article(s))" in out
    assert "   by source: front 1" in out
    assert out.rstrip().endswith("never fired: zaporizhzhia-nuclear-plant, pumpkins")


def test_backtest_json_is_one_object_per_alert_then_a_summary(
    polled: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, url = polled
    capsys.readouterr()
    assert main(["rules", "test", "-c", config, "--rules", RULES, "--since", "1d", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    alerts, summary = lines[:-1], lines[-1]["summary"]
    assert len(alerts) == 4  # as `newsmon once` alerted: one story matched two rules
    for alert in alerts:
        assert set(alert) == {"article", "matches"}
        assert {"title", "url", "published", "source", "detected_at", "story"} <= set(alert["article"])
        (match,) = alert["matches"]
        assert set(match) == {"rule", "title", "hits"} and match["hits"]
        assert set(match["hits"][0]) == {"term", "via_lemma", "entity", "field", "start", "end", "snippet"}
    assert {a["article"]["url"] for a in alerts} == {
        f"{url}/world/ukraine-atacms-kursk",
        f"{url}/world/north-korean-soldiers-front",
        f"{url}/world/us-aid-package",
    }
    assert summary["articles"] == 4 and sum(r["alerts"] for r in summary["rules"]) == 4
    assert {"rule", "title", "alerts", "matched", "per_day", "by_source"} == set(summary["rules"][0])


def test_backtest_exit_codes(
    polled: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = polled
    (tmp_path / "none.yaml").write_text("rules:\n  - {id: nothing, any: [Atlantis]}\n")
    assert main(["rules", "test", "-c", config, "--rules", str(tmp_path / "none.yaml"), "--since", "7d"]) == 1
    assert main(["rules", "test", "-c", config, "--rules", RULES, "--since", "a week"]) == 2
    assert "--since: expected a duration" in capsys.readouterr().err
    assert main(["rules", "test", "-c", config, "--rules", RULES, "--since", "7d", "--url", "http://x/"]) == 2
    assert "leave out --url, --file and -" in capsys.readouterr().err
    off = tmp_path / "off.toml"
    off.write_text(f'[store]\nurl = "sqlite://{tmp_path / "empty.db"}"\n[archive]\nenabled = false\n')
    assert main(["rules", "test", "-c", str(off), "--rules", RULES, "--since", "7d"]) == 2
    assert "set enabled = true under [archive]" in capsys.readouterr().err


def test_articles_list_search_and_show(polled: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    config, url = polled
    capsys.readouterr()
    assert main(["articles", "list", "-c", config]) == 0
    everything = capsys.readouterr().out
    assert "Washington announces new military aid package" in everything
    assert everything.rstrip().endswith("4 article(s)")
    # The front page and the feed list the same stories; each is archived under whichever polled it first.
    assert main(["articles", "list", "-c", config, "--source", "feed"]) == 0
    rows = capsys.readouterr().out.rstrip().splitlines()
    assert rows[:-1] and all("  feed  " in row for row in rows[:-1])
    assert rows[-1] == f"{len(rows) - 1} article(s)"

    assert main(["articles", "search", "-c", config, "pumpkin", "--json"]) == 0
    (found,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert found["url"] == f"{url}/local/harvest-festival"
    assert found["hits"][0]["term"] == "pumpkin" and "pumpkin-carving" in found["hits"][0]["snippet"]
    assert main(["articles", "search", "-c", config, "Atlantis"]) == 1
    assert capsys.readouterr().out == "0 article(s)\n"

    assert main(["articles", "show", "-c", config, f"{url}/world/north-korean-soldiers-front", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["article"]["matched_when_seen"] == ["north-korean-troops"]
    assert shown["article"]["body"].startswith("North Korean soldiers reported near the front line")
    assert [m["rule"] for m in shown["matches"]] == ["north-korean-troops"]
    assert shown["near_misses"] and all(x["failed"] for x in shown["near_misses"])
    assert main(["articles", "show", "-c", config, f"{url}/nowhere"]) == 1
    assert "is not in the archive" in capsys.readouterr().err
