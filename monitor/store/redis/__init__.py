"""The shared store on Redis (or Redis Cluster): see ``monitor.store.redis.store``."""

from monitor.store.redis.store import RedisStore

__all__ = ["RedisStore"]
