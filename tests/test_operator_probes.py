"""Mistakes found by trying newsmon as a new user and as an operator paged at night, each through the real
CLI or daemon: what used to be silent, misleading or lossy is now loud (docs/operations.md lists them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sqlite3
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.service import Service
from tests import daemon as harness
from tests.conftest import OwnRedis, _free_port
from tests.daemon import run_daemon
from tests.helpers.operator_world import World, health, refused_url, replace_text, seen_rows, world
from tests.helpers.service_net import NK, RULES

__all__ = ["world"]  # the fixture, shared with the mistakes every command refuses


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("htp://127.0.0.1:9/hook", "got scheme 'htp'"),
        ("127.0.0.1:9/hook", "got no scheme"),
    ],
)
def test_a_webhook_url_without_http_is_refused_not_retried_for_a_day(
    url: str, said: str, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    config = world.config()
    replace_text(config, world.hook, url)
    assert main(["check", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    expected = rf"config\.toml:\d+:1: notifiers\[0\]\.url: expected an http:// or https:// URL, {said}"
    assert re.search(expected, err), err
    assert "/hook" not in err  # a hook's URL is its credential: never echoed
    assert main(["once", "-c", str(config)]) == 2
    assert world.site.hits == {} and seen_rows(world.db) == 0


def test_an_email_notifier_without_recipients_a_bad_port_or_no_hourly_messages_is_refused(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    config = world.config()
    with config.open("a") as f:
        f.write('[[notifiers]]\nname = "mail"\nkind = "email"\nhost = "127.0.0.1"\nport = 70000\n')
        f.write('from = "newsmon@example.org"\nto = []\nmax_per_hour = 0\n')
    assert main(["check", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "notifiers[1].to: no recipients" in err
    assert "notifiers[1].port: expected a port from 1 to 65535, got 70000" in err
    # 0 held every alert for the hour's digest: `once` said "1 alert(s)", exit 0, and nothing went out.
    assert (
        'notifiers[1].max_per_hour: must be 1 or more (remove it for no limit, or use digest = "1h")' in err
    )


def test_rules_test_tries_the_rules_run_would_use(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = world.config()
    (config.parent / "rules").rename(config.parent / "watch")
    replace_text(config, 'paths = ["rules/"]', 'paths = ["watch/"]')
    article = config.parent / "article.txt"
    article.write_text("Ukraine fires ATACMS into Kursk\n\nATACMS missiles hit a depot in Kursk.")
    monkeypatch.chdir(config.parent)  # where ./rules/ would be found: it is not there

    assert main(["rules", "test", "-c", str(config), "--file", str(article)]) == 0
    assert "✔ atacms-in-russia" in capsys.readouterr().out
    assert main(["rules", "test", "--file", str(article)]) == 0  # ./config.toml, found as run finds it
    capsys.readouterr()

    # A path that is not there is named as missing, not as an unreadable file called "rules".
    assert main(["rules", "test", "-c", str(config), "--rules", "wacth/", "--file", str(article)]) == 2
    assert "wacth:1:1: no such rule file or folder (name one with --rules PATH)" in capsys.readouterr().err


def test_status_with_the_store_down_says_so_and_exits_1(
    own_redis: OwnRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = harness.write_config(
        tmp_path, {"feed": "http://127.0.0.1:9/"}, "http://127.0.0.1:9/", rules=RULES, store=own_redis.url
    )
    assert main(["status", "-c", str(config)]) == 0
    capsys.readouterr()
    own_redis.stop()
    # Not "usage error" (2) with one line: the store's state, the daemon's, and "unhealthy" (1).
    assert main(["status", "-c", str(config)]) == 1
    out = capsys.readouterr().out
    assert f"store: {own_redis.url} — DOES NOT ANSWER: redis:" in out and "daemon: unknown" in out
    assert main(["status", "-c", str(config), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["store_error"].startswith("redis:")


def test_alerts_retry_refuses_an_unknown_id_instead_of_skipping_it(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = refused_url("/hook")
    config = world.config(hook=closed)
    assert main(["once", "-c", str(config)]) == 3
    capsys.readouterr()
    assert main(["alerts", "list", "-c", str(config), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    typo = row["id"][:-1] + "x"

    # One good id and one mistyped: refused whole, so the operator sees the typo and nothing half-happens.
    assert main(["alerts", "retry", "-c", str(config), row["id"], typo]) == 2
    out, err = capsys.readouterr()
    assert f"alerts retry: no alert '{typo}' (ids are in `newsmon alerts list`)" in err
    assert "queued" not in out
    assert main(["alerts", "list", "-c", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["attempts"] == row["attempts"]  # nothing was sent

    replace_text(config, closed, world.hook)
    assert main(["alerts", "retry", "-c", str(config), row["id"]]) == 0
    assert [p["id"] for p in world.receiver.acked] == [row["id"]]
    assert main(["alerts", "retry", "-c", str(config), row["id"]]) == 1
    assert "nothing to retry (every delivery was delivered already)" in capsys.readouterr().err
    assert main(["alerts", "retry", "-c", str(config), "--failed"]) == 1
    assert "nothing to retry (no dead letters)" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["alerts", "list"], ["articles", "list"]])
@pytest.mark.parametrize("limit", ["0", "-1", "ten"])
def test_a_limit_below_one_is_refused(
    command: list[str], limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--limit", limit])
    assert exit_.value.code == 2
    assert f"--limit: expected a whole number of 1 or more, got '{limit}'" in capsys.readouterr().err


def test_an_empty_secret_is_refused_not_silently_turned_off(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unset-looking secret would send unsigned webhooks, or leave the console without its token.
    monkeypatch.setenv("HOOK_SECRET", "")
    (world.tmp / "token").write_text("\n")
    config = world.config(notifier='secret = "${HOOK_SECRET}"', service='ui = true\nui_token_file = "token"')
    assert main(["check", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert re.search(
        r"config\.toml:\d+:1: notifiers\[0\]\.secret: the secret is empty: set it, or remove the key", err
    )
    assert re.search(r"config\.toml:\d+:1: service\.ui_token_file: secret file \S*token is empty", err)
    assert main(["once", "-c", str(config)]) == 2
    assert world.site.hits == {}


async def test_after_a_reload_moves_the_rules_folder_edits_there_reload(tmp_path: Path) -> None:
    config = harness.write_config(
        tmp_path, {"feed": "http://127.0.0.1:9/"}, "http://127.0.0.1:9/", rules=RULES
    )
    async with run_daemon(config) as daemon:
        await daemon.ready()
        (tmp_path / "watch").mkdir()
        (tmp_path / "watch" / "test.yaml").write_text(RULES)
        replace_text(config, 'paths = ["rules/"]', 'paths = ["watch/"]')
        daemon.proc.send_signal(signal.SIGHUP)
        await daemon.log(lambda e: e["event"] == "reloaded")

        # A mistake in the new folder is noticed by itself, as it would have been in the old one.
        (tmp_path / "watch" / "bad.yaml").write_text(
            "rules:\n  - id: typo\n    any: [Kursk]\n    notify: [hok]\n"
        )
        failed = await daemon.log(
            lambda e: e["event"] == "reload_failed" and "bad.yaml" in e.get("error", "")
        )
        assert "watch/bad.yaml:4:14: unknown notifier 'hok'" in failed["error"]
        daemon.proc.send_signal(signal.SIGTERM)
        assert await daemon.exit_code() == 0


async def test_a_reload_that_needs_a_restart_says_so_in_healthz_and_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    config = harness.write_config(
        tmp_path,
        {"feed": "http://127.0.0.1:9/"},
        "http://127.0.0.1:9/",
        rules=RULES,
        metrics=f"127.0.0.1:{port}",
    )
    healthz = f"http://127.0.0.1:{port}/healthz"
    async with run_daemon(config) as daemon:
        await daemon.ready()
        replace_text(config, "state.db", "other.db")
        daemon.proc.send_signal(signal.SIGHUP)
        await daemon.log(lambda e: e["event"] == "reloaded")
        # Still healthy (it runs, on the store it opened), but status no longer reads that store: say so.
        status, body = await health(healthz)
        assert status == 200
        assert body["notes"]["restart"] == (
            "[store] changed in the config; running on the previous value until restarted"
        )
        assert await asyncio.to_thread(main, ["status", "-c", str(config)]) == 0
        assert "restart: [store] changed in the config" in capsys.readouterr().out

        replace_text(config, "other.db", "state.db")  # changed back: nothing waits for a restart
        daemon.proc.send_signal(signal.SIGHUP)
        await daemon.log(lambda e: e["event"] == "reloaded" and len(daemon.events("reloaded")) == 2)
        assert "notes" not in (await health(healthz))[1]
        daemon.proc.send_signal(signal.SIGTERM)
        assert await daemon.exit_code() == 0


def test_a_config_saved_with_a_byte_order_mark_loads(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    config = world.config()
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())  # as Notepad saves "UTF-8"
    assert main(["check", "-c", str(config)]) == 0, capsys.readouterr().err
    assert main(["once", "-c", str(config)]) == 0
    assert [p["rule"]["id"] for p in world.receiver.acked] == ["atacms-in-russia"]


def test_a_first_once_says_it_marked_what_was_there_and_its_dry_run_agrees(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    config = world.config(alerts="")  # first_run = "mark-seen", the default
    assert main(["once", "-c", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    # The dry run must not promise an alert the real run will not send.
    assert "feed: first poll: would mark what is there now seen without alerting" in out
    assert "matches, first poll so no alert: [atacms-in-russia] Ukraine fires ATACMS into Kursk" in out
    assert "would alert" not in out

    assert main(["once", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert (
        'feed: first poll: marked what is there now seen without alerting ([alerts] first_run = "mark-seen"'
        in out
    )
    assert world.receiver.acked == []

    world.site.publish("nk", NK)
    assert main(["once", "-c", str(config)]) == 0
    assert "feed: 1 new article(s), 1 alert(s)" in capsys.readouterr().out
    assert [p["rule"]["id"] for p in world.receiver.acked] == ["nk-troops"]


def test_deliveries_for_a_renamed_notifier_are_reported_not_kept_in_silence(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = refused_url("/hook")
    config = world.config(hook=closed)
    assert main(["once", "-c", str(config)]) == 3
    capsys.readouterr()
    # The operator fixes the URL and renames the notifier: the waiting delivery is still for "hook".
    replace_text(config, closed, world.hook)
    replace_text(config, 'name = "hook"', 'name = "slack"')
    with contextlib.closing(sqlite3.connect(world.db)) as conn, conn:
        conn.execute("UPDATE deliveries SET next_attempt_at = 0")  # its retry is due: time has passed

    assert main(["once", "-c", str(config)]) == 3  # was 0: "all good" with an alert that goes nowhere
    said = (
        'deliveries wait in the outbox for notifier(s) "hook", no longer in the config (renamed or removed?)'
    )
    assert said in capsys.readouterr().err
    assert main(["status", "-c", str(config)]) == 1
    assert said in capsys.readouterr().out
    assert main(["alerts", "list", "-c", str(config), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["last_error"] == "notifier 'hook' is not in the config: kept, not sent"
    assert world.receiver.acked == []
    # A running daemon notes it in /healthz (healthy otherwise: the rest of its work goes on).
    with contextlib.closing(sqlite3.connect(world.db)) as conn, conn:
        conn.execute("UPDATE deliveries SET next_attempt_at = 0")
    assert said in asyncio.run(_outbox_note(config))

    replace_text(config, 'name = "slack"', 'name = "hook"')  # back under its name: it goes out
    assert main(["alerts", "retry", "-c", str(config), row["id"]]) == 0
    assert [p["id"] for p in world.receiver.acked] == [row["id"]]
    assert main(["status", "-c", str(config)]) == 0


async def _outbox_note(config: Path) -> str:
    service = Service(load_config(config))
    await service.start()
    try:
        assert service.outbox is not None
        await service.outbox.deliver_due()
        return (await service.health()).notes["outbox"]
    finally:
        await service.stop()


def test_a_malformed_secret_is_named_but_never_shown(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    config = world.config(store="redis//:hunter2pw@127.0.0.1:6379/0", notifier="secret = 31415926535")
    assert main(["check", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert (
        'store.url: expected "sqlite://PATH" or "redis://HOST:PORT/DB", got \'redis//***@127.0.0.1:6379/0\''
        in err
    )
    assert "notifiers[0].secret: expected a secret string (in quotes), got int" in err
    assert "hunter2pw" not in err and "31415926535" not in err


def test_an_unclosed_toml_array_points_at_the_end_not_at_line_1(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    config = world.config()
    with config.open("a") as f:
        f.write("[archive]\nmax_mb = [1,\n")  # the closing bracket forgotten
    lines = len(config.read_text().splitlines())
    assert main(["check", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert re.match(rf"\S*config\.toml:{lines}:\d+: TOML syntax: .*end of document", err), err
