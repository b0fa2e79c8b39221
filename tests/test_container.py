"""deploy/Dockerfile and deploy/compose.yaml, checked without Docker (it cannot run here)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from monitor.config import load_config

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
        result[-1].append(step)
    return result


STEPS = instructions((DEPLOY / "Dockerfile").read_text())
KNOWN = {"FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "VOLUME", "EXPOSE", "HEALTHCHECK"}
KNOWN |= {"STOPSIGNAL", "ENTRYPOINT", "CMD", "LABEL", "SHELL", "ONBUILD"}


def test_dockerfile_instructions_are_known() -> None:
    assert STEPS and STEPS[0][0] == "FROM"
    assert {word for word, _ in STEPS} <= KNOWN


def test_every_stage_is_slim_python() -> None:
    for word, args in STEPS:
        if word == "FROM":
            assert re.match(r"python:3\.11-slim(\s|$)", args), args


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


def test_compose_services_and_paths() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "newsmon"}
    app = services["newsmon"]
    build = app["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    mounts = {}
    for volume in app["volumes"]:
        source, target, *mode = volume.split(":")
        mounts[target] = (source, mode)
        if source.startswith("."):
            assert (DEPLOY / source).exists(), f"compose mounts {source}, which does not exist"
        else:
            assert source in compose["volumes"], f"named volume {source} is not declared"
    config_source, mode = mounts["/etc/newsmon/config.toml"]
    assert mode == ["ro"] and config_source.endswith(".toml")
    assert mounts["/var/lib/newsmon"][0] in compose["volumes"]
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert app["environment"]["NEWSMON_CONFIG"] == "/etc/newsmon/config.toml"


def test_compose_config_is_valid_and_uses_the_redis_service(tmp_path: Path) -> None:
    # Loaded where the container sees it: next to a rules/ folder, as compose mounts them.
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "config.toml").write_text((DEPLOY / "config.compose.toml").read_text())
    (etc / "rules").symlink_to(ROOT / "rules")
    config = load_config(etc / "config.toml")
    assert config.store.url == "redis://redis:6379/0"
    assert config.service.metrics.endswith(":9464")  # the port HEALTHCHECK and EXPOSE use
    assert all(p.exists() for p in config.rule_paths)
