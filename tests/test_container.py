"""deploy/Dockerfile and deploy/compose.yaml, read without building: fast, and no engine needed.
tests/test_deploy_image.py (slow, root) builds the image with podman and runs it."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import load_config
from tests.deploydoc import README, apply_edits, marked

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return out


def stages(steps: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for step in steps:
        if step[0] == "FROM":
            result.append([])
        if result:  # an ARG before the first FROM belongs to no stage
            result[-1].append(step)
    return result


STEPS = instructions((DEPLOY / "Dockerfile").read_text())
KNOWN = {"FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "VOLUME", "EXPOSE", "HEALTHCHECK"}
KNOWN |= {"STOPSIGNAL", "ENTRYPOINT", "CMD", "LABEL", "SHELL", "ONBUILD"}


def test_dockerfile_instructions_are_known() -> None:
    assert STEPS and STEPS[0][0] in ("ARG", "FROM")
    assert {word for word, _ in STEPS} <= KNOWN


def test_every_stage_is_slim_python() -> None:
    assert STEPS[0] == ("ARG", "PYTHON_IMAGE=python:3.11-slim")
    for word, args in STEPS:
        if word == "FROM":
            assert re.match(r"\$\{PYTHON_IMAGE\}(\s|$)", args), args


def test_final_stage_runs_as_a_non_root_user_with_state_volume() -> None:
    final = stages(STEPS)[-1]
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("VOLUME", "/var/lib/newsmon") in final
    entry = next(args for word, args in final if word == "ENTRYPOINT")
    assert entry == '["newsmon"]'


def test_healthcheck_uses_healthz_without_curl() -> None:
    [check] = [args for word, args in STEPS if word == "HEALTHCHECK"]
    assert "/healthz" in check and "python" in check and "curl" not in check
    assert "--timeout=" in check and "CMD" in check


def test_no_remote_add_and_copy_sources_exist() -> None:
    for word, args in STEPS:
        assert not (word == "ADD" and re.search(r"https?://", args)), "ADD of a URL: unpinned remote content"
        if word in ("COPY", "ADD") and "--from=" not in args:
            *sources, _dest = shlex.split(args)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the build context (repository root)"


def compose_mounts(app: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """target -> the long-syntax mapping (short ``SOURCE:TARGET[:MODE]`` entries converted)."""
    mounts = {}
    for volume in app["volumes"]:
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            volume = {"type": "volume", "source": source, "target": target, "read_only": mode == ["ro"]}
        mounts[volume["target"]] = volume
    return mounts


COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
COMPOSE_TEXT = (DEPLOY / "compose.yaml").read_text()


def test_compose_services_and_paths() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"redis", "newsmon"}
    app = services["newsmon"]
    build = app["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    for mount in compose_mounts(app).values():
        if mount["type"] == "volume":
            assert mount["source"] in COMPOSE["volumes"], f"named volume {mount['source']} is not declared"
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert app["environment"]["NEWSMON_CONFIG"] == "/etc/newsmon/config.toml"


@pytest.mark.parametrize(
    ("target", "copied_from"),
    [("/etc/newsmon/config.toml", "config.compose.toml"), ("/etc/newsmon/rules", "../rules")],
)
def test_compose_mounts_the_copies_its_comment_says_to_edit(target: str, copied_from: str) -> None:
    mount = compose_mounts(COMPOSE["services"]["newsmon"])[target]
    assert mount["type"] == "bind" and mount["read_only"] is True
    # Missing on the host: compose stops with an error instead of mounting an empty directory.
    assert mount["bind"]["create_host_path"] is False
    copy = re.search(rf"^#\s+cp (?:-r )?{re.escape(copied_from)} (\S+)$", COMPOSE_TEXT, re.M)
    assert copy, f"compose.yaml's comment does not say to copy {copied_from}"
    assert Path(mount["source"]) == Path(copy[1]), "compose mounts another file than the one you edit"
    assert (DEPLOY / copied_from).exists()


def test_state_volume_is_the_directory_the_image_user_owns() -> None:
    final = stages(STEPS)[-1]
    [user] = [args.split(":")[0] for word, args in final if word == "USER"]
    owned = [args for word, args in final if word == "RUN" and f"install -d -o {user} " in args]
    assert owned and "/var/lib/newsmon" in owned[0]
    assert compose_mounts(COMPOSE["services"]["newsmon"])["/var/lib/newsmon"]["source"] == "newsmon-state"


def test_build_stage_copies_what_the_wheel_smoke_builds_from() -> None:
    # The image cannot be built here (no OCI registry for the base image, no engine), so .ci/wheel-smoke
    # builds and runs a wheel from the same files: this keeps the two in step.
    build = stages(STEPS)[0]
    copied = {source for word, args in build if word == "COPY" for source in shlex.split(args)[:-1]}
    smoke = (ROOT / ".ci" / "wheel-smoke").read_text()
    [cp] = re.findall(r'^cp -r (.*) "\$work/src/"$', smoke, re.M)
    smoke_sources = {word.replace('"$root/', "").rstrip('"') for word in cp.split()}
    assert smoke_sources <= copied, "the Dockerfile's build stage misses files the wheel is built from"
    assert any(word == "RUN" and "pip install -c constraints.txt" in args for word, args in build)


def test_docker_run_edits_put_the_store_in_the_volume(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    shutil.copy(ROOT / "config.example.toml", etc / "config.toml")
    (etc / "rules").symlink_to(ROOT / "rules")
    [edits] = marked("docker-edit")
    apply_edits(etc / "config.toml", edits)
    config = load_config(etc / "config.toml")
    volume = next(args for word, args in STEPS if word == "VOLUME")
    assert config.store.url.startswith(f"sqlite://{volume}/")
    [expose] = [args for word, args in STEPS if word == "EXPOSE"]
    assert config.service.metrics == f"0.0.0.0:{expose}"
    assert f"-v newsmon-state:{volume}" in README.read_text()


def test_compose_config_is_valid_and_uses_the_redis_service(tmp_path: Path) -> None:
    # Loaded where the container sees it: next to a rules/ folder, as compose mounts them.
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "config.toml").write_text((DEPLOY / "config.compose.toml").read_text())
    (etc / "rules").symlink_to(ROOT / "rules")  # deploy/rules/, the copy of ../rules
    config = load_config(etc / "config.toml")
    assert config.store.url == "redis://redis:6379/0"
    assert config.service.metrics.endswith(":9464")  # the port HEALTHCHECK and EXPOSE use
    assert all(p.exists() for p in config.rule_paths)
