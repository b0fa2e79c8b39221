"""What the store fixtures (``store_url``, ``make_store``, ``store`` in conftest.py) open stores with."""

from __future__ import annotations

RETENTION = 30 * 86400.0
