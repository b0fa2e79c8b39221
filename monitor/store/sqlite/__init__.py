"""The embedded store on SQLite: see ``monitor.store.sqlite.base``."""

from monitor.store.sqlite.base import SqliteStore

__all__ = ["SqliteStore"]
