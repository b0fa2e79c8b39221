"""docs/webhooks.md's receiver helper, executed as written, against requests newsmon really sends."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from monitor.model import Alert
from monitor.notify.base import sample_alert
from monitor.notify.webhook import render, sign
from monitor.secret import Secret

DOC = Path(__file__).resolve().parents[1] / "docs" / "webhooks.md"
SECRET = "whsec-test"
NOW = 1_732_000_000


def helper() -> Callable[..., bool]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 1
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    verify = namespace["verify"]
    assert callable(verify)
    return verify


def signed(alert: Alert, timestamp: int) -> tuple[bytes, str, str]:
    body = render(alert, "json")
    headers = sign(Secret(SECRET), body, timestamp)
    return body, headers["X-Newsmon-Timestamp"], headers["X-Newsmon-Signature"]


def test_signature_ok() -> None:
    body, ts, sig = signed(sample_alert(), NOW)
    assert helper()(SECRET.encode(), body, ts, sig, now=NOW + 10) is True


def test_tampered_body_or_wrong_secret_rejected() -> None:
    verify = helper()
    body, ts, sig = signed(sample_alert(), NOW)
    assert verify(SECRET.encode(), body.replace(b"newsmon", b"newsman", 1), ts, sig, now=NOW) is False
    assert verify(b"other", body, ts, sig, now=NOW) is False
    assert verify(SECRET.encode(), body, str(NOW + 1), sig, now=NOW) is False  # the timestamp is signed
    assert verify(SECRET.encode(), body, "soon", sig, now=NOW) is False


def test_replay_older_than_five_minutes_rejected() -> None:
    verify = helper()
    body, ts, sig = signed(sample_alert(), NOW)
    assert verify(SECRET.encode(), body, ts, sig, now=NOW + 300) is True
    assert verify(SECRET.encode(), body, ts, sig, now=NOW + 301) is False
