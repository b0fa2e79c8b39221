"""The CLI contract: commands, output shapes and exit codes (0 ok, 1 nothing found, 2 input error)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.demo import demo_app
from monitor.matching.rules import rules_from_text
from tests.helpers.cli_site import ROOT, write_config
from tests.threaded import serve_in_thread

SEED = ROOT.parent / "shared" / "examples" / "seed-article.txt"
SEED_EXCERPT = """FEATUREDGeneralLatestNews

Biden Approves Ukraine’s Use of Long-Range Missiles for Strikes in Russia

President Joe Biden has authorized Ukraine to use U.S.-supplied long-range missiles, known as Army Tactical
Missile Systems (ATACMs), to strike deeper into Russian territory, marking a significant shift in U.S. policy.

The move comes amid reports that thousands of North Korean troops have been deployed near Ukraine’s northern
border to support Russia in retaking territory.
"""


@pytest.fixture
def site() -> Iterator[str]:
    with serve_in_thread(demo_app(datetime.now(UTC) - timedelta(minutes=5))) as url:
        yield url


def test_check_example_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-c", str(ROOT / "config.example.toml")]) == 0
    out = capsys.readouterr().out
    assert "ok" in out and "5 source(s)" in out


def test_check_never_prints_the_store_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.toml").write_text(
        f'[store]\nurl = "redis://newsmon:hunter2@127.0.0.1:6379/0"\n[rules]\npaths = ["{ROOT / "rules"}"]\n'
    )
    assert main(["check", "-c", str(tmp_path / "config.toml")]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "127.0.0.1:6379" in out


def test_check_reports_config_problems_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.toml").write_text(
        '[rules]\npaths = ["rules/"]\n[http]\ntimeout = "soon"\nagent = 1\n'
    )
    assert main(["check", "-c", str(tmp_path / "config.toml")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert re.search(r"config\.toml:4:1: http\.timeout: expected a duration", err[0]), err
    assert re.search(r"config\.toml:5:1: http\.agent: unknown key", err[1]), err


def test_check_reports_rule_errors_with_positions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yaml").write_text("rules:\n  - id: x\n    any: ['@nowhere']\n    notfy: [ops]\n")
    (tmp_path / "config.toml").write_text('[rules]\npaths = ["rules/"]\n')
    assert main(["check", "-c", str(tmp_path / "config.toml")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"bad\.yaml:3:\d+: .*nowhere", err), err
    assert re.search(r"bad\.yaml:4:\d+: .*notfy.*did you mean", err), err


def test_check_unknown_notifier_in_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text("rules:\n  - id: x\n    any: [Kursk]\n    notify: [pager]\n")
    (tmp_path / "config.toml").write_text('[rules]\npaths = ["r.yaml"]\n')
    assert main(["check", "-c", str(tmp_path / "config.toml")]) == 2
    assert "unknown notifier 'pager'" in capsys.readouterr().err


def rules_test_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["rules", "test", "--rules", str(ROOT / "rules"), "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_rules_test_seed_excerpt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "seed.txt").write_text(SEED_EXCERPT)
    code, data = rules_test_json(capsys, "--file", str(tmp_path / "seed.txt"))
    assert code == 0
    assert data["article"]["title"].startswith("Biden Approves Ukraine")
    by_rule = {m["rule"]: m for m in data["matches"]}
    assert {"atacms-strikes-in-russia", "north-korean-troops"} <= set(by_rule)
    terms = {h["term"] for h in by_rule["atacms-strikes-in-russia"]["hits"]}
    assert "Army Tactical Missile System" in terms and "ATACMS" in terms  # "Systems (ATACMs)" both ways
    for hit in by_rule["north-korean-troops"]["hits"]:
        assert set(hit) == {"term", "via_lemma", "entity", "field", "start", "end", "snippet"}
        assert hit["via_lemma"] is None  # an English article: found as written
        assert "North Korean troops" in hit["snippet"]


@pytest.mark.skipif(not SEED.exists(), reason="../shared/examples/seed-article.txt is not present")
def test_rules_test_seed_article(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = rules_test_json(capsys, "--file", str(SEED))
    assert code == 0
    assert {"atacms-strikes-in-russia", "north-korean-troops"} <= {m["rule"] for m in data["matches"]}
    assert all(h["snippet"] for m in data["matches"] for h in m["hits"])


def test_rules_test_html_from_stdin_no_match(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import sys

    page = b"<html><head><title>Harvest</title></head><body><p>Pumpkins everywhere.</p></body></html>"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(page)))
    assert main(["rules", "test", "--rules", str(ROOT / "rules"), "-"]) == 1
    assert "no rule matched" in capsys.readouterr().out


def test_rules_test_bad_rules_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("rules:\n  - id: x\n    any: [{re: '(unclosed'}]\n")
    (tmp_path / "a.txt").write_text("text")
    assert (
        main(["rules", "test", "--rules", str(tmp_path / "bad.yaml"), "--file", str(tmp_path / "a.txt")]) == 2
    )
    assert "bad.yaml:3:" in capsys.readouterr().err


def test_rules_test_url(site: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = rules_test_json(capsys, "--url", f"{site}/world/north-korean-soldiers-front")
    assert code == 0
    assert data["article"]["url"] == f"{site}/world/north-korean-soldiers-front"
    assert [m["rule"] for m in data["matches"]] == ["north-korean-troops"]


def test_once_dry_run_then_deliver_then_status(
    site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, site))
    assert main(["once", "-c", config, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would alert [atacms-strikes-in-russia]" in out
    assert main(["alerts", "list", "-c", config]) == 1  # dry run recorded nothing

    assert main(["once", "-c", config, "--source", "feed"]) == 0
    out = capsys.readouterr().out
    assert "[newsmon] ATACMS used inside Russia" in out  # the console notifier delivered it
    assert main(["alerts", "list", "-c", config, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["state"] for r in rows} == {"delivered"}

    assert main(["once", "-c", config]) == 0  # the front page lists the same story: no new alert for it
    out = capsys.readouterr().out
    assert "ATACMS used inside Russia" not in out

    assert main(["status", "-c", config, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["daemon"]["status"] is None  # metrics off: health unknown, not "down"
    assert {s["name"] for s in status["sources"]} == {"front", "feed"}
    assert status["outbox_pending"] == 0
    assert main(["once", "-c", config, "--source", "nope"]) == 2


def test_notify_test_console(site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path, site))
    assert main(["notify", "test", "-c", config]) == 0
    out = capsys.readouterr().out
    assert "Test alert: your newsmon notifier works" in out and "terminal: delivered" in out
    assert main(["notify", "test", "-c", config, "pager"]) == 2


def test_demo_prints_alerts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for title in ("ATACMS used inside Russia", "North Korean troops"):
        assert f"[newsmon] {title}" in out
    assert "Record crowds" not in out  # the harvest story matches nothing
    assert out.count("[newsmon] ATACMS used inside Russia\n") == 1  # front page + feed, alerted once


def test_readme_rule_example_loads() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", readme, re.S)
    assert block is not None
    ruleset = rules_from_text(block.group(1), "README.md")
    assert {r.id for r in ruleset.rules} == {"atacms-strikes-in-russia", "north-korean-troops"}


def test_check_reports_every_rule_problem_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yaml").write_text(
        "entities:\n  a: ['@b']\n  b: ['@a']\n"
        "rules:\n  - id: dup\n    any: [x, '--']\n    sources: [front, frnt]\n    notify: [terminal, pager]\n"
    )
    (rules / "b.yaml").write_text("rules:\n  - id: dup\n    any: [{re: '(x'}]\n    realert: soon\n")
    (rules / "c.yaml").write_text("rules: [\n")
    (tmp_path / "config.toml").write_text(
        '[rules]\npaths = ["rules/"]\n[[sources]]\nname = "front"\nkind = "html"\nurl = "https://example.org/"\n'
        '[[notifiers]]\nname = "terminal"\nkind = "console"\n'
    )
    assert main(["check", "-c", str(tmp_path / "config.toml")]) == 2
    err = [line.removeprefix(str(rules) + "/") for line in capsys.readouterr().err.splitlines()]
    assert err == [
        "a.yaml:3:7: entity cycle: @a -> @b -> @a",
        "a.yaml:6:14: warning: term '--' has no letters or digits, so it can never match",
        "a.yaml:7:22: unknown source 'frnt' (did you mean 'front'?); sources: front",
        "a.yaml:8:24: unknown notifier 'pager'; notifiers: terminal",
        "b.yaml:2:9: duplicate rule id 'dup' (first defined at " + str(rules / "a.yaml") + ":5:9)",
        "b.yaml:3:16: bad regular expression '(x': missing ), unterminated subpattern at position 0",
        'b.yaml:4:14: \'realert\' must be a duration like "6h" or "2d", or "never"',
        "c.yaml:2:1: YAML syntax error: expected the node content, but found '<stream end>'",
    ]


def test_check_with_only_warnings_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text("rules:\n  - id: x\n    any: [Kursk, '!!!']\n")
    (tmp_path / "config.toml").write_text('[rules]\npaths = ["r.yaml"]\n')
    assert main(["check", "-c", str(tmp_path / "config.toml")]) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert re.fullmatch(r".*r\.yaml:3:18: warning: term '!!!' has no letters or digits.*", lines[0]), err
    # An empty setup is a warning for check (an error for run): no sources, no notifiers.
    assert (
        "warning: sources: no [[sources]]" in lines[1] and "warning: notifiers: no [[notifiers]]" in lines[2]
    )
    assert "ok — 0 source(s), 1 rule(s)" in out and "3 warning(s)" in out


NEAR_MISS_RULES = """
entities: {atacms: [ATACMS]}
rules:
  - {id: hit, title: Hit, any: ['@atacms']}
  - {id: almost, title: Almost, all: ['@atacms', [Russia, Kursk]]}
  - {id: vetoed, any: [ATACMS], none: [video game]}
  - {id: far, any: [nothing], near: {terms: [ATACMS, Crimea], words: 3}}
  - {id: silent, any: [Zaporizhzhia]}
"""


def test_rules_test_shows_near_misses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text(NEAR_MISS_RULES)
    (tmp_path / "a.txt").write_text("Title\n\nATACMS seen in a video game. Much later, in Crimea.")
    args = ["rules", "test", "--rules", str(tmp_path / "r.yaml"), "--file", str(tmp_path / "a.txt")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "✔ hit — Hit\n   body: 'ATACMS' (@atacms): ATACMS seen in a video game.\n" in out
    assert (
        "✘ almost — Almost (almost)\n   all: missing any of [Russia, Kursk]\n   found in body: 'ATACMS'"
        in out
    )
    assert '✘ vetoed — vetoed (almost)\n   none: vetoed by "video game"\n' in out
    assert '   any: none of ["nothing"] found\n   near: "ATACMS" and "Crimea" never within 3 words\n' in out
    assert "silent" not in out

    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["rule"] for m in data["matches"]] == ["hit"]
    misses = {m["rule"]: m for m in data["near_misses"]}
    assert list(misses) == ["almost", "vetoed", "far"]
    assert misses["almost"]["failed"] == ["all: missing any of [Russia, Kursk]"]
    assert set(misses["almost"]["hits"][0]) == {
        "term",
        "via_lemma",
        "entity",
        "field",
        "start",
        "end",
        "snippet",
    }
