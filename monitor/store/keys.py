"""Every Redis key newsmon uses, in one place.

Cluster layout: a ``{...}`` hash tag puts keys in one slot. Keys touched on their own (seen URLs,
validators) carry no tag, so they spread over the cluster. A multi-key atomic operation needs its
keys in one slot, so:

- the outbox (alert hashes, delivery hashes, the due queue, the listing index) shares ``{newsmon:outbox}``:
  a claim writes the alert, its deliveries and the due queue in one script, and ``lease_due`` pops from
  one queue. Alerts are few compared with articles, so one slot holds them comfortably.
- the story index shares ``{newsmon:story}``: finding the nearest story reads several band buckets and
  the candidate stories, and creating one must not race with a copy being resolved elsewhere.
- one source's keys (its state hash, its lease) are tagged with its name, so they share a slot.
- the outbox's delivery stream and its consumer group live in ``{newsmon:outbox}`` too: the claim script
  appends to the stream in the same step that writes the alert.

Values that decide "still valid?" hold the time they were written (by the injected clock); the TTLs
(real seconds) only bound memory, they are never the source of truth.
"""

from __future__ import annotations

PREFIX = "newsmon"

SEEN = f"{PREFIX}:seen:"  # + url digest -> "<seen time> <revision>" (revision may be empty)
VALIDATORS = f"{PREFIX}:val:"  # + url digest -> hash {etag, last_modified, at}

OUTBOX_TAG = "{newsmon:outbox}"
ALERT = f"{OUTBOX_TAG}:alert:"  # + alert id -> hash {json, at, notifiers (JSON list)}
DELIVERY = f"{OUTBOX_TAG}:dlv:"  # + member -> hash {state, attempts, next, error, created}
DUE = f"{OUTBOX_TAG}:due"  # zset member -> next attempt: deliveries waiting for a retry or a digest
STREAM = f"{OUTBOX_TAG}:stream"  # stream of {m: member}: deliveries due now, read by a consumer group
GROUP = "newsmon"  # the consumer group every instance reads STREAM with
INDEX = f"{OUTBOX_TAG}:all"  # zset member -> created_at, every delivery (for listings)
CLAIM = f"{OUTBOX_TAG}:claim:"  # + claim key (rule and story) -> hash {n, at}: the latest claim
MEMBER_SEP = "\x00"  # member = alert id + MEMBER_SEP + notifier; NUL sorts first, like a tuple

STORY_TAG = "{newsmon:story}"
# v2: MinHash stories; the SimHash-era keys (…:s:, …:u:, …:b:) are left to expire by their TTLs.
STORY = f"{STORY_TAG}:s2:"  # + story key -> hash {sig (hex), size, first, last, bands (space-joined keys)}
STORY_URLS = f"{STORY_TAG}:u2:"  # + story key -> zset url -> insertion index
STORY_BAND = f"{STORY_TAG}:b2:"  # + "<band>:<hex value>" -> zset story key -> last seen (band: 0-31
# for version 1 fingerprints, 32-63 for version 2: ``Fingerprint.bands``)
STORY_LEGACY = f"{STORY_TAG}:legacy"  # when this version first met a store with version 1 stories
STORY_OF = f"{STORY_TAG}:o:"  # + url digest -> story key: an edited article keeps its story

# The article archive: records spread over the cluster by URL; their index, sizes and the shared
# compression dictionary share ``{newsmon:archive}`` so one script keeps the total and trims the oldest.
ARCHIVE = f"{PREFIX}:archive:r:"  # + url digest -> packed record (bytes)
ARCHIVE_TAG = "{newsmon:archive}"
ARCHIVE_AT = f"{ARCHIVE_TAG}:at"  # zset url digest -> detected_at
ARCHIVE_SIZE = f"{ARCHIVE_TAG}:size"  # hash url digest -> packed size
ARCHIVE_BYTES = f"{ARCHIVE_TAG}:bytes"  # total of ARCHIVE_SIZE
ARCHIVE_DICT = f"{ARCHIVE_TAG}:dict"  # hash dictionary id -> zstd dictionary

SOURCES = f"{PREFIX}:sources"  # set of source names
QUARANTINE = f"{PREFIX}:quarantine"  # hash url -> JSON {source, reason, at}: articles set aside for good
MEMBERS = "{newsmon:members}"  # zset instance id -> real-time ms its membership lapses (live instances)


def source(name: str) -> str:
    """Hash {last_attempt, last_success, last_error, articles_seen, rhythm} of one source."""
    return f"{PREFIX}:source:{{{name}}}"


def lease(name: str) -> str:
    """``SET NX PX`` lease of one source: value is the holding instance's id, TTL the lease."""
    return f"{PREFIX}:lease:{{{name}}}"


def host(name: str) -> str:
    """Real-time ms before which no instance may start another request to host ``name``."""
    return f"{PREFIX}:host:{{{name}}}"


def slot(notifier: str, window_start: float) -> str:
    """Counter of sends to ``notifier`` in the rate window starting at ``window_start``."""
    return f"{PREFIX}:slot:{{{notifier}}}:{int(window_start)}"


def member(alert_id: str, notifier: str) -> str:
    return f"{alert_id}{MEMBER_SEP}{notifier}"


# Real-time TTL slack on top of retention, so a key never expires before the clock says it should.
TTL_MARGIN = 3600
