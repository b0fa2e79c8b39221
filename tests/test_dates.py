"""monitor.dates: the one date parser (pages, feeds, sitemaps) and the one Retry-After parser."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.dates import parse_date, parse_retry_after


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-03", datetime(2024, 5, 3, tzinfo=UTC)),
        ("2024-05-03T15:47:42Z", datetime(2024, 5, 3, 15, 47, 42, tzinfo=UTC)),
        ("2024-05-03T15:47:42.389+02:00", datetime(2024, 5, 3, 13, 47, 42, 389000, tzinfo=UTC)),
        ("2024-05-03 15:47:42", datetime(2024, 5, 3, 15, 47, 42, tzinfo=UTC)),  # naive reads as UTC
        # forms fromisoformat refuses
        ("2024-05-03T15:47+0200", datetime(2024, 5, 3, 13, 47, tzinfo=UTC)),
        ("2024-5-3t9:05z", datetime(2024, 5, 3, 9, 5, tzinfo=UTC)),
        # RFC 822 / HTTP-date
        ("Tue, 01 Oct 2024 10:00:00 GMT", datetime(2024, 10, 1, 10, tzinfo=UTC)),
        ("Tue, 01 Oct 2024 10:00:00 -0500", datetime(2024, 10, 1, 15, tzinfo=UTC)),
        # localized month names and the RSS 0.92 "1500" time
        ("Seg, 24 Set 2018 19:42:40 -0300", datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)),
        ("Mi, 3. Mär 2021 08:00:00 +0100", datetime(2021, 3, 3, 7, tzinfo=UTC)),
        ("03 Apr 02 1500 GMT", datetime(2002, 4, 3, 15, tzinfo=UTC)),
        ("  2024-05-03T15:47:42Z \n", datetime(2024, 5, 3, 15, 47, 42, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("yesterday", None),
        ("2024-13-45", None),
        ("31 Foo 2020 10:00", None),
    ],
)
def test_parse_date(text: str | None, expected: datetime | None) -> None:
    parsed = parse_date(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        (None, None, None),
        ("", None, None),
        ("0", None, 0.0),
        ("17", None, 17.0),
        (" 120 ", None, 120.0),
        # not delay-seconds (RFC 9110 is digits only): an "inf" would block a host forever
        ("-5", None, None),
        ("1.5", None, None),
        ("inf", None, None),
        ("٣", None, None),  # a non-ASCII digit
        ("soon", None, None),
        ("Thu, 01 Jan 1970 00:01:40 GMT", None, 60.0),  # against now=40
        ("Thu, 01 Jan 1970 00:00:10 GMT", None, 0.0),  # in the past
        # against the response's own Date header, whatever our clock says
        ("Wed, 21 Oct 2015 07:28:30 GMT", "Wed, 21 Oct 2015 07:28:00 GMT", 30.0),
        ("Thu, 01 Jan 1970 00:01:40 GMT", "garbage", 60.0),
    ],
)
def test_parse_retry_after(value: str | None, date: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, 40.0, date) == expected
