"""Log lines: the JSON/text shapes, URL masking, and a real run whose every line is free of the configured
secrets (webhook secret, SMTP password, Redis password), error paths included."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from monitor.logs import JsonFormatter, Scrubber, TextFormatter, mask_url, setup_logging
from tests.daemon import run_daemon
from tests.helpers.service_net import ATACMS, serve_net, write_config
from tests.helpers.smtp import Mailbox

DEADLINE = 15.0


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:hunter22@db:6379/0", "redis://:***@db:6379/0"),
        ("redis://newsmon:hunter22@db/0", "redis://newsmon:***@db/0"),
        ("rediss://u:p%40ss@db/0", "rediss://u:***@db/0"),
        ("redis://db:6379/0", "redis://db:6379/0"),
        ("sqlite:///var/lib/newsmon/newsmon.db", "sqlite:///var/lib/newsmon/newsmon.db"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def _record(msg: str, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("newsmon.test", logging.WARNING, __file__, 1, msg, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_ts_level_event_and_fields() -> None:
    line = JsonFormatter().format(_record("poll_failed", source="a", url="https://x/", error="HTTP 500"))
    data = json.loads(line)
    assert data["level"] == "warning" and data["event"] == "poll_failed"
    assert (data["source"], data["url"], data["error"]) == ("a", "https://x/", "HTTP 500")
    assert data["ts"].endswith("+00:00")
    # A formatted message with its event name in ``extra`` keeps both.
    data = json.loads(JsonFormatter().format(_record("delivery alert_id=1 outcome=retry", event="delivery")))
    assert data["event"] == "delivery" and data["message"] == "delivery alert_id=1 outcome=retry"


@pytest.mark.parametrize("formatter", [JsonFormatter, TextFormatter])
def test_scrubber_masks_secrets_and_url_passwords(formatter: type[logging.Formatter]) -> None:
    scrub = Scrubber(["s3cret-token", "abc"])  # too short to mask safely: left alone
    try:
        raise ValueError("could not connect to redis://u:pw0rd@db/0 with s3cret-token")
    except ValueError:
        record = _record("store_failed", error="auth s3cret-token failed", detail="abc")
        import sys

        record.exc_info = sys.exc_info()
    line = formatter(scrub).format(record)  # type: ignore[call-arg]
    assert "s3cret-token" not in line and "pw0rd" not in line
    assert "********" in line and "redis://u:***@db/0" in line and "abc" in line


def test_setup_logging_text_format_goes_to_the_stream() -> None:
    stream = io.StringIO()
    setup_logging("text", "info", stream, scrub=Scrubber(["topsecret"]))
    logging.getLogger("newsmon.test").info("started", extra={"detail": "key topsecret", "count": 3})
    logging.getLogger("newsmon.test").debug("hidden")
    out = stream.getvalue()
    assert "started count=3 detail=key ********" in out and "hidden" not in out


@pytest.fixture
def redis_user(redis_url: str) -> Iterator[tuple[str, str, str]]:
    """(store URL with a password, the password, the URL with a wrong password): an ACL user on the
    session's redis-server, removed afterwards."""
    user, password = f"newsmon-{uuid.uuid4().hex[:8]}", f"redis-pw-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(redis_url)
    client.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all")
    hostpart = redis_url.split("://", 1)[1]
    try:
        yield (
            f"redis://{user}:{password}@{hostpart}",
            password,
            f"redis://{user}:{password}-wrong@{hostpart}",
        )
    finally:
        client.execute_command("ACL", "DELUSER", user)
        client.close()


async def test_no_secret_in_any_log_line_of_a_real_run(
    tmp_path: Path,
    smtp: tuple[Mailbox, int],
    redis_user: tuple[str, str, str],
) -> None:
    store_url, redis_password, wrong_store_url = redis_user
    webhook_secret = f"whsec-{uuid.uuid4().hex}"
    smtp_password = f"smtp-pw-{uuid.uuid4().hex}"
    secrets = (webhook_secret, smtp_password, redis_password)
    # The webhook secret arrives as a systemd credential: a relative *_file found in $CREDENTIALS_DIRECTORY.
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "webhook.secret").write_text(webhook_secret + "\n")
    env = {"CREDENTIALS_DIRECTORY": str(credentials), "NEWSMON_SMTP_PASSWORD": smtp_password}
    email = f"""
[[notifiers]]
name = "mail"
kind = "email"
host = "127.0.0.1"
port = {smtp[1]}
tls = "none"
username = "newsmon"
password = "${{NEWSMON_SMTP_PASSWORD}}"
from = "newsmon@test.example"
to = ["desk@test.example"]
"""
    async with serve_net() as net:
        net.site.publish("atacms-kursk", ATACMS)
        net.receiver.fail_first = 1
        config = write_config(
            tmp_path,
            net,
            sources=("feed", "missing"),
            store=store_url,
            notifiers='secret_file = "webhook.secret"\n' + email,
            service='log_level = "debug"',
        )
        config.write_text(config.read_text().replace(f"{net.base}/missing.xml", f"{net.base}/news/gone"))
        async with run_daemon(config, env=env) as daemon:
            await daemon.ready()
            # Error paths: a receiver answering 500, an SMTP login that fails, a source that 404s, a bad
            # rule file; then a reload, so secrets are re-read, and the drain.
            await daemon.log(lambda e: e.get("notifier") == "hook" and e.get("outcome") == "retry")
            await daemon.log(lambda e: e.get("notifier") == "mail" and e.get("outcome") in ("retry", "dead"))
            await daemon.log(lambda e: e["event"] == "poll_failed" and e.get("source") == "missing")
            async with asyncio.timeout(DEADLINE):
                await net.receiver.acknowledged.wait()  # the retry got through, signed with the secret
            assert net.receiver.posts[-1].headers["X-Newsmon-Signature"].startswith("sha256=")
            # A broken rule file arrives: the reload is refused (and logged), the running rules stay.
            (tmp_path / "rules" / "broken.yaml").write_text("rules:\n  - id: broken\n    any: ['@nowhere']\n")
            daemon.proc.send_signal(signal.SIGHUP)
            await daemon.log(lambda e: e["event"] == "reload_failed")
            daemon.proc.send_signal(signal.SIGTERM)
            assert await daemon.exit_code() == 0
        lines = daemon.raw
        assert any("reload_failed" in line and "broken.yaml" in line for line in lines)
        assert any("redis://" in line and ":***@" in line for line in lines)  # the masked store URL

        # A store that refuses the password: the daemon exits 2 and says why, without the password.
        (tmp_path / "rules" / "broken.yaml").unlink()
        config.write_text(config.read_text().replace(store_url, wrong_store_url))
        async with run_daemon(config, env=env) as failed:
            assert await failed.exit_code() == 2
        lines += failed.raw
        assert any("redis" in line for line in failed.raw)

    leaked = [line for line in lines for secret in secrets if secret in line]
    assert leaked == []
    assert len(lines) > 10  # the runs really logged, so the check above means something
