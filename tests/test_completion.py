"""Shell completion scripts come from the parser: every command is in every script, and they parse."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from monitor import __version__
from monitor.cli import build_parser, main
from monitor.completion import SHELLS, command_tree, generate


def _all_paths() -> list[str]:
    return [node.path for node in command_tree(build_parser()).walk()]


def test_tree_has_every_command() -> None:
    paths = _all_paths()
    for expected in ("newsmon run", "newsmon rules test", "newsmon sources add", "newsmon completion"):
        assert expected in paths
    sources = command_tree(build_parser()).commands["sources"].commands["add"]
    kind = next(o for o in sources.options if "--kind" in o.flags)
    assert kind.takes_value and kind.choices == ("feed", "sitemap", "html")
    config = next(o for o in sources.options if "--config" in o.flags)
    assert config.files and config.flags == ("-c", "--config")


@pytest.mark.parametrize("shell", SHELLS)
def test_every_subcommand_in_every_script(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    tree = command_tree(build_parser())
    for node in tree.walk():
        assert node.path in script, (shell, node.path)
        for name in node.commands:
            assert name in script
        for option in node.options:
            for flag in option.flags:
                assert (flag if shell != "fish" else flag.lstrip("-")) in script, (shell, flag)


def test_a_new_command_appears_without_editing_the_generator() -> None:
    parser = argparse.ArgumentParser(prog="tool")
    sub = parser.add_subparsers()
    fresh = sub.add_parser("brand-new", help="made up")
    fresh.add_argument("--level", choices=["low", "high"])
    for shell in SHELLS:
        script = generate(shell, parser)
        assert "brand-new" in script and "low high" in script


def _bash_complete(script: Path, *words: str) -> list[str]:
    """COMPREPLY for the command line ``words`` (the last one is being completed)."""
    line = " ".join(f"'{w}'" for w in words)
    program = f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _newsmon; "
    program += 'echo "${COMPREPLY[*]}"'
    result = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_script_parses_and_completes(tmp_path: Path) -> None:
    script = tmp_path / "newsmon.bash"
    script.write_text(generate("bash", build_parser()))
    check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=10)
    assert check.returncode == 0, check.stderr
    assert "sources" in _bash_complete(script, "newsmon", "")
    assert _bash_complete(script, "newsmon", "sources", "im") == ["import"]
    assert _bash_complete(script, "newsmon", "sources", "add", "--kind", "") == ["feed", "sitemap", "html"]
    # The value of --name is skipped: "import" there is a name, not a subcommand.
    assert "--dry-run" in _bash_complete(script, "newsmon", "sources", "add", "--name", "import", "--")
    assert _bash_complete(script, "newsmon", "completion", "z") == ["zsh"]


@pytest.mark.parametrize(("shell", "check"), [("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])])
def test_other_shells_parse_when_installed(shell: str, check: list[str], tmp_path: Path) -> None:
    if shutil.which(check[0]) is None:
        pytest.skip(f"{shell} is not installed")
    script = tmp_path / f"newsmon.{shell}"
    script.write_text(generate(shell, build_parser()))
    result = subprocess.run([*check, str(script)], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


def test_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["completion", "powershell"])
    assert caught.value.code == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"newsmon {__version__}"
