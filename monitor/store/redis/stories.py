"""Stories: one Lua script (``lua/resolve_story.lua``) resolves an article to its story."""

from __future__ import annotations

from monitor.fingerprint import MIN_CONTAINMENT, MIN_SHINGLES, PERMUTATIONS, Fingerprint
from monitor.store import keys
from monitor.store.base import StoryRef
from monitor.store.redis.base import RedisBase, num, translated, url_digest

MAX_STORY_URLS = 50


class RedisStories(RedisBase):
    # -- stories ------------------------------------------------------------------------------------
    async def resolve_story(
        self, fingerprint: Fingerprint, url: str, window: float, legacy: Fingerprint | None = None
    ) -> StoryRef:
        """See ``Store.resolve_story``; one Lua script, which compares signatures exactly as
        ``monitor.fingerprint.same_story`` does."""
        now = self.clock.time()
        buckets = _buckets(fingerprint)
        old = _buckets(legacy) if legacy is not None and legacy.size else []
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
            len(buckets),
            legacy.hex() if legacy is not None else "",
            legacy.size if legacy is not None else 0,
        ]
        with translated():
            result = await self._resolve_script(
                keys=[keys.STORY_OF + url_digest(url), *buckets, *old], args=args
            )
        return StoryRef(key=result[0], urls=tuple(result[2:]), new=bool(int(result[1])))

    async def legacy_stories_seen(self) -> float:
        """See ``Store.legacy_stories_seen``: the first call by an instance of this version writes down
        when it was (a version 1 story is last seen before that, unless an instance of the previous
        version still runs), or 0.0 when no version 1 bucket is left."""
        with translated():
            marker = await self._r.get(keys.STORY_LEGACY)
            if marker is None:
                legacy = self._r.scan_iter(match=f"{keys.STORY_BAND}0:*", count=1000)
                found = await anext(aiter(legacy), None) is not None
                value = num(self.clock.time()) if found else "0"
                await self._r.set(keys.STORY_LEGACY, value, nx=True, ex=self._ttl)
                marker = await self._r.get(keys.STORY_LEGACY)
        return float(marker or 0.0)

    async def story_urls(self, key: str) -> list[str]:
        with translated():
            return list(await self._r.zrange(keys.STORY_URLS + key, 0, -1))


def _buckets(fingerprint: Fingerprint) -> list[str]:
    return [f"{keys.STORY_BAND}{band}:{value:x}" for band, value in fingerprint.bands()]
