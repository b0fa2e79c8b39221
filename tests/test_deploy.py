"""The shipped systemd unit (`systemd-analyze verify` is silent, security exposure <= 1.5) and
deploy/README.md's steps, run into a scratch folder."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from monitor.config import load_config
from tests.deploydoc import README, apply_edits, marked, systemd_steps

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "newsmon.service"
MAX_EXPOSURE = 1.5


def unit_settings() -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in UNIT.read_text().splitlines() if re.match(r"^[A-Za-z]+=", line)
    )


needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian: apt-get install systemd; .ci/run does)",
)


@needs_analyze
def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    # verify checks that ExecStart exists; /opt/newsmon is not installed here, so point the copy at this
    # interpreter and change nothing else.
    text = UNIT.read_text()
    assert "ExecStart=/opt/newsmon/bin/newsmon run -c /etc/newsmon/config.toml" in text
    unit = tmp_path / "newsmon.service"
    unit.write_text(text.replace("/opt/newsmon/bin/newsmon run", f"{sys.executable} -m monitor run"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


@needs_analyze
def test_unit_security_exposure_is_at_most_1_5() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    m = re.search(r"Overall exposure level for newsmon\.service: (\d+\.\d+)", result.stdout)
    assert m, result.stdout[-2000:]
    assert float(m.group(1)) <= MAX_EXPOSURE, result.stdout


def test_unit_is_type_notify_with_watchdog_and_reload() -> None:
    settings = unit_settings()
    assert settings["Type"] == "notify" and settings["NotifyAccess"] == "main"
    assert settings["WatchdogSec"] and settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert settings["DynamicUser"] == "yes" and settings["Restart"] == "on-failure"
    # The stop timeout must leave room for the daemon's own drain deadline (default 20s).
    assert int(settings["TimeoutStopSec"].rstrip("s")) > 20


# -- deploy/README.md, executed as far as this machine allows ---------------------------------------------
# Its marked blocks run in order (tests/deploydoc.py): shell with /etc moved into a scratch folder and the
# venv's newsmon replaced by this interpreter, TOML edits applied to /etc/newsmon/config.toml.
# systemctl and journalctl run in tests/test_deploy_systemd.py, in a container booted with systemd.


def run_block(body: str, root: Path) -> None:
    script = re.sub(r"(?<![\w/.])/etc/", f"{root}/etc/", body)
    script = script.replace("/opt/newsmon/bin/newsmon", f"{sys.executable} -m monitor")
    script = re.sub(r"(?m)^sudo ", "", script)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"{body}\n-> {result.stdout}{result.stderr}"


@pytest.fixture
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch root after every marked step of deploy/README.md's systemd part."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.delenv("NEWSMON_CONFIG", raising=False)
    steps = systemd_steps()
    assert [kind for kind, _ in steps] == ["install", "run", "edit", "run", "run", "start"]
    for kind, body in steps:
        # Installing into /opt and starting the unit need root and a running systemd:
        # tests/test_deploy_systemd.py does those.
        if kind == "run":
            run_block(body, tmp_path)
        elif kind == "edit":
            apply_edits(tmp_path / "etc/newsmon/config.toml", body)
    return tmp_path


def test_readme_steps_give_a_config_that_checks(deployed: Path) -> None:
    etc = deployed / "etc/newsmon"
    config = load_config(etc / "config.toml")
    assert config.store.url == "sqlite:///var/lib/newsmon/newsmon.db"
    assert config.rule_paths == [etc / "rules"] and (etc / "rules" / "ukraine.yaml").is_file()
    assert config.service.health_notify == ["ops"] and "ops" in {n.name for n in config.notifiers}
    assert (etc / "webhook.secret").stat().st_mode & 0o777 == 0o600
    assert (deployed / "etc/systemd/system/newsmon.service").read_text() == UNIT.read_text()


def test_the_service_finds_its_secret_as_a_credential(
    deployed: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the unit sees: the credential copy in $CREDENTIALS_DIRECTORY, the root-only file not at all.
    dropin = (deployed / "etc/systemd/system/newsmon.service.d/credentials.conf").read_text()
    [(name, source)] = re.findall(r"^LoadCredential=([^:\n]+):(\S+)$", dropin, re.M)
    assert source == f"{deployed}/etc/newsmon/webhook.secret"  # /etc moved into the scratch folder
    credentials = tmp_path_factory.mktemp("credentials")
    Path(source).rename(credentials / name)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    config = load_config(deployed / "etc/newsmon/config.toml")
    [ops] = [n for n in config.notifiers if n.name == "ops"]
    assert ops.options.secret.reveal() == "the-shared-secret"


def test_unit_paths_match_the_documented_layout() -> None:
    settings = unit_settings()
    install = README.read_text()
    venv, config_dir = "/opt/newsmon", "/etc/newsmon"
    assert f"sudo python3 -m venv {venv}\n" in install
    assert settings["ExecStart"] == f"{venv}/bin/newsmon run -c {config_dir}/config.toml"
    assert f"install -m 0644 config.example.toml {config_dir}/config.toml" in install
    assert settings["ConfigurationDirectory"] == settings["StateDirectory"] == "newsmon"
    assert settings["WorkingDirectory"] == "/var/lib/newsmon"
    [edits] = marked("edit")
    assert tomllib.loads(edits)["store"]["url"].startswith("sqlite:///var/lib/newsmon/")
    assert "sudo install -m 0644 deploy/newsmon.service /etc/systemd/system/newsmon.service" in install
