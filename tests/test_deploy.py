"""The shipped systemd unit: `systemd-analyze verify` is silent and the security exposure is <= 1.5."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "newsmon.service"
MAX_EXPOSURE = 1.5

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
    settings = dict(
        line.split("=", 1) for line in UNIT.read_text().splitlines() if re.match(r"^[A-Za-z]+=", line)
    )
    assert settings["Type"] == "notify" and settings["NotifyAccess"] == "main"
    assert settings["WatchdogSec"] and settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert settings["DynamicUser"] == "yes" and settings["Restart"] == "on-failure"
    # The stop timeout must leave room for the daemon's own drain deadline (default 20s).
    assert int(settings["TimeoutStopSec"].rstrip("s")) > 20
