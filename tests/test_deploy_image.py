"""deploy/Dockerfile built with podman, then run as deploy/README.md's container part says: the image checks
the README's config, runs the demo, and serves as a non-root daemon that its HEALTHCHECK finds healthy and
`stop` drains. Root only; skipped, saying why, where it cannot run.

When python:3.11-slim cannot be pulled (no Docker Hub here), the build starts from a stand-in made on the
spot with mmdebstrap: Debian 12, the release python:3.11-slim is built on, with Debian's python3 (3.11.2 in
/usr/bin) instead of python.org's 3.11 in /usr/local/bin. The Dockerfile's own steps are unchanged.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploydoc import apply_edits, marked

ROOT = Path(__file__).resolve().parents[1]
BASE = "python:3.11-slim"


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "building images with podman here needs root"
    for tool, package in (("podman", "podman"), ("mmdebstrap", "mmdebstrap")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: apt-get install {package}; .ci/run does)"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(_missing() is not None, reason=str(_missing())),
]

# crun refuses hosts with hybrid cgroups (this one); runc runs there. The ulimits stay within the caller's
# hard limits, which podman's defaults (nofile 1048576) may exceed.
RUNTIME = ["--runtime", "runc"] if shutil.which("runc") else []
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *RUNTIME, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"podman {' '.join(args)}\n-> {result.returncode}\n{result.stdout}{result.stderr}")
    return result


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if podman("pull", "--quiet", BASE, timeout=300, check=False).returncode == 0:
        yield BASE
        return
    rootfs = tmp_path_factory.mktemp("base") / "rootfs.tar"
    packages = "--include=python3-venv,python-is-python3"
    made = subprocess.run(
        ["mmdebstrap", "--quiet", "--variant=minbase", packages, "bookworm", str(rootfs)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert made.returncode == 0, made.stderr[-4000:]
    name = f"localhost/newsmon-test-base:{secrets.token_hex(4)}"
    podman("import", "--quiet", str(rootfs), name, timeout=600)
    try:
        yield name
    finally:
        podman("rmi", "--force", name, check=False)


@pytest.fixture(scope="module")
def image(base: str) -> Iterator[str]:
    name = f"localhost/newsmon-test:{secrets.token_hex(4)}"
    before = set(dangling())
    # pip in the build reaches the index as this host's pip does: its config, CA store and hosts file,
    # mounted for the build only (volumes are not part of the image).
    mounts = [
        arg
        for path in ("/etc/pip.conf", "/etc/xdg/pip", "/etc/ssl/certs", "/etc/hosts")
        if Path(path).exists()
        for arg in ("--volume", f"{path}:{path}:ro")
    ]
    podman(
        "build", "--quiet", "--format=docker", "--pull=missing", "--network=host", *LIMITS, *mounts,
        f"--build-arg=PYTHON_IMAGE={base}", "--file=deploy/Dockerfile", f"--tag={name}", str(ROOT),
        timeout=1500,
    )  # fmt: skip
    stages = set(dangling()) - before  # the build stage's image, left untagged
    try:
        yield name
    finally:
        podman("rmi", "--force", name, *stages, check=False)


def dangling() -> list[str]:
    return podman("images", "--quiet", "--no-trunc", "--filter=dangling=true").stdout.split()


def logs(container: str) -> str:
    result = podman("logs", container)
    return result.stdout + result.stderr


def run(image: str, *args: str, volumes: tuple[str, ...] = ()) -> str:
    flags = [arg for volume in volumes for arg in ("--volume", volume)]
    return podman("run", "--rm", "--network=none", *LIMITS, *flags, image, *args).stdout


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The README's `docker run` config: the example with its documented edits."""
    path = tmp_path / "config.toml"
    shutil.copy(ROOT / "config.example.toml", path)
    [edits] = marked("docker-edit")
    apply_edits(path, edits)
    path.chmod(0o644)
    return path


def test_the_image_checks_the_documented_config_and_runs_the_demo(image: str, config: Path) -> None:
    assert run(image, "--version").startswith("newsmon ")
    assert run(image, "check", volumes=(f"{config}:/etc/newsmon/config.toml:ro",)).startswith(
        "/etc/newsmon/config.toml: ok"
    )
    assert "alert(s) delivered" in run(image, "demo")


def test_the_daemon_runs_as_non_root_is_healthy_and_drains_on_stop(image: str, config: Path) -> None:
    name, volume = f"newsmon-test-{secrets.token_hex(4)}", f"newsmon-test-state-{secrets.token_hex(4)}"
    mounts = ["--volume", f"{config}:/etc/newsmon/config.toml:ro", "--volume", f"{volume}:/var/lib/newsmon"]
    podman("run", "--detach", f"--name={name}", "--network=none", *LIMITS, *mounts, image)
    try:
        deadline = time.monotonic() + 60
        while podman("healthcheck", "run", name, check=False).returncode != 0:
            assert time.monotonic() < deadline, logs(name)[-3000:]
            time.sleep(0.5)
        assert podman("exec", name, "id", "-u").stdout.strip() == "10001"
        assert '"event": "started"' in logs(name)
        podman("stop", "--time=30", name, timeout=60)
        assert podman("inspect", "--format={{.State.ExitCode}}", name).stdout.strip() == "0"
        assert '"event": "stopped"' in logs(name)
        assert podman("volume", "exists", volume, check=False).returncode == 0
    finally:
        podman("rm", "--force", name, check=False)
        podman("volume", "rm", "--force", volume, check=False)
