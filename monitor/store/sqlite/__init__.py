"""The embedded store on SQLite, one module per concept over one connection (``base``)."""

from monitor.store.sqlite.archive import SqliteSeen
from monitor.store.sqlite.console import SqliteConsole
from monitor.store.sqlite.outbox import SqliteOutbox
from monitor.store.sqlite.sources import SqliteSources
from monitor.store.sqlite.stories import SqliteStories

__all__ = ["SqliteStore"]


class SqliteStore(SqliteSeen, SqliteStories, SqliteOutbox, SqliteSources, SqliteConsole):
    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"
