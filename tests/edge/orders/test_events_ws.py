"""The /api/v1/events WebSocket: live push in seq order, resume with ?after= misses nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import Api

ORDER = {"channel": "pos", "lines": [{"sku": "C004", "qty": 1}]}


async def place(api: Api) -> dict[str, Any]:
    status, order = await api.post("/api/v1/orders", ORDER,
                                   headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201
    return order  # type: ignore[no-any-return]


async def receive(ws: Any, count: int) -> list[dict[str, Any]]:
    return [await asyncio.wait_for(ws.receive_json(), 5) for _ in range(count)]


async def test_live_events_in_seq_order(client: TestClient, cashier: Api) -> None:
    ws = await client.ws_connect(f"/api/v1/events?token={cashier.token}")
    try:
        order = await place(cashier)
        placed, = await receive(ws, 1)
        answer = {k: v for k, v in order.items() if k != "feedback_url"}  # the answer's only
        assert placed["type"] == "order.placed" and placed["data"]["order"] == answer
        # the sale's stock movement travels in the order's event (no stock.moved for it)
        assert placed["data"]["stock"] == [{"sku": "C004", "delta": -1, "on_hand": 99}]
        assert {"event_id", "store", "seq", "type", "v", "at", "hlc", "data"} <= placed.keys()
        assert placed["at"] == order["created_at"]
        second = await place(cashier)
        (next_placed,) = await receive(ws, 1)
        assert next_placed["seq"] == placed["seq"] + 1
        assert next_placed["data"]["order"]["id"] == second["id"]
        assert next_placed["event_id"] > placed["event_id"]
    finally:
        await ws.close()


async def test_resume_after_seq_misses_nothing(client: TestClient, cashier: Api) -> None:
    ws = await client.ws_connect(f"/api/v1/events?token={cashier.token}")
    first = await place(cashier)
    backlog = await receive(ws, 1)
    await ws.close()
    last_seen = backlog[-1]["seq"]
    assert backlog[0]["data"]["order"]["id"] == first["id"]
    # the tablet is away while two more orders are placed
    missed = [await place(cashier), await place(cashier)]
    ws = await client.ws_connect(f"/api/v1/events?after={last_seen}",
                                 headers={"Authorization": f"Bearer {cashier.token}"})
    try:
        replayed = await receive(ws, 2)
        live = await place(cashier)
        after_live = await receive(ws, 1)
    finally:
        await ws.close()
    seqs = [e["seq"] for e in replayed + after_live]
    assert seqs == list(range(last_seen + 1, last_seen + 4))
    # a full replay from 0 starts with the catalog import and contains every order; events
    # for HQ alone (staff.changed with its PIN hash, config.changed) never reach the LAN
    ws = await client.ws_connect(f"/api/v1/events?after=0&token={cashier.token}")
    everything: list[dict[str, Any]] = []
    try:
        while not everything or everything[-1]["seq"] < last_seen + 3:
            everything += await receive(ws, 1)
    finally:
        await ws.close()
    seqs = [e["seq"] for e in everything]
    assert seqs == sorted(set(seqs)) and seqs[-1] == last_seen + 3
    assert everything[0]["type"] == "catalog.item_changed"
    assert not [e for e in everything if e["type"].startswith(("staff.", "config."))]
    placed = {e["data"]["order"]["id"] for e in everything if e["type"] == "order.placed"}
    assert placed == {o["id"] for o in [first, *missed, live]}
    ids = [e["data"]["order"]["id"] for e in replayed + after_live if e["type"] == "order.placed"]
    assert ids == [missed[0]["id"], missed[1]["id"], live["id"]]


async def test_status_change_and_low_stock_alert_are_pushed(client: TestClient, cashier: Api,
                                                            kitchen: Api, manager: Api) -> None:
    ws = await client.ws_connect(f"/api/v1/events?token={kitchen.token}")
    try:
        # C001 has safety stock 20 in the demo catalog: 100 -> 15 crosses it
        status, _ = await manager.post("/api/v1/inventory/movements",
                                       {"sku": "C001", "delta": -85, "reason": "waste"})
        assert status == 201
        moved, low = await receive(ws, 2)
        assert low["type"] == "stock.low" and low["data"] == {
            "sku": "C001", "on_hand": 15, "safety_stock": 20}
        order = await place(cashier)
        await receive(ws, 1)
        await kitchen.post(f"/api/v1/orders/{order['id']}/transitions", {"to": "accepted"})
        (changed,) = await receive(ws, 1)
        assert changed["type"] == "order.status_changed"
        assert changed["data"]["from"] == "placed" and changed["data"]["to"] == "accepted"
    finally:
        await ws.close()


async def test_events_need_a_token(client: TestClient) -> None:
    resp = await client.get("/api/v1/events")
    assert resp.status == 401 and (await resp.json())["error"] == "unauthorized"
    resp = await client.get("/api/v1/events?after=abc&token=x.y")
    assert resp.status == 401


async def test_bad_after_is_400(client: TestClient, cashier: Api) -> None:
    resp = await client.get(f"/api/v1/events?after=-1&token={cashier.token}")
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_query"


async def test_a_sale_crossing_safety_stock_sends_stock_low_after_the_order(
        client: TestClient, cashier: Api, manager: Api) -> None:
    ws = await client.ws_connect(f"/api/v1/events?token={cashier.token}")
    try:
        # C001: safety stock 20 in the demo catalog; 100 -> 20 is not below it yet
        status, _ = await manager.post("/api/v1/inventory/movements",
                                       {"sku": "C001", "delta": -80, "reason": "waste"})
        assert status == 201
        (moved,) = await receive(ws, 1)
        assert moved["type"] == "stock.moved" and moved["data"] == {
            "sku": "C001", "delta": -80, "reason": "waste", "ref": None, "on_hand": 20}
        status, order = await cashier.post(
            "/api/v1/orders", {"channel": "pos", "lines": [{"sku": "C001", "qty": 2},
                                                           {"sku": "C004", "qty": 1}]},
            headers={"Idempotency-Key": uuid.uuid4().hex})
        assert status == 201
        placed, low = await receive(ws, 2)
        assert placed["type"] == "order.placed" and placed["data"]["order"]["id"] == order["id"]
        assert placed["data"]["stock"] == [{"sku": "C001", "delta": -2, "on_hand": 18},
                                           {"sku": "C004", "delta": -1, "on_hand": 99}]
        assert low["type"] == "stock.low" and low["seq"] == placed["seq"] + 1
        assert low["data"] == {"sku": "C001", "on_hand": 18, "safety_stock": 20}
    finally:
        await ws.close()
