"""A store with three tables (A1: 4 seats, A2: 2, R1: 10) and a history of closed seatings:
six of two guests that lasted 30 minutes (queue A is measured), three of four guests (too few:
queue B uses its default), none of five and more."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from common.clock import iso, utc_now
from edge import keys
from edge.config import load_settings

from tests.helpers import store_with_tables

TABLES = (("A1", "A1", 4, "hall"), ("A2", "A2", 2, "hall"), ("R1", "包间1", 10, "rooms"))
SEATINGS = [(2, 30)] * 6 + [(4, 50)] * 3  # (guests, minutes)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    data_dir = store_with_tables(tmp_path / "store", TABLES)
    seed_seatings(load_settings(data_dir).db_path, SEATINGS)
    return data_dir


def seed_seatings(db_path: Path, seatings: list[tuple[int, int]]) -> None:
    """Closed seatings at table A1, a day ago."""
    closed = utc_now() - timedelta(days=1)
    with sqlite3.connect(db_path) as conn:
        for n, (guests, minutes) in enumerate(seatings):
            end = closed - timedelta(hours=2 * n)
            conn.execute("INSERT INTO table_sessions(id, table_id, guests, opened_at, opened_by, "
                         "closed_at) VALUES (?, 'A1', ?, ?, 'seed', ?)",
                         (f"SEED{n:022d}", guests, iso(end - timedelta(minutes=minutes)),
                          iso(end)))
    conn.close()


async def outbox(client: TestClient, prefix: str = "waitlist.") -> list[dict[str, Any]]:
    """The committed events of that type prefix, in order."""
    def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        return [{"type": r[0], "data": orjson.loads(r[1])} for r in conn.execute(
            "SELECT type, data FROM outbox WHERE type LIKE ? ORDER BY seq", (prefix + "%",))]
    return await client.app[keys.DB].read(read)
