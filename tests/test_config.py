"""Config loading: the example parses, and each kind of mistake is one fixture with a located message."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config, parse_config
from monitor.durations import parse_duration
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """
[[sources]]
name = "a"
url = "https://example.org/feed.xml"
"""


def problems(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_example_config_is_valid() -> None:
    config = load_config(ROOT / "config.example.toml")
    assert {s.kind for s in config.sources} == {"feed", "html", "sitemap"}
    assert config.store.url == "sqlite://" + str((ROOT / "state/newsmon.db").resolve())
    assert config.store.retention == 30 * 86400
    assert config.http.per_host_delay == 1.0 and config.http.max_bytes == 5_000_000
    assert config.alerts.first_run == "mark-seen" and config.alerts.max_age == 48 * 3600
    assert config.rule_paths == [ROOT / "rules/"]
    assert [n.kind for n in config.notifiers] == ["console"]


def test_defaults_apply(tmp_path: Path) -> None:
    config = parse_config(MINIMAL, tmp_path / "c.toml")
    (source,) = config.sources
    assert source.kind == "feed" and source.interval == 300 and source.fetch_articles
    assert config.http.per_host_concurrency == 2 and not config.http.allow_private_networks


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90s", 90), ("2m", 120), ("48h", 172800), ("30d", 2592000), ("1h30m", 5400), ("250ms", 0.25)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "10x", "", "-5s", True, -1])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


BAD = {
    "unknown key with suggestion": (
        MINIMAL + 'intervall = "5m"\n',
        'config.toml:5:1: sources[0].intervall: unknown key (did you mean "interval"?)',
    ),
    "bad duration": (
        MINIMAL + 'interval = "often"\n',
        "config.toml:5:1: sources[0].interval: expected a duration",
    ),
    "wrong type": (
        '[http]\nper_host_concurrency = "two"\n',
        "http.per_host_concurrency: expected an integer",
    ),
    "bad enum": (MINIMAL + 'kind = "rss"\n', "sources[0].kind: expected one of 'feed', 'html', 'sitemap'"),
    "missing url": ('[[sources]]\nname = "a"\n', "sources[0].url: required key is missing"),
    "bad url": (
        '[[sources]]\nname = "a"\nurl = "ftp://x/y"\n',
        "sources[0].url: expected an http:// or https://",
    ),
    "duplicate source": (MINIMAL + MINIMAL, 'sources[1].name: duplicate source name "a"'),
    "unknown section": ('[alert]\nmax_age = "1h"\n', 'alert: unknown section (did you mean "alerts"?)'),
    "unknown notifier kind": (
        '[[notifiers]]\nname = "x"\nkind = "pager"\n',
        "notifiers[0].kind: expected one of apprise, console, email, webhook, got 'pager'",
    ),
    "notifier option typo": (
        '[[notifiers]]\nname = "x"\nkind = "webhook"\nurl = "https://h.example/x"\nformt = "json"\n',
        'notifiers[0].formt: unknown key (did you mean "format"?)',
    ),
    "notifier missing option": (
        '[[notifiers]]\nname = "x"\nkind = "webhook"\n',
        "notifiers[0].url: required key",
    ),
    "bad store url": ('[store]\nurl = "mysql://x"\n', "store.url: expected"),
    "unset env": ('[http]\nuser_agent = "${NEWSMON_TEST_UNSET_VAR}"\n', "NEWSMON_TEST_UNSET_VAR is not set"),
    "missing secret file": (
        '[[notifiers]]\nname = "x"\nkind = "webhook"\nurl = "https://h.example/x"\nsecret_file = "nope"\n',
        "notifiers[0].secret_file: cannot read secret file",
    ),
    "bad include regex": (MINIMAL + 'include = ["re:(unclosed"]\n', "sources[0].include[0]:"),
    "toml syntax": ("[http\n", "config.toml:1:"),
    "stale_after shorter than interval": (
        MINIMAL + 'interval = "10m"\nstale_after = "5m"\n',
        "config.toml:6:1: sources[0].stale_after: must be at least the source's interval",
    ),
    "health_notify names an unknown notifier": (
        '[[notifiers]]\nname = "ops"\nkind = "console"\n[service]\nhealth_notify = ["opz"]\n',
        "service.health_notify[0]: unknown notifier 'opz' (did you mean \"ops\"?) (known: ops)",
    ),
    "negative health_failures": ("[service]\nhealth_failures = -1\n", "service.health_failures: must be 0"),
    "bad metrics address": ('[service]\nmetrics = "9464"\n', 'service.metrics: expected "HOST:PORT"'),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_is_located(case: str, tmp_path: Path) -> None:
    text, expected = BAD[case]
    found = problems(text, tmp_path)
    assert any(expected in p for p in found), found
    assert all(p.startswith(str(tmp_path / "config.toml") + ":") for p in found)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(MINIMAL + 'interval = "x"\nkind = "y"\n[http]\ntimeout = "z"\n', tmp_path)
    assert len(found) == 3


def test_secrets_from_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hook.secret").write_text("s3cret-value\n")
    monkeypatch.setenv("NEWSMON_TEST_UA", "agent/1.0")
    text = (
        '[http]\nuser_agent = "${NEWSMON_TEST_UA}"\n'
        '[[notifiers]]\nname = "ops"\nkind = "webhook"\nurl = "https://h.example/x"\n'
        'secret_file = "hook.secret"\n'
    )
    config = parse_config(text, tmp_path / "c.toml")
    assert config.http.user_agent == "agent/1.0"
    secret = config.notifiers[0].options.secret
    assert secret.reveal() == "s3cret-value"
    assert "s3cret" not in repr(config)


def test_health_and_metrics_keys(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + 'stale_after = "6h"\n[[notifiers]]\nname = "ops"\nkind = "console"\n'
        + '[service]\nmetrics = ""\nhealth_failures = 3\nhealth_notify = ["ops"]\n'
    )
    config = parse_config(text, tmp_path / "c.toml")
    assert config.stale_after == {"a": 6 * 3600}
    assert config.service.health_failures == 3 and config.service.health_notify == ["ops"]
    assert config.service.metrics == ""
    defaults = parse_config(MINIMAL, tmp_path / "c.toml").service
    assert defaults.health_failures == 5 and defaults.health_notify == []
    assert defaults.metrics == "127.0.0.1:9464"


def test_relative_secret_file_is_a_systemd_credential_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        '[[notifiers]]\nname = "ops"\nkind = "webhook"\nurl = "https://h.example/x"\n'
        'secret_file = "hook.secret"\n'
    )
    (tmp_path / "hook.secret").write_text("next-to-config\n")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    # Not among the credentials: the file next to the config.
    assert parse_config(text, tmp_path / "c.toml").notifiers[0].options.secret.reveal() == "next-to-config"
    (credentials / "hook.secret").write_text("from-systemd\n")
    assert parse_config(text, tmp_path / "c.toml").notifiers[0].options.secret.reveal() == "from-systemd"
    # An absolute path is never redirected.
    absolute = text.replace('"hook.secret"', f'"{tmp_path / "hook.secret"}"')
    secret = parse_config(absolute, tmp_path / "c.toml").notifiers[0].options.secret
    assert secret.reveal() == "next-to-config"
