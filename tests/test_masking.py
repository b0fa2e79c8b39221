"""Every place that shows a store URL masks its password the same way (monitor.logs.mask_url)."""

from __future__ import annotations

import pytest

from monitor.model import SystemClock
from monitor.store import open_store
from monitor.store.redis import RedisStore


def test_unsupported_store_url_error_hides_the_password() -> None:
    with pytest.raises(ValueError, match="unsupported store URL") as caught:
        open_store("mysql://admin:hunter2secret@db.internal/news", retention=60, clock=SystemClock())
    assert "hunter2secret" not in str(caught.value)
    assert "mysql://admin:***@db.internal/news" in str(caught.value)


def test_redis_store_repr_hides_the_password() -> None:
    store = RedisStore("redis://newsmon:hunter2secret@127.0.0.1:1/0", retention=60, clock=SystemClock())
    assert repr(store) == "RedisStore('redis://newsmon:***@127.0.0.1:1/0')"
