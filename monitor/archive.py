"""The article archive's records: what the rules saw of each article, and how it is packed for the store.

A record is one line of JSON (the language first, then URLs, source, dates, story and rules), whose
first values are the byte lengths of the title, summary and body that follow it as plain UTF-8, a
newline after each but the last: the texts are most of a record, and escaping them into JSON would
cost more than compressing them.
Records are compressed with zstd, as many together as the store writes at once (the pipeline's
seen-mark batch on SQLite, one on Redis where each record is a key of its own). Short texts compress
poorly on their own, so each store trains one shared dictionary from its first ``TRAIN_SAMPLES``
records and keeps it beside them; every blob starts with the id of the dictionary it was packed with
(0: none), so blobs written before the dictionary existed, or by another process that lost the race to
store its own, stay readable. Records of the first version (one JSON list each, a line apiece) are read
too.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TypeVar

import zstandard

from monitor.model import Article

# zstd's greedy matcher, searching a few more places than level 3 does, over a window that holds a
# whole write's batch: records within ~1% of level 6's size for two thirds of its CPU; the archive's
# write is part of every poll (benchmarks/README.md).
_PARAMETERS = {
    "window_log": 19,
    "hash_log": 18,
    "chain_log": 16,
    "search_log": 3,
    "min_match": 5,
    "strategy": zstandard.STRATEGY_GREEDY,
}
TRAIN_SAMPLES = 200  # records collected before the shared dictionary is trained
DICT_BYTES = 64 * 1024
_VERSION = 2

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ArchivedArticle(Article):
    """One archived article: the fields the rules saw (it is the ``Article`` they were shown), when,
    and what the live rules made of it."""

    detected_at: float = 0.0  # clock time the pipeline processed it
    story_key: str | None = None  # the story it joined; only articles some rule matched have one
    rules: tuple[str, ...] = ()  # ids of the live rules that matched it

    @classmethod
    def of(
        cls, article: Article, *, detected_at: float, story_key: str | None, rules: Iterable[str]
    ) -> ArchivedArticle:
        seen = {name: getattr(article, name) for name in _ARTICLE_FIELDS}
        return cls(**seen, detected_at=detected_at, story_key=story_key, rules=tuple(rules))


_ARTICLE_FIELDS = tuple(f.name for f in fields(Article))


def _payload(record: ArchivedArticle) -> bytes:
    # The language comes first: a backtest reads it (``payload_language``) to tell whether the engine
    # would look at an article for inflected forms, without decoding the rest.
    texts = [record.title.encode(), record.summary.encode(), record.body.encode()]
    head = [
        _VERSION,
        *map(len, texts),
        record.language,
        record.url,
        record.source,
        record.published.isoformat() if record.published else None,
        record.fetched_url,
        record.detected_at,
        record.story_key,
        list(record.rules),
    ]
    line = json.dumps(head, ensure_ascii=False, separators=(",", ":")).encode()
    # A newline after each part: a search of the whole record must not read two fields as one word.
    return b"\n".join([line, *texts])


def _record(payload: bytes) -> ArchivedArticle:
    if payload.startswith(b"[1,"):  # version 1: one JSON array, the texts escaped inside it
        _, url, source, title, summary, body, published, language, fetched, detected, story, rules = (
            json.loads(payload)
        )
    else:
        line, _, texts = payload.partition(b"\n")
        _, title_len, summary_len, _, language, url, source, published, fetched, detected, story, rules = (
            json.loads(line)
        )
        summary_start = title_len + 1
        body_start = summary_start + summary_len + 1
        title = texts[:title_len].decode()
        summary = texts[summary_start : body_start - 1].decode()
        body = texts[body_start:].decode()
    return ArchivedArticle(
        url=url,
        source=source,
        title=title,
        body=body,
        summary=summary,
        published=datetime.fromisoformat(published) if published else None,
        language=language,
        fetched_url=fetched,
        detected_at=detected,
        story_key=story,
        rules=tuple(rules),
    )


def _split(data: bytes) -> list[bytes]:
    """The records of a decompressed blob, each its line and the texts whose lengths the line gives."""
    if data.startswith(b"[1,"):
        return data.split(b"\n")
    records = []
    start = 0
    while start < len(data):
        line_end = data.index(b"\n", start)
        lengths = _LENGTHS.match(data, start, line_end)
        if lengths is None:
            raise ValueError(f"archive record at byte {start} of its blob is unreadable")
        end = line_end + 3 + sum(map(int, lengths.groups()))  # 3: the newlines between the texts
        records.append(data[start:end])
        start = end
    return records


_LENGTHS = re.compile(rb"\[2,(\d+),(\d+),(\d+),")
_LANGUAGE = re.compile(rb'\[2,\d+,\d+,\d+,"([^"\\]+)"')


def payload_language(payload: bytes) -> str | None:
    """The language tag of a packed record, read without decoding the record; None when it has none
    (or one this does not read: then decode it)."""
    found = _LANGUAGE.match(payload)
    return found[1].decode() if found else None


def _compressor(dictionary: zstandard.ZstdCompressionDict | None = None) -> zstandard.ZstdCompressor:
    parameters = zstandard.ZstdCompressionParameters.from_level(6, **_PARAMETERS)
    return zstandard.ZstdCompressor(compression_params=parameters, dict_data=dictionary)


class Codec:
    """Packs and unpacks records; learns the store's shared dictionary. One per store object.

    Not thread-safe: a store unpacks with one on the thread it reads on, and packs with a ``Packer``."""

    def __init__(self) -> None:
        self._dicts: dict[int, zstandard.ZstdCompressionDict] = {}
        self._decompressors: dict[int, zstandard.ZstdDecompressor] = {0: zstandard.ZstdDecompressor()}
        self._compressor = _compressor()
        self._current = 0
        self._samples: list[bytes] = []

    @property
    def current(self) -> int:
        """Id of the dictionary new records are packed with (0: none yet)."""
        return self._current

    def add_dictionary(self, dict_id: int, data: bytes) -> None:
        """Make dictionary ``dict_id`` known; the highest known one packs new records."""
        if dict_id in self._dicts:
            return
        dictionary = zstandard.ZstdCompressionDict(data)
        self._dicts[dict_id] = dictionary
        self._decompressors[dict_id] = zstandard.ZstdDecompressor(dict_data=dictionary)
        if dict_id > self._current:
            self._current = dict_id
            self._compressor = _compressor(dictionary)
            self._samples.clear()

    def encode(self, records: Sequence[ArchivedArticle]) -> bytes:
        """One blob for ``records``: packed together, a batch compresses far better than its records
        one by one, and fills whole pages."""
        payloads = [_payload(r) for r in records]
        if not self._current:
            self._samples += payloads[: TRAIN_SAMPLES - len(self._samples)]
        return bytes([self._current]) + self._compressor.compress(b"".join(payloads))

    def trained(self) -> bytes | None:
        """A new shared dictionary once enough records were seen without one, for the store to keep (and
        then ``add_dictionary``); None until then, or when the samples are too alike to train on."""
        if self._current or len(self._samples) < TRAIN_SAMPLES:
            return None
        samples, self._samples = self._samples, []
        try:
            training: list[bytes | bytearray | memoryview] = [*samples]
            return zstandard.train_dictionary(DICT_BYTES, training).as_bytes()
        except zstandard.ZstdError:
            return None

    def payloads(self, blob: bytes) -> list[bytes]:
        """The records, packed: a backtest searches them before it pays for building a record.
        ``KeyError`` when the blob was packed with a dictionary not added yet."""
        decompressor = self._decompressors.get(blob[0])
        if decompressor is None:
            raise KeyError(blob[0])
        return _split(decompressor.decompress(blob[1:]))


@dataclass(frozen=True, slots=True)
class ArchivePage:
    """Archived records as a store keeps them, for a process of a backtest's pool to unpack: blobs
    as packed (a third of their records' size, and the reading store's process does not unpack them)
    with the dictionaries they need, and the records wanted, in order, as (blob, position in it); or
    records already unpacked (``unpacked``; then ``order`` is empty)."""

    order: tuple[tuple[int, int], ...] = ()
    blobs: tuple[bytes, ...] = ()
    dictionaries: tuple[tuple[int, bytes], ...] = ()
    unpacked: tuple[bytes, ...] = ()
    last_at: float = 0.0  # when the page's last record was detected

    def __len__(self) -> int:
        return len(self.order) or len(self.unpacked)

    def payloads(self, codec: Codec) -> list[bytes]:
        """The packed records, in order; ``codec`` learns the page's dictionaries."""
        if not self.order:
            return list(self.unpacked)
        for dict_id, data in self.dictionaries:
            codec.add_dictionary(dict_id, data)
        blobs = [codec.payloads(blob) for blob in self.blobs]
        return [blobs[blob][pos] for blob, pos in self.order if pos < len(blobs[blob])]


def decode_payload(payload: bytes) -> ArchivedArticle:
    return _record(payload)


class Packer:
    """A ``Codec`` that packs on a thread of its own: a write's JSON and zstd would otherwise hold up the
    event loop (Redis) or the store's worker thread (SQLite, where every other store call of the
    process waits behind it) for the milliseconds a batch takes. One per store object."""

    def __init__(self) -> None:
        self._codec = Codec()
        self._thread: ThreadPoolExecutor | None = None

    @property
    def current(self) -> int:
        """Id of the dictionary new records are packed with (0: none yet)."""
        return self._codec.current

    async def pack(self, batches: Sequence[Sequence[ArchivedArticle]]) -> tuple[list[bytes], bytes | None]:
        """A blob per batch and, once enough records were seen, a dictionary to propose (``trained``)."""

        def pack() -> tuple[list[bytes], bytes | None]:
            return [self._codec.encode(batch) for batch in batches], self._codec.trained()

        return await self._call(pack)

    async def add_dictionary(self, dict_id: int, data: bytes) -> None:
        await self._call(self._codec.add_dictionary, dict_id, data)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsmon-pack")
        return await asyncio.get_running_loop().run_in_executor(self._thread, functools.partial(fn, *args))
