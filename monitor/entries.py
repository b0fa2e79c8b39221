"""A source's listing entries: the key an entry is remembered under, and the revision remembered with it.

An entry whose link changed under the same GUID is the same entry: only a changed revision (title,
summary or date as the source lists them) makes it worth fetching again, and only ``MAX_EDITS`` times,
so a listing that rewrites its dates every poll cannot make us refetch forever.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from monitor.model import Candidate

MAX_EDITS = 5  # re-fetches of one listed entry for changed metadata, within retention


def entry_key(source: str, candidate: Candidate) -> str:
    """Seen-key of a source's listing entry: its feed GUID when it has one, else its URL. Scoped to the
    source, because GUIDs are only unique within one feed and each source describes an entry its own
    way (a feed's summary, a front page's link text), so revisions compare within one source only."""
    if candidate.guid:
        return f"entry\0{source}\0guid\0{candidate.guid}"
    return f"entry\0{source}\0url\0{candidate.url}"


def listed_digest(candidate: Candidate) -> str:
    """A digest of what the listing says about this version of the entry; "" when it says nothing."""
    parts = (
        candidate.title or "",
        candidate.summary or "",
        candidate.published.isoformat() if candidate.published else "",
    )
    if not any(parts):
        return ""
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Revision:
    """What is remembered with an entry's seen-mark: how often it was fetched again for an edit, and the
    digest of the version fetched last. Stored as ``"<edits> <digest>"`` (the store keeps it opaque)."""

    edits: int
    digest: str

    @classmethod
    def parse(cls, recorded: str) -> Revision:
        """A stored revision; marks from before revisions were tracked hold "" (no edits, no digest)."""
        edits, _, known = recorded.partition(" ")
        return cls(int(edits or 0), known)

    def __str__(self) -> str:
        return f"{self.edits} {self.digest}"

    @property
    def first(self) -> bool:
        return self.edits == 0

    def edited(self, now: str) -> Revision | None:
        """The revision to record when the listing now says ``now``; None when it is no edit worth a
        fetch (unchanged, unknown before or now, or edited ``MAX_EDITS`` times already)."""
        if now and self.digest and now != self.digest and self.edits < MAX_EDITS:
            return Revision(self.edits + 1, now)
        return None
