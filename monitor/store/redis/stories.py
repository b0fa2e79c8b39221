"""Stories: one Lua script (``lua/resolve_story.lua``) resolves an article to its story."""

from __future__ import annotations

from monitor.fingerprint import MIN_CONTAINMENT, MIN_SHINGLES, PERMUTATIONS, Fingerprint
from monitor.store import keys
from monitor.store.base import StoryRef
from monitor.store.redis.base import RedisBase, num, translated, url_digest

MAX_STORY_URLS = 50


class RedisStories(RedisBase):
    # -- stories ------------------------------------------------------------------------------------
    async def resolve_story(self, fingerprint: Fingerprint, url: str, window: float) -> StoryRef:
        """See ``Store.resolve_story``; one Lua script, which compares signatures exactly as
        ``monitor.fingerprint.same_story`` does."""
        now = self.clock.time()
        buckets = [f"{keys.STORY_BAND}{i}:{v:x}" for i, v in enumerate(fingerprint.bands())]
        base_key = fingerprint.key()
        args = [
            num(now),
            num(now - window),
            num(now - self.retention),
            fingerprint.hex(),
            fingerprint.size,
            url,
            MAX_STORY_URLS,
            self._ttl,
            base_key,
            f"{base_key}-{int(now):x}",
            " ".join(buckets),
            repr(MIN_CONTAINMENT),
            MIN_SHINGLES,
            PERMUTATIONS,
        ]
        with translated():
            result = await self._resolve_script(keys=[keys.STORY_OF + url_digest(url), *buckets], args=args)
        return StoryRef(key=result[0], urls=tuple(result[2:]), new=bool(int(result[1])))

    async def story_urls(self, key: str) -> list[str]:
        with translated():
            return list(await self._r.zrange(keys.STORY_URLS + key, 0, -1))
