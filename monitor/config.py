"""TOML -> validated, typed ``Config``. Every problem names the file, the key path and what was expected.

Tables map onto frozen dataclasses (``config_tables``); a dataclass's fields are the only keys allowed
(typos are errors with a "did you mean"). Notifier tables are checked against the ``Options`` dataclass
of their kind from the notifier registry, so each kind declares its own options in one place.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from monitor import __version__
from monitor.config_tables import Collector, build, did_you_mean, relative_to
from monitor.crawl.urls import compile_filter
from monitor.errors import ConfigError, Problem
from monitor.model import Source
from monitor.secret import Secret

DEFAULT_PATHS = ("config.toml", "/etc/newsmon/config.toml")
MISSING_CONFIG = (
    "no such config file. newsmon reads -c PATH, else $NEWSMON_CONFIG, else ./config.toml, else "
    "/etc/newsmon/config.toml; start from the commented example: cp config.example.toml config.toml"
)


@dataclass(slots=True, frozen=True)
class StoreConfig:
    url: str = "sqlite:///var/lib/newsmon/newsmon.db"
    retention: float = 30 * 86400.0
    # How long a dead instance's claim on work outlives it: a source lease lasts its interval plus this,
    # and an unacknowledged outbox delivery is taken over after this (the stream's visibility timeout).
    lease: float = 60.0

    def __repr__(self) -> str:
        from monitor.logs import mask_url  # deferred: logs is for output, config for loading

        return f"StoreConfig(url={mask_url(self.url)!r}, retention={self.retention!r}, lease={self.lease!r})"


@dataclass(slots=True, frozen=True)
class ArchiveConfig:
    """``[archive]``: the article archive behind backtests, backfills and ``newsmon articles``."""

    enabled: bool | None = None  # default: on with SQLite, off with Redis (it is the bulk of memory)
    retention: float | None = None  # default: [store] retention
    max_mb: int = 2048  # packed records beyond this are dropped, oldest first; 0: no cap


@dataclass(slots=True, frozen=True)
class HttpConfig:
    user_agent: str = f"newsmon/{__version__} (+https://github.com/newsmon/newsmon)"
    per_host_concurrency: int = 2
    per_host_delay: float = 1.0
    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_bytes: int = 5_000_000
    respect_robots: bool = True
    allow_private_networks: bool = False


@dataclass(slots=True, frozen=True)
class RulesConfig:
    paths: list[str] = field(default_factory=lambda: ["rules/"])


@dataclass(slots=True, frozen=True)
class SourceConfig:
    name: str
    url: str
    kind: str = "feed"  # a key of monitor.crawl.sources.REGISTRY
    interval: float = 300.0
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    fetch_articles: bool = True
    stale_after: float | None = None  # a health alert when no new article arrives for this long
    schedule: Literal["fixed", "adaptive"] = "adaptive"
    min_interval: float | None = None  # adaptive only: bounds on the learned gap between polls
    max_interval: float | None = None


@dataclass(slots=True, frozen=True)
class AlertsConfig:
    first_run: Literal["mark-seen", "alert"] = "mark-seen"
    max_age: float = 48 * 3600.0
    story_window: float = 72 * 3600.0
    give_up_after: float = 24 * 3600.0


@dataclass(slots=True, frozen=True)
class ServiceConfig:
    metrics: str = "127.0.0.1:9464"
    # "auto": text on a terminal, JSON otherwise (journald, files, pipes)
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_timeout: float = 20.0
    health_failures: int = 5  # polls failing in a row before a health alert; 0 turns it off
    health_notify: list[str] = field(default_factory=list)  # notifier names for health alerts
    summary_interval: float = 300.0  # seconds between "summary" log lines; 0 turns them off
    # The web console (monitor/ui) on the metrics listener; off a loopback address it needs the token.
    ui: bool = False
    ui_token: Secret | None = None


@dataclass(slots=True, frozen=True)
class NotifierConfig:
    name: str
    kind: str
    options: Any  # the kind's Options dataclass instance


@dataclass(slots=True, frozen=True)
class Config:
    path: Path
    store: StoreConfig
    http: HttpConfig
    rules: RulesConfig
    sources: tuple[Source, ...]
    alerts: AlertsConfig
    notifiers: tuple[NotifierConfig, ...]
    service: ServiceConfig
    # Per-source options that are not part of the pipeline's ``Source``: only the service reads them.
    stale_after: dict[str, float] = field(default_factory=dict)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)

    @property
    def rule_paths(self) -> list[Path]:
        return [relative_to(self.path, p) for p in self.rules.paths]


def find_config(explicit: str | None) -> Path:
    """``-c``, else ``$NEWSMON_CONFIG``, else ``./config.toml``, else ``/etc/newsmon/config.toml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("NEWSMON_CONFIG")
    if env:
        return Path(env)
    for candidate in DEFAULT_PATHS:
        if Path(candidate).exists():
            return Path(candidate)
    return Path(DEFAULT_PATHS[0])


def parse_listen(value: str) -> tuple[str, int] | None:
    """``"127.0.0.1:9464"``, ``"[::1]:9464"`` or ``":9464"`` (all addresses) -> (host, port);
    ``""`` -> None (disabled). Port 0 takes any free port (logged at startup). ValueError otherwise."""
    if not value:
        return None
    m = re.fullmatch(r"(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]]*)):(\d{1,5})", value.strip())
    if not m or int(m.group(3)) > 65535:
        raise ValueError(f'expected "HOST:PORT" like "127.0.0.1:9464", or "" to disable, got {value!r}')
    return (m.group(1) or m.group(2) or "0.0.0.0", int(m.group(3)))


def _sources(raw: Any, out: Collector, stale_after: dict[str, float]) -> tuple[Source, ...]:
    from monitor.crawl.sources import REGISTRY  # the registry is the single list of kinds

    if not isinstance(raw, list):
        out.add("sources", "expected an array of tables ([[sources]])")
        return ()
    result: list[Source] = []
    names: set[str] = set()
    kinds = {"kind": Literal[tuple(sorted(REGISTRY))]}
    for i, table in enumerate(raw):
        sc = build(SourceConfig, table, f"sources[{i}]", out, hints=kinds)
        if sc is None:
            continue
        if sc.name in names:
            out.add(f"sources[{i}].name", f'duplicate source name "{sc.name}"')
        names.add(sc.name)
        if not re.match(r"^https?://[^/\s]+", sc.url):
            out.add(f"sources[{i}].url", f"expected an http:// or https:// URL, got {sc.url!r}")
        if sc.interval < 1:
            out.add(f"sources[{i}].interval", "must be at least 1s")
        _schedule_bounds(sc, i, out)
        if sc.stale_after is not None:
            if sc.stale_after < sc.interval:
                out.add(f"sources[{i}].stale_after", "must be at least the source's interval")
            stale_after[sc.name] = sc.stale_after
        for key in ("include", "exclude"):
            for j, pattern in enumerate(getattr(sc, key)):
                try:
                    compile_filter(pattern)
                except ValueError as exc:
                    out.add(f"sources[{i}].{key}[{j}]", str(exc))
        result.append(
            Source(
                name=sc.name,
                kind=sc.kind,
                url=sc.url,
                interval=sc.interval,
                include=tuple(sc.include),
                exclude=tuple(sc.exclude),
                fetch_articles=sc.fetch_articles,
                schedule=sc.schedule,
                min_interval=sc.min_interval,
                max_interval=sc.max_interval,
            )
        )
    return tuple(result)


def _schedule_bounds(sc: SourceConfig, i: int, out: Collector) -> None:
    for key in ("min_interval", "max_interval"):
        value = getattr(sc, key)
        if value is None:
            continue
        if sc.schedule != "adaptive":
            out.add(f"sources[{i}].{key}", 'applies to schedule = "adaptive" (the default) only; remove it')
        elif value < 1:
            out.add(f"sources[{i}].{key}", "must be at least 1s")
    if sc.min_interval is not None and sc.max_interval is not None and sc.min_interval > sc.max_interval:
        out.add(f"sources[{i}].min_interval", f"must not exceed max_interval ({sc.max_interval:g}s)")


def _notifiers(raw: Any, out: Collector) -> tuple[NotifierConfig, ...]:
    from monitor.notify import REGISTRY  # the registry is the single list of kinds and their options

    if not isinstance(raw, list):
        out.add("notifiers", "expected an array of tables ([[notifiers]])")
        return ()
    result: list[NotifierConfig] = []
    names: set[str] = set()
    for i, table in enumerate(raw):
        keypath = f"notifiers[{i}]"
        if not isinstance(table, dict):
            out.add(keypath, "expected a table")
            continue
        name, kind = table.get("name"), table.get("kind")
        if not isinstance(name, str) or not name:
            out.add(f"{keypath}.name", "required key is missing (a non-empty string)")
            continue
        if name in names:
            out.add(f"{keypath}.name", f'duplicate notifier name "{name}"')
        names.add(name)
        if not isinstance(kind, str) or kind not in REGISTRY:
            out.add(f"{keypath}.kind", f"expected one of {', '.join(sorted(REGISTRY))}, got {kind!r}")
            continue
        cls = REGISTRY[kind]
        # A kind backed by an optional extra (apprise) says how to install it instead of failing later.
        unavailable = getattr(cls, "unavailable", None)
        missing = unavailable() if unavailable is not None else None
        if missing:
            out.add(f"{keypath}.kind", missing)
            continue
        options = build(
            cls.Options,
            table,
            keypath,
            out,
            skip=("name", "kind"),
            aliases=getattr(cls.Options, "KEY_ALIASES", None),
        )
        if options is not None:
            for key, message in options.problems():
                out.add(f"{keypath}.{key}", message)
            result.append(NotifierConfig(name=name, kind=kind, options=options))
    return tuple(result)


def _store(raw: Any, out: Collector) -> StoreConfig:
    sc = build(StoreConfig, raw, "store", out) or StoreConfig()
    url = sc.url
    if url.startswith("sqlite://"):
        # Relative database paths are relative to the config file, like every other path in it.
        path = url[len("sqlite://") :]
        if path != ":memory:" and not Path(path).is_absolute():
            url = "sqlite://" + str((out.path.parent / path).resolve())
    elif not re.match(r"^(redis|rediss|unix|redis\+cluster)://", url):
        # A malformed URL is beyond mask_url; its userinfo (the password) goes whole.
        shown = re.sub(r"[^/@]*@", "***@", url)
        out.add("store.url", f'expected "sqlite://PATH" or "redis://HOST:PORT/DB", got {shown!r}')
    return dataclasses.replace(sc, url=url)


_SECTIONS = ("store", "http", "rules", "sources", "alerts", "notifiers", "service", "archive")


def parse_config(text: str, path: Path) -> Config:
    """Parse and validate; raises ConfigError carrying every problem found."""
    # Windows editors save UTF-8 with a byte order mark; tomllib would call line 1 an invalid statement.
    text = text.removeprefix("\ufeff")
    out = Collector(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"at line (\d+), column (\d+)", str(exc))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        if not m and "end of document" in str(exc):
            # An unclosed [ or triple quote runs to the end: point there, not at line 1, which is fine.
            lines = text.splitlines() or [""]
            line, col = len(lines), len(lines[-1]) + 1
        raise ConfigError([Problem(str(path), line, col, f"TOML syntax: {exc}")]) from exc
    for key in data:
        if key not in _SECTIONS:
            out.add(key, f"unknown section{did_you_mean(key, _SECTIONS)}; allowed: {', '.join(_SECTIONS)}")
    stale_after: dict[str, float] = {}
    config = Config(
        path=path,
        store=_store(data.get("store", {}), out),
        http=build(HttpConfig, data.get("http", {}), "http", out) or HttpConfig(),
        rules=build(RulesConfig, data.get("rules", {}), "rules", out) or RulesConfig(),
        sources=_sources(data.get("sources", []), out, stale_after),
        alerts=build(AlertsConfig, data.get("alerts", {}), "alerts", out) or AlertsConfig(),
        notifiers=_notifiers(data.get("notifiers", []), out),
        service=build(ServiceConfig, data.get("service", {}), "service", out) or ServiceConfig(),
        stale_after=stale_after,
        archive=build(ArchiveConfig, data.get("archive", {}), "archive", out) or ArchiveConfig(),
    )
    if config.archive.max_mb < 0:
        out.add("archive.max_mb", "must be 0 (no cap) or more")
    try:
        parse_listen(config.service.metrics)
    except ValueError as exc:
        out.add("service.metrics", str(exc))
    _check_ui(config.service, out)
    if config.service.health_failures < 0:
        out.add("service.health_failures", "must be 0 (off) or more")
    notifier_names = {n.name for n in config.notifiers}
    for i, name in enumerate(config.service.health_notify):
        if name not in notifier_names and isinstance(data.get("notifiers", []), list):
            known = ", ".join(sorted(notifier_names)) or "none configured"
            out.add(
                f"service.health_notify[{i}]",
                f"unknown notifier {name!r}{did_you_mean(name, notifier_names)} (known: {known})",
            )
    if config.http.per_host_concurrency < 1:
        out.add("http.per_host_concurrency", "must be at least 1")
    if config.http.max_bytes < 1024:
        out.add("http.max_bytes", "must be at least 1024")
    if out.problems:
        raise ConfigError(out.problems)
    return config


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a listen address) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_ui(service: ServiceConfig, out: Collector) -> None:
    if not service.ui:
        return
    try:
        address = parse_listen(service.metrics)
    except ValueError:
        return  # reported under service.metrics
    if address is None:
        out.add("service.ui", 'the console is served on the metrics listener: set metrics = "127.0.0.1:9464"')
    elif not is_loopback(address[0]) and not service.ui_token:
        out.add(
            "service.ui",
            f"metrics listens on {service.metrics}, beyond this machine: set ui_token_file (a file "
            "holding a long random token) or bind metrics to 127.0.0.1",
        )


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([Problem(str(path), 1, 1, MISSING_CONFIG)]) from exc
    except OSError as exc:
        raise ConfigError([Problem(str(path), 1, 1, f"cannot read config: {exc.strerror or exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(str(path), 1, 1, f"config is not UTF-8: {exc}")]) from exc
    return parse_config(text, path)


__all__ = [
    "AlertsConfig",
    "ArchiveConfig",
    "Config",
    "HttpConfig",
    "NotifierConfig",
    "RulesConfig",
    "ServiceConfig",
    "StoreConfig",
    "find_config",
    "load_config",
    "parse_config",
    "parse_listen",
]
