"""Choose the store by URL: ``sqlite:///path.db`` (embedded default), ``redis://host:port/db`` (shared) or
``redis+cluster://host:port`` (shared, Redis Cluster: any one node; the client discovers the rest)."""

from __future__ import annotations

from urllib.parse import urlsplit

from monitor.config import ArchiveConfig, Config
from monitor.logs import mask_url
from monitor.model import Clock
from monitor.store.base import ArchivePolicy, SourceState, Store, StoryRef, Validators

__all__ = [
    "ArchivePolicy",
    "SourceState",
    "Store",
    "StoryRef",
    "Validators",
    "archive_policy",
    "open_configured",
    "open_store",
]

REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster")


def open_configured(config: Config, clock: Clock) -> Store:
    """The store ``config`` names, with its retention and archive policy (not yet connected)."""
    return open_store(
        config.store.url,
        retention=config.store.retention,
        clock=clock,
        archive=archive_policy(config.archive),
    )


def open_store(url: str, *, retention: float, clock: Clock, archive: ArchivePolicy | None = None) -> Store:
    """Build (not connect) the store ``url`` names; ``await store.open()`` connects.

    ``sqlite:///var/lib/newsmon/newsmon.db`` names an absolute path, as in the documented config (four
    slashes work too); ``sqlite://newsmon.db`` or ``sqlite:///./newsmon.db`` a path relative to the
    working directory; ``sqlite://:memory:`` a private in-memory database. Unknown schemes raise
    ``ValueError``. ``archive`` says what the article archive keeps (default: the store's default).
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        from monitor.store.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url), retention=retention, clock=clock, archive=archive)
    if scheme in REDIS_SCHEMES:
        from monitor.store.redis import RedisStore

        return RedisStore(url, retention=retention, clock=clock, archive=archive)
    raise ValueError(
        f"unsupported store URL {mask_url(url)!r}: expected sqlite:///path.db, redis://host:port/db "
        "or redis+cluster://host:port"
    )


def archive_policy(config: ArchiveConfig) -> ArchivePolicy:
    return ArchivePolicy(
        enabled=config.enabled,
        retention=config.retention,
        max_bytes=config.max_mb * 1024 * 1024 if config.max_mb else None,
    )


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:`` URL."""
    rest = url[len("sqlite:") :]
    if rest.startswith("//"):
        rest = rest[2:]
    if not rest:
        raise ValueError(f"store URL {url!r} names no database file")
    if rest == ":memory:":
        return rest
    if rest.startswith(("/./", "/../")):
        return rest[1:]
    if rest.startswith("//"):
        return "/" + rest.lstrip("/")
    return rest
