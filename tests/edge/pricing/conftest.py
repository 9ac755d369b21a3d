"""A controllable shop clock for the price-rule tests: the store runs on Asia/Shanghai."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

SetClock = Callable[[str], None]


@pytest.fixture
def shop_clock(monkeypatch: pytest.MonkeyPatch) -> SetClock:
    """``shop_clock("2026-12-07 12:00")`` sets the shop-local time (UTC+8) that order create,
    the catalog listing and the guest's menu read."""

    def set_clock(local: str) -> None:
        moment = datetime.fromisoformat(local).replace(tzinfo=UTC) - timedelta(hours=8)
        for module in ("edge.orders.writes", "edge.catalog.routes", "edge.tables.guest"):
            monkeypatch.setattr(f"{module}.utc_now", lambda: moment)

    return set_clock
