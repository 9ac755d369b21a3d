"""Fixtures of the campaign tests: a ``CloudDb`` on each backend with stores s1 and s2 (tenant
acme), and tills that send real ``order.placed`` / ``order.status_changed`` batches, so
attribution runs where it runs in production (the projection of the store's batch). Members
come from the analytics tests' ``add_member`` (marketing granted unless told not)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cloud.database import CloudDb
from sync import messages
from tests.cloud.sync.conftest import db_url  # noqa: F401  (both backends)
from tests.cloud.sync.sim import EdgeSim

BODY: dict[str, Any] = {"name": "Spring on Douyin", "source": "douyin", "starts": "2026-06-01",
                        "ends": "2026-06-30", "cost_cents": 50_000, "window_days": 7}


@pytest.fixture
def hq(db_url: str) -> Iterator[CloudDb]:  # noqa: F811
    cloud = CloudDb.open(db_url)
    for store in ("s1", "s2"):
        cloud.add_store(store, "acme")
    yield cloud
    cloud.close()


def campaign(hq: CloudDb, cid: str, **changes: Any) -> dict[str, Any]:
    stored, _ = hq.set_campaign(cid, {**BODY, **changes})
    return stored


def visit(hq: CloudDb, cid: str, at: str, visitor: str | None = None,
          member: str | None = None) -> None:
    body: dict[str, Any] = {"campaign": cid}
    body.update({k: v for k, v in (("visitor", visitor), ("member", member)) if v})
    assert hq.track_visit(body, at)["status"] == "recorded"


class Till(EdgeSim):
    """One store's orders at chosen times, sent to HQ as the store's batches."""

    def __init__(self, store: str) -> None:
        super().__init__(store)
        self.sent = 0
        self.placed: dict[str, dict[str, Any]] = {}

    def sell(self, member: str | None, at: str, total: int = 1000,
             channel: str = "pos") -> str:
        order_id = f"{self.store}-o{len(self.placed) + 1:04d}"
        order = {"id": order_id, "number": len(self.placed) + 1, "day": at[:10],
                 "channel": channel, "status": "placed", "total_cents": total,
                 "member": member, "table": None, "pickup": False, "created_at": at,
                 "updated_at": at, "lines": [{"line_no": 1, "sku": "C001", "qty": 1,
                                              "unit_cents": total, "total_cents": total}]}
        self.placed[order_id] = order
        self.emit("order.placed", {"order": order})
        return order_id

    def cancel(self, order_id: str) -> None:
        order = {**self.placed[order_id], "status": "cancelled"}
        self.emit("order.status_changed", {"order": order, "from": "placed",
                                           "to": "cancelled"})

    def send(self, hq: CloudDb) -> None:
        ack = hq.apply_batch("acme", self.store, messages.encode(
            messages.up_batch(self.store, self.events[self.sent:])))
        assert ack.kind == "applied", ack
        self.sent = len(self.events)


@pytest.fixture
def tills() -> dict[str, Till]:
    return {s: Till(s) for s in ("s1", "s2")}


def attributed(hq: CloudDb) -> dict[str, str]:
    """order id -> campaign, as stored."""
    return {r[0]: r[1] for r in hq._db.execute(
        "SELECT order_id, campaign FROM order_attributions").fetchall()}
