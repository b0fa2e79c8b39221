"""deploy/README.md's systemd part for real: a container booted with systemd (systemd-nspawn, the host's
/usr on a throwaway root), where every marked step runs as written, as root; then the units start, answer
/healthz, log to the journal, reload and stop. Needs root; skipped, saying why, where it cannot run.

The container's python3 is the host's /usr/bin/python3, and the container has no network (so no index, and
nothing it starts touches the host's ports): its pip installs from a wheelhouse that python3 builds
beforehand on the host, with the same `-c .ci/constraints.txt` the README gives.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploydoc import README, apply_edits, systemd_steps

ROOT = Path(__file__).resolve().parents[1]
SCALING = ROOT / "docs" / "scaling.md"
PYTHON3 = Path("/usr/bin/python3")  # what `sudo python3 -m venv /opt/newsmon` finds, in the container too
CHECKOUT, WHEELHOUSE = "/srv/newsmon", "/srv/wheelhouse"  # where the container sees them, read-only
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "booting a container with systemd-nspawn needs root"
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn is not installed (Debian: apt-get install systemd-container; .ci/run does)"
    if not Path("/usr/lib/systemd/systemd").exists():
        return "the container boots the host's /usr, which has no systemd"
    probe = [str(PYTHON3), "-c", "import sys, ensurepip, venv; assert sys.version_info >= (3, 11)"]
    if subprocess.run(probe, capture_output=True).returncode != 0:
        return f"{PYTHON3} (Python >= 3.11 with venv and ensurepip: Debian's python3-venv) is needed"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(_missing() is not None, reason=str(_missing())),
]


def wait_until(what: str, probe: Callable[[], bool], seconds: float, detail: Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f}s\n{detail()}")
        time.sleep(0.2)


class Machine:
    """A booted container. `sh` runs a script as root in all its namespaces, from the checkout."""

    def __init__(self, nspawn: subprocess.Popen[bytes], log: Path) -> None:
        self.nspawn, self.log, self.leader = nspawn, log, 0

    def console(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def booted(self) -> bool:
        if self.nspawn.poll() is not None:
            pytest.fail(f"systemd-nspawn exited {self.nspawn.returncode}:\n{self.console()}")
        # nspawn's child sets the container up, then runs systemd as its PID 1.
        for child in Path(f"/proc/{self.nspawn.pid}/task/{self.nspawn.pid}/children").read_text().split():
            with contextlib.suppress(FileNotFoundError):
                if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                    self.leader = int(child)
        return self.leader != 0

    def run(self, script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        # The environment of a root login: nothing of the test's PIP_*, PYTHON* or VIRTUAL_ENV.
        command = ["nsenter", f"--target={self.leader}", "--all", "env", "-i", f"PATH={PATH}", "HOME=/root"]
        command += ["bash", "-euo", "pipefail", "-c", f"cd {CHECKOUT}\n{script}"]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

    def sh(self, script: str, timeout: float = 300) -> str:
        result = self.run(script, timeout)
        if result.returncode != 0:
            journal = self.run("journalctl --no-pager -n 40 -o short-monotonic").stdout
            pytest.fail(f"{script}\n-> exit {result.returncode}\n{result.stdout}{result.stderr}\n{journal}")
        return result.stdout

    def file(self, inside: str) -> Path:
        """A path of the container's, from the host."""
        return Path(f"/proc/{self.leader}/root{inside}")

    def journal(self, unit: str) -> list[dict[str, object]]:
        lines = self.sh(f"journalctl --no-pager -o cat -u {unit}").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def events(self, unit: str) -> list[str]:
        return [str(entry["event"]) for entry in self.journal(unit)]

    def health(self, port: int) -> dict[str, Any] | None:
        """/healthz's JSON (200 or 503), or None while nothing answers on the port."""
        fetch = (
            "import sys, urllib.request as r, urllib.error as e\n"
            f"try: print(r.urlopen('http://127.0.0.1:{port}/healthz', timeout=5).read().decode())\n"
            "except e.HTTPError as x: print(x.read().decode())\n"
            "except OSError: sys.exit(3)"
        )
        result = self.run(f"/opt/newsmon/bin/python -c {shlex.quote(fetch)}")
        return json.loads(result.stdout) if result.returncode == 0 else None

    def wait_events(self, unit: str, event: str, count: int) -> list[dict[str, object]]:
        """The journal once it holds `count` entries of `event` for `unit`."""
        wait_until(
            f"{count} {event!r} in the journal of {unit}",
            lambda: self.events(unit).count(event) >= count,
            60,
            lambda: self.sh(f"journalctl --no-pager -o cat -u {unit} | tail -30"),
        )
        return [entry for entry in self.journal(unit) if entry["event"] == event]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """newsmon's wheel and its dependencies' for the container's python3, pinned by .ci/constraints.txt."""
    work = tmp_path_factory.mktemp("wheelhouse")
    src = work / "src"
    for name in ("monitor", "rules"):  # what .ci/wheel-smoke and the Dockerfile build from
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([PYTHON3, "-m", "venv", work / "builder"], check=True, env=env)
    pip = [work / "builder/bin/pip", "wheel", "--quiet", "--disable-pip-version-check"]
    wheels = work / "wheels"
    built = subprocess.run(
        [*pip, "-c", ROOT / ".ci/constraints.txt", "-w", wheels, src], capture_output=True, text=True, env=env
    )
    assert built.returncode == 0, built.stderr[-4000:]
    return wheels


@pytest.fixture(scope="module")
def machine(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    log = tmp_path_factory.mktemp("nspawn") / "console.log"
    name = f"newsmon-test-{secrets.token_hex(4)}"
    command = ["systemd-nspawn", "--quiet", "--directory=/", "--volatile=yes", f"--machine={name}"]
    # Not registered with (or scoped by) a host systemd: the host need not run one. No network: what the
    # container starts (a metrics port, a redis-server) cannot meet the host's.
    command += ["--register=no", "--keep-unit", "--private-network", "--console=pipe"]
    command += [f"--bind-ro={ROOT}:{CHECKOUT}", f"--bind-ro={wheelhouse}:{WHEELHOUSE}"]
    # basic.target: journald, D-Bus and the unit's dependencies, none of the host's own services.
    command += ["--boot", "--", "systemd.unit=basic.target"]
    with log.open("wb") as out:
        nspawn = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    box = Machine(nspawn, log)
    try:
        wait_until("the container's systemd", box.booted, 60, box.console)
        answers = lambda: box.run("test -S /run/systemd/private").returncode == 0  # noqa: E731
        wait_until("the container's systemd to answer", answers, 60, box.console)
        state = box.run("systemctl is-system-running --wait", timeout=120)
        assert state.stdout.strip() in ("running", "degraded"), f"{state}\n{box.console()}"
        # With no network, systemd-networkd-wait-online (network-online.target, which the unit wants) would
        # hold every start for its 2-minute timeout.
        box.sh("systemctl mask --runtime systemd-networkd-wait-online.service")
        yield box
    finally:
        nspawn.terminate()  # nspawn halts the container's systemd in order
        try:
            nspawn.wait(timeout=60)
        except subprocess.TimeoutExpired:
            nspawn.kill()
            nspawn.wait()


def as_root(commands: str) -> str:
    return re.sub(r"(?m)^sudo ", "", commands)


def readme_commands(kind: str, body: str) -> str:
    """A marked block as the container runs it: `sudo` is moot for root, and pip takes the wheelhouse."""
    script = as_root(body)
    if kind == "install":
        script = re.sub(r"(?m)^apt-get .*\n", "", script)  # python3-venv is the host's: _missing() checked
        script = re.sub(
            r"(?m)^(/opt/newsmon/bin/pip install) (-c \S+) \.(\s)",
            rf"\1 --no-index --find-links {WHEELHOUSE} \2 newsmon\3",
            script,
        )
        assert f"--find-links {WHEELHOUSE}" in script, body
    return script


@pytest.fixture(scope="module")
def deployed(machine: Machine) -> Machine:
    """Every marked step of deploy/README.md's systemd part, run in the container."""
    steps = systemd_steps()
    assert [kind for kind, _ in steps] == ["install", "run", "edit", "run", "run", "start"]
    for kind, body in steps:
        if kind == "edit":
            apply_edits(machine.file("/etc/newsmon/config.toml"), body)
        else:
            machine.sh(readme_commands(kind, body))
    return machine


PORT = 9464  # the README's `metrics` value
# /healthz's checks that hold with no network; "sources" turns once every example source failed to connect.
OFFLINE_CHECKS = ("rules", "reload", "scheduler", "store")
NEW_RULE = "rules:\n  - id: deploy-test\n    any: [newsmon]\n"


def wait_healthy(box: Machine, port: int = PORT) -> None:
    def healthy() -> bool:
        health = box.health(port)
        return health is not None and all(health["checks"][check] == "ok" for check in OFFLINE_CHECKS)

    wait_until(f"/healthz on {port}", healthy, 30, lambda: str(box.health(port)))


def test_the_unit_runs_reloads_and_stops_as_documented(deployed: Machine) -> None:
    box = deployed
    # `enable --now` of a Type=notify unit returns once the daemon said READY=1.
    assert box.sh("systemctl is-active newsmon").strip() == "active"
    assert box.sh("systemctl is-enabled newsmon").strip() == "enabled"
    [started] = box.wait_events("newsmon", "started", 1)
    assert started["store"] == "sqlite:///var/lib/newsmon/newsmon.db" and started["rules"] == 5
    assert "ready" in box.events("newsmon")
    assert "sources" in box.sh("systemctl show --value -p StatusText newsmon")
    wait_healthy(box)

    # The sandbox as documented: a dynamic user, the state directory its own, the secret only a credential.
    pid = box.sh("systemctl show --value -p MainPID newsmon").strip()
    uid = box.sh(f"stat -c %u /proc/{pid}").strip()
    assert uid != "0"
    assert box.sh("stat -L -c '%u %a' /var/lib/newsmon").split() == [uid, "700"]
    assert box.sh("stat -c '%u %a' /etc/newsmon/webhook.secret").split() == ["0", "600"]

    # The Operate table's status command, as the service's user.
    [status] = re.findall(r"^\| state per source \| `([^`]+)`", README.read_text(), re.M)
    out = box.sh(as_root(status))
    assert "store: sqlite:///var/lib/newsmon/newsmon.db" in out and "NOT ANSWERING" not in out

    # `systemctl reload`: a new rule is taken; a broken rule file is refused and the running rules stay.
    box.file("/etc/newsmon/rules/new.yaml").write_text(NEW_RULE)
    box.sh("systemctl reload newsmon")

    def rule_counts() -> list[object]:
        return [entry["rules"] for entry in box.journal("newsmon") if entry["event"] == "reloaded"]

    wait_until("the new rule", lambda: 6 in rule_counts(), 30, lambda: str(rule_counts()))
    box.file("/etc/newsmon/rules/broken.yaml").write_text("rules:\n  - id: broken\n    all: [\n")
    box.sh("systemctl reload newsmon")
    failed = box.wait_events("newsmon", "reload_failed", 1)
    assert any("broken.yaml" in str(entry.get("path")) for entry in failed), failed
    assert box.sh("systemctl is-active newsmon").strip() == "active"
    health = box.health(PORT)
    assert health is not None and health["checks"]["reload"].startswith("last reload failed"), health
    box.file("/etc/newsmon/rules/broken.yaml").unlink()
    box.sh("systemctl reload newsmon")
    wait_healthy(box)

    box.sh("systemctl stop newsmon")
    assert box.run("systemctl is-active newsmon").stdout.strip() == "inactive"
    assert box.events("newsmon")[-1] == "stopped"
    assert box.sh("systemctl show --value -p Result newsmon").strip() == "success"


def doc_block(lang: str) -> str:
    """The first ```lang block of docs/scaling.md's section on one instance per core."""
    heading = "## Every core: N instances on one store"
    match = re.search(rf"^{heading}\n.*?```{lang}\n(.*?)```", SCALING.read_text(), re.S | re.M)
    assert match, f"no {lang} block under {heading!r} in {SCALING}"
    return match.group(1)


@pytest.mark.skipif(not Path("/usr/bin/redis-server").exists(), reason="no /usr/bin/redis-server")
def test_template_units_run_an_instance_per_port_as_documented(deployed: Machine) -> None:
    # docs/scaling.md's steps, two instances instead of one per core, on a redis-server in the container.
    box = deployed
    box.sh("systemctl disable --now newsmon")
    box.sh("systemd-run --unit=test-redis /usr/bin/redis-server --port 6379 --save '' --appendonly no")
    wait_until("redis", lambda: box.run("redis-cli ping").stdout.strip() == "PONG", 30, box.console)
    apply_edits(box.file("/etc/newsmon/config.toml"), doc_block("toml"))
    box.sh(re.sub(r" newsmon@[2-9]", "", as_root(doc_block("sh"))))

    for instance in (0, 1):
        unit, port = f"newsmon@{instance}", 9460 + instance
        assert box.sh(f"systemctl is-active {unit}").strip() == "active"
        [started] = box.wait_events(unit, "started", 1)
        assert started["store"] == "redis://127.0.0.1:6379/0"
        wait_healthy(box, port)
        assert box.sh(f"stat -L -c %a /var/lib/newsmon-{instance}").strip() == "700"
    box.sh("systemctl stop newsmon@0 newsmon@1")
    for unit in ("newsmon@0", "newsmon@1"):
        assert box.events(unit)[-1] == "stopped"
        assert box.sh(f"systemctl show --value -p Result {unit}").strip() == "success"
