"""The shared store on Redis (or Redis Cluster), one module per concept over the clients of ``base``."""

from monitor.logs import mask_url
from monitor.store.redis.archive import RedisSeen
from monitor.store.redis.console import RedisConsole
from monitor.store.redis.outbox import RedisOutbox
from monitor.store.redis.sources import RedisSources
from monitor.store.redis.stories import RedisStories

__all__ = ["RedisStore"]


class RedisStore(RedisSeen, RedisStories, RedisOutbox, RedisSources, RedisConsole):
    def __repr__(self) -> str:
        return f"RedisStore({mask_url(self.url)!r})"
