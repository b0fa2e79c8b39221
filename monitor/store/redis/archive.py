"""Seen article URLs, and the article archive written with them (off unless asked for)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

from monitor.archive import ArchivedArticle, decode_payload
from monitor.store import keys
from monitor.store.base import ArchiveStats
from monitor.store.redis.base import RedisBase, num, translated, url_digest

ARCHIVE_PAGE = 1_000  # archived records read per round trip of a scan


class RedisSeen(RedisBase):
    # -- seen ---------------------------------------------------------------------------------------
    async def seen(self, urls: list[str]) -> dict[str, str]:
        if not urls:
            return {}
        cutoff = self.clock.time() - self.retention
        with translated():
            # A pipeline of GETs rather than MGET: the keys spread over Cluster slots on purpose.
            async with self._r.pipeline(transaction=False) as pipe:
                for u in urls:
                    pipe.get(keys.SEEN + url_digest(u))
                values = await pipe.execute()
        found = {}
        for url, value in zip(urls, values, strict=True):
            if value is not None:
                at, _, revision = value.partition(" ")
                if float(at) >= cutoff:
                    found[url] = revision
        return found

    async def mark_seen(self, marks: Mapping[str, str], archive: Sequence[ArchivedArticle] = ()) -> None:
        now = num(self.clock.time())
        records = list(archive) if self.archiving else []
        with translated():
            if records:
                await self._archive(records)
            if not marks:
                return
            async with self._r.pipeline(transaction=False) as pipe:
                for u, revision in marks.items():
                    pipe.set(keys.SEEN + url_digest(u), f"{now} {revision}", ex=self._ttl)
                await pipe.execute()

    # -- article archive ----------------------------------------------------------------------------
    async def _archive(self, records: list[ArchivedArticle]) -> None:
        """Records first, then their index entries: a record the index does not list yet is invisible,
        one listed whose write failed is skipped by scans."""
        if not self._packer.current:
            await self._load_dictionaries()
        blobs, trained = await self._packer.pack([[r] for r in records])
        packed = [(url_digest(r.url), r.detected_at, blob) for r, blob in zip(records, blobs, strict=True)]
        if trained is not None:
            await self._raw.hsetnx(keys.ARCHIVE_DICT, "1", trained)
            await self._load_dictionaries()
        async with self._raw.pipeline(transaction=False) as pipe:
            for digest, _, blob in packed:
                pipe.set(keys.ARCHIVE + digest, blob, ex=self._archive_ttl)
            await pipe.execute()
        index = [value for d, at, blob in packed for value in (d, num(at), len(blob))]
        await self._archive_index(keys=[keys.ARCHIVE_AT, keys.ARCHIVE_SIZE, keys.ARCHIVE_BYTES], args=index)
        await self._trim_archive()

    async def _trim_archive(self) -> None:
        cutoff = num(self.clock.time() - self.archive_retention)
        cap = str(self.archive_max_bytes) if self.archive_max_bytes else ""
        gone = await self._archive_trim(
            keys=[keys.ARCHIVE_AT, keys.ARCHIVE_SIZE, keys.ARCHIVE_BYTES], args=[cutoff, cap, 1000]
        )
        if gone:
            async with self._raw.pipeline(transaction=False) as pipe:
                for digest in gone:
                    pipe.delete(keys.ARCHIVE + digest.decode())
                await pipe.execute()

    async def _load_dictionaries(self) -> None:
        for dict_id, data in (await self._raw.hgetall(keys.ARCHIVE_DICT)).items():
            self._codec.add_dictionary(int(dict_id), data)
            await self._packer.add_dictionary(int(dict_id), data)

    async def _unpack(self, blob: bytes) -> bytes:
        try:
            return self._codec.payloads(blob)[0]
        except KeyError:  # packed with a dictionary this process has not loaded yet
            await self._load_dictionaries()
            return self._codec.payloads(blob)[0]

    async def archived(self, url: str) -> ArchivedArticle | None:
        with translated():
            blob = await self._raw.get(keys.ARCHIVE + url_digest(url))
            return decode_payload(await self._unpack(blob)) if blob is not None else None

    async def archive_payloads(
        self, since: float, until: float | None = None, source: str | None = None
    ) -> AsyncIterator[list[bytes]]:
        end = f"({num(until)}" if until is not None else "+inf"
        offset = 0
        while True:
            with translated():
                digests = await self._raw.zrangebyscore(
                    keys.ARCHIVE_AT, num(since), end, start=offset, num=ARCHIVE_PAGE
                )
                if not digests:
                    return
                offset += len(digests)
                async with self._raw.pipeline(transaction=False) as pipe:
                    for digest in digests:
                        pipe.get(keys.ARCHIVE + digest.decode())
                    blobs = await pipe.execute()
                payloads = [await self._unpack(b) for b in blobs if b is not None]
            if source is not None:
                payloads = [p for p in payloads if decode_payload(p).source == source]
            if payloads:
                yield payloads

    async def archive_stats(self) -> ArchiveStats:
        with translated():
            count = await self._raw.zcard(keys.ARCHIVE_AT)
            total = await self._raw.get(keys.ARCHIVE_BYTES)
            oldest = await self._raw.zrange(keys.ARCHIVE_AT, 0, 0, withscores=True)
        return ArchiveStats(int(count), int(total or 0), oldest[0][1] if oldest else None)
