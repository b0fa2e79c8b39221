"""Entry revisions: what a listing's entry is remembered with, and when a change is worth a fetch."""

from __future__ import annotations

from monitor.entries import MAX_EDITS, Revision


def test_a_stored_revision_reads_back_as_written() -> None:
    revision = Revision(2, "ab12")
    assert str(revision) == "2 ab12"
    assert Revision.parse(str(revision)) == revision


def test_a_mark_from_before_revisions_is_no_edit_and_no_digest() -> None:
    assert Revision.parse("") == Revision(0, "")
    assert Revision.parse("").edited("ab12") is None


def test_only_a_changed_digest_is_an_edit_and_only_max_edits_times() -> None:
    first = Revision(0, "aa")
    assert first.first
    assert first.edited("aa") is None
    assert first.edited("") is None  # the listing says nothing now: no edit to see
    again = first.edited("bb")
    assert again == Revision(1, "bb") and not again.first
    assert Revision(MAX_EDITS - 1, "aa").edited("bb") == Revision(MAX_EDITS, "bb")
    assert Revision(MAX_EDITS, "aa").edited("bb") is None
