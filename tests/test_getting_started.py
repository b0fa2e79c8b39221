"""docs/getting-started.md, executed: its files are written, its site served, its commands run in order."""

from __future__ import annotations

import functools
import re
import shlex
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitor.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "getting-started.md"
DOC_PORT = "8000"
BLOCK = re.compile(r"(?:<!-- file: (?P<file>\S+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)


def blocks() -> list[tuple[str | None, str, str]]:
    return [(m["file"], m["lang"], m["body"]) for m in BLOCK.finditer(DOC.read_text())]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """The empty folder the reader works in, and the port `python -m http.server` would have used."""
    site = tmp_path / "site"
    site.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSMON_CONFIG", raising=False)
    try:
        yield tmp_path, str(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_every_command_in_the_doc_works(
    workdir: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, port = workdir
    ran: list[str] = []
    outputs: list[tuple[str, str]] = []  # (command, what it printed)
    expected: list[tuple[str, str]] = []  # (command, the doc's ```text block after it)
    for file, lang, body in blocks():
        body = body.replace(f"127.0.0.1:{DOC_PORT}", f"127.0.0.1:{port}")
        if file:
            (root / file).parent.mkdir(parents=True, exist_ok=True)
            (root / file).write_text(body)
        elif lang == "sh":
            for line in body.splitlines():
                command = line.split("  #")[0].strip()
                if not command.startswith("newsmon "):
                    continue  # pip install and the http.server this fixture already runs
                args = shlex.split(command)[1:]
                if args == ["--version"]:
                    with pytest.raises(SystemExit) as caught:
                        main(args)
                    code = caught.value.code
                else:
                    code = main(args)
                out = capsys.readouterr()
                assert code == 0, f"{command} exited {code}:\n{out.out}\n{out.err}"
                ran.append(command)
                outputs.append((command, out.out))
        elif lang == "text" and outputs:
            expected.append((outputs[-1][0], body))

    assert [c.split()[1] for c in ran] == ["--version", "demo", "sources", "check", "once"]
    assert [c for c, _ in expected] == [ran[2], ran[4]]  # the output shown after `sources add` and `once`
    printed = dict(outputs)
    for command, text in expected:
        for line in text.splitlines():
            assert line in printed[command].splitlines(), f"{command!r} did not print {line!r}"
    config = (root / "config.toml").read_text()
    doc_block = next(b for f, lang, b in blocks() if lang == "toml" and not f)
    assert config.endswith(doc_block.replace(DOC_PORT, port)), "the doc's shown [[sources]] block differs"
    assert config.startswith("# My first newsmon config.\n")  # comments kept

    # "Run newsmon once again: nothing new, no alert."
    assert main(["once"]) == 0
    assert "[newsmon]" not in capsys.readouterr().out


def test_readme_quick_start_is_two_one_line_commands_in_a_venv() -> None:
    readme = (DOC.parents[1] / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [body for _, lang, body in (m.groups() for m in BLOCK.finditer(quick)) if lang == "sh"]
    venv = "python3 -m venv .venv && . .venv/bin/activate && pip install -e "
    assert [c.count("\n") for c in commands] == [1, 1]
    assert commands[0] == f"{venv}. && newsmon run -c config.example.toml\n"
    assert commands[1] == f'{venv}".[test]" && pytest\n'
    assert "Python ≥ 3.11" in quick
