"""The article archive's records: what the rules saw of each article, and how it is packed for the store.

A record is a JSON list; records are compressed with zstd, as many together as the store writes at once
(the pipeline's seen-mark batch on SQLite, one on Redis where each record is a key of its own). Short
texts compress poorly on their own, so each store trains one shared dictionary from its first
``TRAIN_SAMPLES`` records and keeps it beside them; every blob starts with the id of the dictionary it was
packed with (0: none), so blobs written before the dictionary existed, or by another process that lost
the race to store its own, stay readable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

import zstandard

from monitor.model import Article

LEVEL = 6  # zstd level: past this, each level costs ~25% more CPU per write for ~1% smaller records
TRAIN_SAMPLES = 200  # records collected before the shared dictionary is trained
DICT_BYTES = 64 * 1024
_VERSION = 2


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
    published = record.published.isoformat() if record.published else None
    values = [
        _VERSION,
        record.language,
        record.url,
        record.source,
        record.title,
        record.summary,
        record.body,
        published,
        record.fetched_url,
        record.detected_at,
        record.story_key,
        list(record.rules),
    ]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()


def _record(payload: bytes) -> ArchivedArticle:
    version, *values = json.loads(payload)
    if version == 1:  # written before the language came first
        url, source, title, summary, body, published, language, fetched, detected, story, rules = values
    else:
        language, url, source, title, summary, body, published, fetched, detected, story, rules = values
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


_LANGUAGE = re.compile(rb'\[2,"([^"\\]+)"')


def payload_language(payload: bytes) -> str | None:
    """The language tag of a packed record, read without decoding the record; None when it has none
    (or one this does not read: then decode it)."""
    found = _LANGUAGE.match(payload)
    return found[1].decode() if found else None


class Codec:
    """Packs and unpacks records; learns the store's shared dictionary. One per store object.

    Not thread-safe: the SQLite store uses it on its one worker thread, the Redis store on the loop."""

    def __init__(self) -> None:
        self._dicts: dict[int, zstandard.ZstdCompressionDict] = {}
        self._decompressors: dict[int, zstandard.ZstdDecompressor] = {0: zstandard.ZstdDecompressor()}
        self._compressor = zstandard.ZstdCompressor(level=LEVEL)
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
            self._compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=dictionary)
            self._samples.clear()

    def encode(self, records: Sequence[ArchivedArticle]) -> bytes:
        """One blob for ``records``: packed together, a batch compresses far better than its records
        one by one, and fills whole pages. JSON never holds a raw newline, so lines separate them."""
        payloads = [_payload(r) for r in records]
        if not self._current:
            self._samples += payloads[: TRAIN_SAMPLES - len(self._samples)]
        return bytes([self._current]) + self._compressor.compress(b"\n".join(payloads))

    def trained(self) -> bytes | None:
        """A new shared dictionary once enough records were seen without one, for the store to keep (and
        then ``add_dictionary``); None until then, or when the samples are too alike to train on."""
        if self._current or len(self._samples) < TRAIN_SAMPLES:
            return None
        samples, self._samples = self._samples, []
        try:
            return zstandard.train_dictionary(DICT_BYTES, samples).as_bytes()
        except zstandard.ZstdError:
            return None

    def payloads(self, blob: bytes) -> list[bytes]:
        """The records' JSON, unparsed: a backtest searches it before it pays for building a record.
        ``KeyError`` when the blob was packed with a dictionary not added yet."""
        decompressor = self._decompressors.get(blob[0])
        if decompressor is None:
            raise KeyError(blob[0])
        return decompressor.decompress(blob[1:]).split(b"\n")


def decode_payload(payload: bytes) -> ArchivedArticle:
    return _record(payload)
