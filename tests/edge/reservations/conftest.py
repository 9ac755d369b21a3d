"""A store with a small floor: two tables of 2, one of 4, one of 6 and a room of 10."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from common.clock import utc_now
from edge.config import load_settings

from tests.helpers import store_with_tables

TABLES = (("T2a", "2a", 2, "hall"), ("T2b", "2b", 2, "hall"), ("T4", "4", 4, "hall"),
          ("T6", "6", 6, "hall"), ("R10", "包间", 10, "rooms"))


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return store_with_tables(tmp_path / "store", TABLES)


def tomorrow(store_dir: Path, hhmm: str = "19:00", days: int = 1) -> str:
    """A shop-local time on a later day, as a booking states it."""
    tz: ZoneInfo = load_settings(store_dir).timezone
    day = (utc_now().astimezone(tz) + timedelta(days=days)).date().isoformat()
    return f"{day}T{hhmm}"


def booking(at: str, party: int = 2, **extra: object) -> dict[str, object]:
    return {"name": "王先生", "phone": "13800138000", "party": party, "at": at,
            "source": "phone", **extra}
