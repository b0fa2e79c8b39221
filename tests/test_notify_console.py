"""ConsoleNotifier: readable, and inert against hostile text."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from monitor.errors import DeliveryError
from monitor.model import Alert, Hit
from monitor.notify import REGISTRY
from monitor.notify.console import ConsoleNotifier, ConsoleOptions


def make_alert(**changes: object) -> Alert:
    base: dict[str, object] = {
        "id": "a1",
        "rule_id": "atacms-strikes-in-russia",
        "rule_title": "ATACMS used inside Russia",
        "story_key": "k",
        "url": "https://news.example/atacms",
        "title": "Ukraine fires ATACMS at Kursk region",
        "source": "reuters",
        "published": datetime(2024, 11, 19, 8, 0, tzinfo=UTC),
        "detected_at": datetime(2024, 11, 19, 8, 2, tzinfo=UTC),
        "hits": (Hit("ATACMS", "atacms", "title", 13, 19, "fires ATACMS at Kursk"),),
        "also_seen_at": ("https://mirror.example/atacms",),
    }
    base.update(changes)
    return Alert(**base)  # type: ignore[arg-type]


async def test_renders_every_field() -> None:
    out = io.StringIO()
    answer = await ConsoleNotifier("terminal", ConsoleOptions(), stream=out).send(make_alert())
    assert answer == "written"
    assert out.getvalue() == (
        "[newsmon] ATACMS used inside Russia\n"
        "  Title:     Ukraine fires ATACMS at Kursk region\n"
        "  URL:       https://news.example/atacms\n"
        "  Source:    reuters\n"
        "  Published: 2024-11-19T08:00:00+00:00\n"
        "  Detected:  2024-11-19T08:02:00+00:00\n"
        "  Hits:\n"
        "    title: fires ATACMS at Kursk [ATACMS]\n"
        "  Also seen at:\n"
        "    https://mirror.example/atacms\n"
        "\n"
    )


async def test_unknown_published() -> None:
    out = io.StringIO()
    await ConsoleNotifier("t", ConsoleOptions(), stream=out).send(make_alert(published=None))
    assert "  Published: unknown\n" in out.getvalue()


async def test_control_characters_cannot_reach_the_terminal() -> None:
    out = io.StringIO()
    hostile = make_alert(title="Breaking\x1b[2J\x1b]0;pwned\x07\n[newsmon] fake alert\r", source="a\x9bb")
    await ConsoleNotifier("t", ConsoleOptions(), stream=out).send(hostile)
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\x9b" not in text
    assert [line for line in text.splitlines() if line.startswith("[newsmon]")] == [
        "[newsmon] ATACMS used inside Russia"
    ]
    assert "  Title:     Breaking [2J ]0;pwned [newsmon] fake alert\n" in text


async def test_color_only_when_asked() -> None:
    plain, colored = io.StringIO(), io.StringIO()
    await ConsoleNotifier("t", ConsoleOptions(), stream=plain).send(make_alert())
    await ConsoleNotifier("t", ConsoleOptions(color=True), stream=colored).send(make_alert())
    assert "\x1b" not in plain.getvalue()
    assert colored.getvalue().startswith("\x1b[1m[newsmon] ATACMS used inside Russia\x1b[0m\n")


async def test_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    await ConsoleNotifier("t", ConsoleOptions()).send(make_alert())
    assert capsys.readouterr().out.startswith("[newsmon] ATACMS used inside Russia\n")


async def test_closed_stream_is_a_delivery_error() -> None:
    out = io.StringIO()
    out.close()
    with pytest.raises(DeliveryError) as caught:
        await ConsoleNotifier("t", ConsoleOptions(), stream=out).send(make_alert())
    assert isinstance(caught.value.__cause__, ValueError)


def test_registered_and_options_checked() -> None:
    assert REGISTRY["console"] is ConsoleNotifier
    with pytest.raises(TypeError):
        ConsoleNotifier("t", object())
