"""An operator's ordinary mistakes are loud, through the real CLI and daemon, and no alert is lost to them.

Each mistake is made on a working setup (a local news site with one article waiting, a webhook receiver),
then: ``check`` names it as ``path:line:col: message``; ``once`` and ``run`` refuse with exit 2 before
fetching anything, so no article is marked seen; once the mistake is fixed, the waiting article alerts.
docs/operations.md lists the same mistakes with what newsmon says.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.cli import build_parser, main
from monitor.config import load_config
from monitor.logs import resolve_format
from monitor.service import Service
from tests import daemon as harness
from tests.conftest import _free_port
from tests.daemon import run_daemon
from tests.helpers.operator_world import (
    USER_AGENT,
    World,
    health,
    refused_url,
    replace_text,
    seen_rows,
    world,
)
from tests.helpers.receiver import Receiver
from tests.helpers.service_net import ATACMS, NK, RULES, Site
from tests.threaded import serve_in_thread

__all__ = ["world"]  # fixtures, imported for pytest

ROOT = Path(__file__).resolve().parents[1]


# Each mistake: how to make it on a working config, and what check/once/run must say about it.
Mistake = Callable[[Path], None]


def _rules_folder_typo(config: Path) -> None:
    replace_text(config, 'paths = ["rules/"]', 'paths = ["rulez/"]')


def _empty_rules_folder(config: Path) -> None:
    (config.parent / "rules" / "test.yaml").rename(config.parent / "test.yaml.off")


def _rule_syntax_error(config: Path) -> None:
    (config.parent / "rules" / "bad.yaml").write_text("rules:\n  - id: x\n    any: [ATACMS\n")


def _unknown_entity(config: Path) -> None:
    (config.parent / "rules" / "bad.yaml").write_text("rules:\n  - id: broken\n    any: ['@nowhere']\n")


def _notify_typo(config: Path) -> None:
    (config.parent / "rules" / "bad.yaml").write_text(
        "rules:\n  - id: typo\n    any: [Kursk]\n    notify: [hok]\n"
    )


def _source_typo(config: Path) -> None:
    (config.parent / "rules" / "bad.yaml").write_text(
        "rules:\n  - id: typo\n    any: [Kursk]\n    sources: [fed]\n"
    )


def _no_sources(config: Path) -> None:
    text = config.read_text()
    config.write_text(re.sub(r'\[\[sources\]\]\nname = "feed"\nurl = "[^"]+"\n', "", text))


def _no_notifiers(config: Path) -> None:
    text = config.read_text()
    config.write_text(
        re.sub(r'\[\[notifiers\]\]\nname = "hook"\nkind = "webhook"\nurl = "[^"]+"\n', "", text)
    )


def _bare_number_interval(config: Path) -> None:
    replace_text(config, "[[sources]]\n", "[[sources]]\ninterval = 120\n")


def _undo(config: Path) -> None:
    for name in ("bad.yaml",):
        (config.parent / "rules" / name).unlink(missing_ok=True)
    off = config.parent / "test.yaml.off"
    if off.exists():
        off.rename(config.parent / "rules" / "test.yaml")


# (make it, what check prints, whether check counts it an error (exit 2) or a warning (exit 0))
MISTAKES: dict[str, tuple[Mistake, str, bool]] = {
    "rules folder typo": (
        _rules_folder_typo,
        r"config\.toml:\d+:1: rules\.paths\[0\]: 'rulez/' does not exist",
        True,
    ),
    "empty rules folder": (
        _empty_rules_folder,
        r"config\.toml:\d+:1: (warning: )?rules\.paths: no rules loaded",
        False,
    ),
    "rule file syntax error": (_rule_syntax_error, r"bad\.yaml:4:1: YAML syntax error", True),
    "unknown entity": (_unknown_entity, r"bad\.yaml:3:11: unknown entity '@nowhere'", True),
    "rule notifies a misspelt notifier": (
        _notify_typo,
        r"bad\.yaml:4:14: unknown notifier 'hok' \(did you mean 'hook'\?\)",
        True,
    ),
    "rule scoped to a misspelt source": (
        _source_typo,
        r"bad\.yaml:4:15: unknown source 'fed' \(did you mean 'feed'\?\)",
        True,
    ),
    "no sources": (_no_sources, r"config\.toml:\d+:1: (warning: )?sources: no \[\[sources\]\]", False),
    "no notifiers": (
        _no_notifiers,
        r"config\.toml:\d+:1: (warning: )?notifiers: no \[\[notifiers\]\]",
        False,
    ),
    "bare number as a duration": (
        _bare_number_interval,
        r"config\.toml:\d+:1: sources\[0\]\.interval: a duration needs a unit, got the bare number 120: "
        r'write "120s" or "2m"',
        True,
    ),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_a_mistake_is_refused_by_every_command_and_loses_nothing(
    name: str, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    make, said, is_error = MISTAKES[name]
    config = world.config()
    make(config)

    # check: the same problem, as an error (exit 2) or, for an empty setup, a warning (exit 0).
    assert main(["check", "-c", str(config)]) == (2 if is_error else 0)
    err = capsys.readouterr().err
    assert re.search(said, err), err
    assert is_error or "warning:" in err

    # once: refused with the same words, before anything is fetched or recorded.
    assert main(["once", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert re.search(said.replace("(warning: )?", ""), err), err
    assert world.site.hits == {} and seen_rows(world.db) == 0

    # Fixed, the article that waited alerts: nothing was consumed while the mistake stood.
    config = world.config()
    _undo(config)
    assert main(["once", "-c", str(config)]) == 0
    assert [p["rule"]["id"] for p in world.receiver.acked] == ["atacms-in-russia"]


@pytest.mark.parametrize("name", ["rules folder typo", "rule notifies a misspelt notifier", "no notifiers"])
async def test_run_refuses_a_mistake_at_start_with_exit_2(name: str, tmp_path: Path) -> None:
    make, said, _ = MISTAKES[name]
    config = harness.write_config(
        tmp_path, {"feed": "http://127.0.0.1:9/feed.xml"}, "http://127.0.0.1:9/", rules=RULES
    )
    make(config)
    async with run_daemon(config) as daemon:
        assert await daemon.exit_code() == 2
    err = "\n".join(daemon.raw)
    assert re.search(said.replace("(warning: )?", ""), err), err
    assert not any('"event": "ready"' in line for line in daemon.raw)
    assert not (tmp_path / "state.db").exists()  # nothing opened, nothing marked seen


def test_a_missing_config_names_the_search_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-c", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert "nope.toml:1:1:" in err
    for where in (
        "-c PATH",
        "$NEWSMON_CONFIG",
        "./config.toml",
        "/etc/newsmon/config.toml",
        "config.example.toml",
    ):
        assert where in err


# -- once: exit codes a timer can trust -------------------------------------------------------------------
def test_once_exit_codes_say_what_failed(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    good = {"feed": f"{world.base}/feed.xml"}
    gone = {"gone": f"{world.base}/news/gone"}
    assert main(["once", "-c", str(world.config(sources=good | gone))]) == 3
    out, err = capsys.readouterr()
    assert "once: 1 of 2 sources failed: gone" in err and "error:" in out
    assert [p["rule"]["id"] for p in world.receiver.acked] == ["atacms-in-russia"]  # the rest worked

    assert main(["once", "-c", str(world.config(sources=gone))]) == 4
    assert "once: every source failed: gone" in capsys.readouterr().err

    assert main(["once", "-c", str(world.config(sources=good))]) == 0


def test_once_with_a_dead_receiver_exits_3_and_keeps_the_alert(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = refused_url("/hook")
    config = world.config(hook=closed)
    assert main(["once", "-c", str(config)]) == 3
    assert "1 delivery failed; they stay in the outbox" in capsys.readouterr().err

    # The alert waited in the outbox; with the receiver back and no daemon running, retry sends it now.
    assert main(["alerts", "list", "-c", str(config), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["state"] == "pending" and row["last_error"] and row["created_at"]
    replace_text(config, closed, world.hook)
    assert main(["alerts", "retry", "-c", str(config), row["id"]]) == 0
    out = capsys.readouterr().out
    assert "no daemon is running: sent now, 1 delivered, 0 not" in out
    assert [p["id"] for p in world.receiver.acked] == [row["id"]]
    assert world.receiver.posts[-1].headers["User-Agent"] == USER_AGENT  # receivers see our user agent

    # Delivered: the old error is history, not shown as current.
    assert main(["alerts", "list", "-c", str(config), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["state"] == "delivered" and row["last_error"] is None


def test_alerts_list_filters_and_limits(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.site.publish("nk", NK)
    config = world.config()
    assert main(["once", "-c", str(config)]) == 0
    capsys.readouterr()
    assert main(["alerts", "list", "-c", str(config), "--json"]) == 0
    assert {r["rule"] for r in json.loads(capsys.readouterr().out)} == {"atacms-in-russia", "nk-troops"}
    assert main(["alerts", "list", "-c", str(config), "--json", "--rule", "nk-troops"]) == 0
    assert [r["rule"] for r in json.loads(capsys.readouterr().out)] == ["nk-troops"]
    assert main(["alerts", "list", "-c", str(config), "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 delivery (newest first, at most 1)" in out
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00  [0-9a-f]{32}  hook", out)  # a time on each row
    assert main(["alerts", "list", "-c", str(config), "--since", "1s", "--rule", "nope"]) == 1
    assert main(["alerts", "list", "-c", str(config), "--since", "90"]) == 2  # a bare number
    assert "a duration needs a unit" in capsys.readouterr().err


def test_sources_add_says_when_it_could_not_connect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = harness.write_config(tmp_path, {}, "http://127.0.0.1:9/", rules=RULES)
    url = refused_url("/")
    assert main(["sources", "add", url, "-c", str(config), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert f"could not fetch {url}: cannot connect" in err and "no feed" not in err


def test_every_command_describes_itself_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()

    def walk(p: object, path: list[str]) -> Iterator[tuple[list[str], object]]:
        for action in getattr(p, "_actions", []):
            choices = getattr(action, "choices", None)
            for name, child in choices.items() if isinstance(choices, dict) else ():
                if hasattr(child, "description"):
                    yield [*path, name], child
                    yield from walk(child, [*path, name])

    commands = list(walk(parser, []))
    assert len(commands) >= 15
    for path, child in commands:
        assert child.description and "\n" not in child.description, path  # type: ignore[attr-defined]
        with pytest.raises(SystemExit):
            main([*path, "--help"])
        out = capsys.readouterr().out
        assert child.description in out and "exit codes:" in out, path  # type: ignore[attr-defined]
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "wiring" not in out and "4  failed: no source could be polled" in out


def test_log_format_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_format("auto", Terminal()) == "text"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", Terminal()) == "json"


async def test_a_broken_reload_keeps_the_rules_and_is_reported_until_fixed(tmp_path: Path) -> None:
    site, receiver = Site(), Receiver()
    port = _free_port()
    with serve_in_thread(site.app()) as base, serve_in_thread(receiver.app()) as hook_base:
        config = harness.write_config(
            tmp_path,
            {"feed": f"{base}/feed.xml"},
            f"{hook_base}/hook",
            rules=RULES,
            metrics=f"127.0.0.1:{port}",
            service='log_level = "debug"\nsummary_interval = "1s"',
        )
        healthz = f"http://127.0.0.1:{port}/healthz"
        async with run_daemon(config) as daemon:
            await daemon.ready()
            # Sign of life: each poll at debug, and the periodic summary with named counts.
            poll = await daemon.log(lambda e: e["event"] == "poll" and e.get("source") == "feed")
            assert poll["outcome"] in ("ok", "not_modified")
            summary = await daemon.log(lambda e: e["event"] == "summary" and e.get("polls_ok", 0) >= 1)
            assert {
                "polls_not_modified",
                "polls_failed",
                "new_articles",
                "alerts_claimed",
                "delivered",
                "failed",
                "dead",
                "outbox",
                "rules",
            } <= summary.keys()
            assert summary["rules"] == 2
            assert (await health(healthz))[0] == 200

            # A broken rule file: the reload is refused, logged with its place, counted, and reported.
            (tmp_path / "rules" / "zz-bad.yaml").write_text(
                "rules:\n  - id: typo\n    any: [Kursk]\n    notify: [hok]\n"
            )
            failed = await daemon.log(
                lambda e: e["event"] == "reload_failed" and "zz-bad.yaml" in e.get("error", "")
            )
            assert "zz-bad.yaml:4:14: unknown notifier 'hok'" in failed["error"]
            status, body = await health(healthz)
            assert status == 503 and body["status"] == "unhealthy"
            assert "last reload failed with 1 problem(s)" in body["checks"]["reload"]
            assert "zz-bad.yaml:4:14" in body["checks"]["reload"] and body["checks"]["rules"] == "ok"
            status_cmd = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "monitor",
                "status",
                "-c",
                str(config),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=tmp_path,
            )
            out, _ = await status_cmd.communicate()
            assert status_cmd.returncode == 1
            assert "daemon: UNHEALTHY" in out.decode() and "reload: last reload failed" in out.decode()
            assert "a reload or restart would be refused" in out.decode()

            # Meanwhile the running rules still alert: nothing waits on the broken file.
            site.publish("atacms-kursk", ATACMS)
            await daemon.log(lambda e: e["event"] == "delivery" and e.get("outcome") == "delivered")
            assert [p["rule"]["id"] for p in receiver.acked] == ["atacms-in-russia"]

            # Fixed: the next reload succeeds and health is green again.
            (tmp_path / "rules" / "zz-bad.yaml").unlink()
            await daemon.log(lambda e: e["event"] == "reloaded")
            assert (await health(healthz))[0] == 200
            daemon.proc.send_signal(signal.SIGTERM)
            assert await daemon.exit_code() == 0


async def test_healthz_is_503_when_every_source_keeps_failing_or_deliveries_give_up(tmp_path: Path) -> None:
    site, receiver = Site(), Receiver()
    site.broken = True
    with serve_in_thread(site.app()) as base:
        config_path = harness.write_config(
            tmp_path,
            {"feed": f"{base}/feed.xml"},
            f"{base}/no-such-hook",  # answers 404: a permanent failure, dead at once
            rules=RULES,
            service="health_failures = 2",
        )
        service = Service(load_config(config_path))
        await service.start()
        try:
            source = service.config.sources[0]
            await service.poll(source)
            assert (await service.health()).checks["sources"] == "ok"  # one failure is not yet a pattern
            await service.poll(source)
            health = await service.health()
            assert not health.ok and "every source is failing" in health.checks["sources"]

            site.broken = False
            site.publish("atacms-kursk", ATACMS)
            await service.poll(source)
            assert service.outbox is not None
            await service.outbox.deliver_due()
            health = await service.health()
            assert health.checks["sources"] == "ok"
            assert "1 delivery gave up in the last hour" in health.checks["deliveries"] and not health.ok
        finally:
            await service.stop()
    assert receiver.acked == []


def test_status_fails_when_the_daemon_does_not_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()  # metrics on, nothing listening: the daemon is down
    config = harness.write_config(
        tmp_path,
        {"feed": "http://127.0.0.1:9/feed.xml"},
        "http://127.0.0.1:9/hook",
        rules=RULES,
        metrics=f"127.0.0.1:{port}",
    )
    assert main(["status", "-c", str(config)]) == 1
    assert (
        f"daemon: NOT ANSWERING at http://127.0.0.1:{port}/healthz (not running?)" in capsys.readouterr().out
    )
