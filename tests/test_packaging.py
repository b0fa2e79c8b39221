"""What a wheel carries and what `newsmon init` writes (.ci/wheel-smoke installs a built wheel for real)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import monitor.examples
from monitor.cli import main
from monitor.config import load_config
from monitor.errors import NewsmonError
from monitor.examples import STARTER_CONFIG, example_rules
from monitor.matching.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "monitor").rglob("__init__.py")
    }
    listed = set(SETUPTOOLS["packages"]) - {"monitor.example_rules"}
    assert listed == found, "pyproject.toml [tool.setuptools] packages must list every monitor/ package"


def test_wheel_maps_the_top_level_rules_folder_as_package_data() -> None:
    assert SETUPTOOLS["package-dir"] == {"monitor.example_rules": "rules"}
    patterns = SETUPTOOLS["package-data"]["monitor.example_rules"]
    shipped = {p.name for pattern in patterns for p in (ROOT / "rules").glob(pattern)}
    assert shipped == {p.name for p in (ROOT / "rules").iterdir() if p.is_file()}
    assert "starter.toml" in SETUPTOOLS["package-data"]["monitor"]


def test_every_data_file_under_monitor_is_package_data() -> None:
    package = ROOT / "monitor"
    shipped = {p for pattern in SETUPTOOLS["package-data"]["monitor"] for p in package.glob(pattern)}
    data = {
        p
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    assert sorted(data - shipped) == [], "add these to [tool.setuptools.package-data] in pyproject.toml"


def test_example_rules_are_the_checkout_rules_here() -> None:
    assert example_rules() == ROOT / "rules"


def test_missing_example_rules_say_how_to_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(monitor.examples, "_RULE_FOLDERS", (tmp_path / "a", tmp_path / "b"))
    with pytest.raises(NewsmonError, match=r"missing from this install .*reinstall newsmon"):
        example_rules()


def test_init_writes_a_config_that_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "new"
    assert main(["init", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {folder / 'config.toml'}" in out and f"wrote {folder / 'rules' / 'ukraine.yaml'}" in out
    assert (folder / "config.toml").read_text() == STARTER_CONFIG.read_text()
    assert {p.name for p in (folder / "rules").iterdir()} == {p.name for p in (ROOT / "rules").iterdir()}
    config = load_config(folder / "config.toml")
    assert config.rule_paths == [folder / "rules"]
    assert len(load_rules(config.rule_paths).rules) == len(load_rules([ROOT / "rules"]).rules) > 0
    assert main(["check", "-c", str(folder / "config.toml")]) == 0


def test_init_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()  # an empty rules/ is fine to fill
    assert main(["init"]) == 0
    assert (tmp_path / "config.toml").is_file() and (tmp_path / "rules" / "ukraine.yaml").is_file()


@pytest.mark.parametrize("existing", ["config.toml", "rules/mine.yaml"])
def test_init_never_overwrites(tmp_path: Path, existing: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / existing).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / existing).write_text("mine")
    before = sorted(tmp_path.rglob("*"))
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / existing.split("/")[0]) in err and "nothing written" in err
    assert sorted(tmp_path.rglob("*")) == before and (tmp_path / existing).read_text() == "mine"


def test_every_redis_script_loads_with_its_includes_and_key_names() -> None:
    from monitor.store.redis import scripts

    loaded = {name: scripts.source(name) for name in scripts.names()}
    assert "claim" in loaded and "resolve_story" in loaded
    assert all(scripts.INCLUDE not in text and "${" not in text for text in loaded.values())
    assert "local function drop_entry" in loaded["claim"]  # its include, inlined
