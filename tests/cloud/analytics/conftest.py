"""Fixtures of the HQ analytics tests: a ``CloudDb`` on each backend (SQLite, PostgreSQL)
with stores s1, s2 (tenant acme) and x1 (tenant other), and helpers that write members,
orders and views straight into HQ's tables, at chosen times."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloud.analytics.sql import iso
from cloud.database import CloudDb
from cloud.members import consent
from tests.cloud.sync.conftest import db_url  # noqa: F401  (both backends)

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
STORES = {"s1": "acme", "s2": "acme", "x1": "other"}


@pytest.fixture
def hq(db_url: str) -> Iterator[CloudDb]:  # noqa: F811
    cloud = CloudDb.open(db_url)
    for store, tenant in STORES.items():
        cloud.add_store(store, tenant)
    yield cloud
    cloud.close()


def ago(days: float = 0, hours: float = 0) -> str:
    return iso(NOW - timedelta(days=days, hours=hours))


def recent(days: float = 0) -> str:
    """``days`` before the real now (for the API and the CLI, which use the clock)."""
    return iso(datetime.now(UTC) - timedelta(days=days))


def add_member(hq: CloudDb, member: str, tenant: str = "acme", birthday: str | None = None,
               merged_into: str | None = None, marketing: bool = True) -> None:
    """A member (who granted marketing, so the automation may reach them, unless told not)."""
    with hq._db.write():
        hq._db.execute("INSERT INTO members(id, tenant, origin, birthday, created_at, "
                       "merged_into, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (member, tenant, "s1", birthday, ago(500), merged_into, ago(500)))
        if marketing:
            consent.change(hq._db, member, {"marketing": True}, "hq", None, ago(500))


class Orders:
    """Orders with consecutive ids at one store; each its lines (one per SKU, qty 1)."""

    def __init__(self, hq: CloudDb) -> None:
        self.hq, self.n = hq, 0

    def add(self, member: str | None, at: str, total: int = 1000, skus: tuple[str, ...] = (),
            store: str = "s1", status: str = "completed") -> str:
        self.n += 1
        order_id = f"o{self.n:05d}"
        db = self.hq._db
        with db.write():
            db.execute("INSERT INTO orders(store, id, status, total_cents, member, created_at, "
                       "updated_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (store, order_id, status, total, member, at, at, self.n))
            for n, sku in enumerate(skus, 1):
                db.execute("INSERT INTO order_lines(store, order_id, line_no, sku, qty) "
                           "VALUES (?, ?, ?, ?, 1)", (store, order_id, n, sku))
        return order_id


@pytest.fixture
def orders(hq: CloudDb) -> Orders:
    return Orders(hq)


def add_view(hq: CloudDb, member: str, at: str, skus: list[str], tenant: str = "acme") -> None:
    with hq._db.write():
        hq._db.execute("INSERT INTO member_views(tenant, member, store, skus, at) "
                       "VALUES (?, ?, 's1', ?, ?)", (tenant, member, json.dumps(skus), at))


def feed(hq: CloudDb, store: str, type_: str) -> list[dict[str, Any]]:
    return [c for c in hq.changes_since(store, 0, limit=100_000).changes if c["type"] == type_]
