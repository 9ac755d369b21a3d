"""Status callbacks on SQLite and PostgreSQL: what the store does with a platform order
(events applied by HQ exactly once) is queued as callbacks and sent, signed, to a real local
HTTP server playing the platform, retried with backoff until it answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cloud.platforms.callbacks import backoff_s
from cloud.platforms.settings import PlatformSettings
from devtools.stack import eventually
from tests.cloud.sync.sim import EdgeSim
from tests.conftest import Api

from . import signed
from .conftest import PlatformStub
from .test_webhooks import db, feed, post


def placed(sim: EdgeSim, order_id: str, channel: str) -> dict[str, Any]:
    at = sim._at()
    order = {"id": order_id, "number": 1, "day": sim.day, "channel": channel,
             "status": "placed", "total_cents": 3000, "member": None, "table": None,
             "pickup": False, "created_at": at, "updated_at": at, "stations": ["kitchen"],
             "lines": [{"line_no": 1, "sku": "C001", "name": "C", "qty": 2, "unit_cents": 1500,
                        "total_cents": 3000, "station": "kitchen", "note": None}]}
    sim.emit("order.placed", {"order": order, "stock": []})
    return order


def moved(sim: EdgeSim, order: dict[str, Any], to: str) -> None:
    sim.emit("order.status_changed", {"order": {**order, "status": to}, "from": order["status"],
                                      "to": to})
    order["status"] = to


@pytest.mark.parametrize("platform", signed.PLATFORMS_UNDER_TEST)
async def test_store_status_changes_reach_the_platform(
        hq: TestClient, admin: Api, stub: tuple[PlatformStub, str], platform: str) -> None:
    calls = stub[0]
    good, refused = signed.order(), signed.order()
    for unified in (good, refused):
        status, body = await post(hq, platform, *signed.request(platform, unified))
        assert status == 200, body
    cursors = {c["data"]["platform_order_id"]: c["cursor"] for c in await feed(hq)}
    channel = "meituan" if platform == "generic" else platform
    sim = EdgeSim("s1")
    order = placed(sim, "01JPLATFORMORDER0000000001", channel)
    sim.emit("platform.order_linked", {"platform": platform,
                                       "platform_order_id": good["platform_order_id"],
                                       "order_id": order["id"], "number": 1})
    for to in ("accepted", "preparing", "ready"):
        moved(sim, order, to)
    sim.emit("sync.change_rejected", {"cursor": cursors[refused["platform_order_id"]],
                                      "type": "platform.order",
                                      "reason": "Conflict: out_of_stock"})
    own = placed(sim, "01JOWNORDERONMEITUAN000001", channel)  # no platform order behind it
    moved(sim, own, "accepted")
    payload = sim.payload(1, len(sim.events))
    assert (await db(hq, "apply_batch", "acme", "s1", payload)).kind == "applied"
    assert (await db(hq, "apply_batch", "acme", "s1", payload)).kind == "duplicate"

    def got() -> list[tuple[str, str, str]]:
        return sorted((c["order_id"], c["status"], c["reason"]) for c in calls.received)

    expected = sorted([(good["platform_order_id"], "accepted", ""),
                       (good["platform_order_id"], "ready", ""),
                       (refused["platform_order_id"], "cancelled", "Conflict: out_of_stock")])
    await eventually(lambda: got() == expected, timeout=20)
    assert calls.bad_signatures == 0
    assert all(n == 2 for n in calls.attempts.values()), calls.attempts  # one 500, then ok
    sent = await db(hq, "platform_callbacks", "sent")
    assert len(sent) == 3 and all(r["attempts"] == 2 for r in sent)
    rows = {r["platform_order_id"]: r for r in await db(hq, "platform_orders", "s1")}
    assert rows[good["platform_order_id"]]["status"] == "ready"
    assert rows[good["platform_order_id"]]["order_id"] == order["id"]
    assert rows[refused["platform_order_id"]]["status"] == "rejected"
    await asyncio.sleep(0.3)
    assert len(calls.received) == 3  # nothing sent twice


async def test_status_changes_applied_in_a_group_reach_the_platform(
        hq: TestClient, admin: Api, stub: tuple[PlatformStub, str]) -> None:
    """Batches applied as one group (as the ingest does at the peak) read the platform orders
    of all their status changes together: a link made by an earlier batch of the group is
    seen, one made in the same batch as the status change too, and a store's own order on a
    platform channel queues nothing."""
    calls = stub[0]
    first, second = signed.order(), signed.order()
    for unified in (first, second):
        assert (await post(hq, "meituan", *signed.request("meituan", unified)))[0] == 200
    s1, s2 = EdgeSim("s1"), EdgeSim("s2")
    o1 = placed(s1, "01JGROUPEDPLATFORMORDER001", "meituan")
    s1.emit("platform.order_linked", {"platform": "meituan", "order_id": o1["id"],
                                      "platform_order_id": first["platform_order_id"]})
    own = placed(s2, "01JGROUPEDOWNMEITUANORDER1", "meituan")
    moved(s2, own, "accepted")
    marks = {"s1": [len(s1.events)], "s2": [len(s2.events)]}
    moved(s1, o1, "accepted")
    o2 = placed(s1, "01JGROUPEDPLATFORMORDER002", "meituan")
    s1.emit("platform.order_linked", {"platform": "meituan", "order_id": o2["id"],
                                      "platform_order_id": second["platform_order_id"]})
    moved(s1, o2, "accepted")  # linked in this same batch
    moved(s2, own, "ready")
    marks["s1"].append(len(s1.events))
    marks["s2"].append(len(s2.events))
    moved(s1, o1, "ready")  # both linked by earlier batches of the group
    moved(s1, o2, "ready")
    marks["s1"].append(len(s1.events))

    def batches(sim: EdgeSim) -> list[tuple[str, str, bytes]]:
        ends = marks[sim.store]
        return [("acme", sim.store, sim.payload(a + 1, b)) for a, b in zip([0, *ends], ends)]

    one, two = batches(s1), batches(s2)
    acks, _, grouped = await db(hq, "apply_batches", [one[0], two[0], one[1], two[1], one[2]])
    assert grouped and [a.kind for a in acks] == ["applied"] * 5

    def got() -> list[tuple[str, str]]:
        return sorted((c["order_id"], c["status"]) for c in calls.received)

    expected = sorted((u["platform_order_id"], status) for u in (first, second)
                      for status in ("accepted", "ready"))
    await eventually(lambda: got() == expected, timeout=20)
    rows = {r["platform_order_id"]: r for r in await db(hq, "platform_orders", "s1")}
    assert [rows[u["platform_order_id"]]["status"] for u in (first, second)] == ["ready"] * 2
    await asyncio.sleep(0.3)
    assert len(calls.received) == 4  # nothing for s2's own order, nothing twice


async def test_a_callback_is_given_up_after_max_attempts(
        hq: TestClient, admin: Api, stub: tuple[PlatformStub, str]) -> None:
    stub[0].fail_first = 100
    unified = signed.order()
    assert (await post(hq, "eleme", *signed.request("eleme", unified)))[0] == 200
    sim = EdgeSim("s1")
    order = placed(sim, "01JPLATFORMORDER0000000002", "eleme")
    sim.emit("platform.order_linked", {"platform": "eleme", "order_id": order["id"],
                                       "platform_order_id": unified["platform_order_id"]})
    moved(sim, order, "accepted")
    assert (await db(hq, "apply_batch", "acme", "s1",
                     sim.payload(1, len(sim.events)))).kind == "applied"

    async def failed() -> list[dict[str, Any]]:
        return list(await db(hq, "platform_callbacks", "failed"))

    (row,) = await eventually(failed, timeout=20)
    assert row["attempts"] == 4 and "HTTP 500" in row["last_error"]
    assert stub[0].attempts[("eleme", unified["platform_order_id"], "accepted")] == 4


def test_backoff_doubles_up_to_an_hour() -> None:
    settings = PlatformSettings(callback_backoff_s=2.0)
    assert [backoff_s(settings, n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff_s(settings, 30) == 3600.0
