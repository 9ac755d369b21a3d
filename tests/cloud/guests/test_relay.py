"""A guest on mobile data orders through HQ: a real Mosquitto from the provisioned files, HQ
(SQLite and PostgreSQL), an edge in-process. The order is relayed as a guest.order change and
answered from the store's events; the same Idempotency-Key through HQ and through the shop's
Wi-Fi makes one order; refusals come back; a store that is away answers 503 store_offline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cloud.app import create_app as create_hq
from cloud.config import load_settings as hq_settings
from devtools.stack import Hq, edge_app, eventually, hq_login
from tests.conftest import Api, login_as

LINES = [{"sku": "C002", "qty": 2, "note": "少辣"}]


async def _call(hq: TestClient, method: str, path: str, body: Any = None,
                key: str | None = None) -> tuple[int, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    resp = await hq.request(method, path, json=body, headers=headers)
    return resp.status, await resp.json()


async def _online(admin: Api) -> bool:
    _, stores = await admin.get("/api/v1/stores")
    return any(s["store"] == "s1" and s["online"] for s in stores)


async def _known_table(hq: TestClient, base: str) -> bool:
    return (await hq.get(f"{base}/menu")).status == 200


async def test_guest_orders_through_hq_reach_the_store_once(
        system: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    hq: TestClient = await aiohttp_client(create_hq(hq_settings(system.dir)))
    admin = await hq_login(hq)
    edge = await edge_app(tmp_path, system, "s1", aiohttp_client)
    manager = await login_as(edge, "manager")
    status, table = await manager.post("/api/v1/tables", {"id": "A1", "name": "A1", "seats": 4})
    assert status == 201
    await eventually(lambda: _online(admin))
    base = f"/api/v1/guest/s1/{table['token']}"
    await eventually(lambda: _known_table(hq, base))  # table.added (its token's hash) arrived

    status, menu = await _call(hq, "GET", f"{base}/menu")
    assert status == 200 and menu["online"] and menu["table"] == {"id": "A1", "name": "A1"}
    assert any(i["sku"] == "C002" and i["price_cents"] == 1800 for i in menu["items"])

    started = time.perf_counter()
    status, order = await _call(hq, "POST", f"{base}/orders", {"lines": LINES}, "mobile-0001")
    relayed_s = time.perf_counter() - started
    assert status == 201, order
    print(f"guest order through HQ answered in {relayed_s * 1000:.0f} ms")
    assert order["table"] == "A1" and order["total_cents"] == 3600 and order["status"] == "placed"
    assert "member" not in order
    status, again = await _call(hq, "POST", f"{base}/orders", {"lines": LINES}, "mobile-0001")
    assert status == 200 and again["id"] == order["id"]
    # the same key on the shop's Wi-Fi: the same order
    resp = await edge.post(f"/api/v1/guest/{table['token']}/orders", json={"lines": LINES},
                           headers={"Idempotency-Key": "mobile-0001"})
    assert resp.status == 200 and (await resp.json())["id"] == order["id"]
    _, orders = await manager.get("/api/v1/orders?channel=dine_in_qr")
    assert [o["id"] for o in orders] == [order["id"]]
    # the status comes back from the store's events
    await manager.post(f"/api/v1/orders/{order['id']}/transitions", {"to": "accepted"})

    async def accepted() -> bool:
        status, found = await _call(hq, "GET", f"{base}/orders/mobile-0001")
        return status == 200 and found["status"] == "accepted"
    await eventually(accepted)

    # a time-window price the store set: HQ's menu charges what the store will
    status, _ = await manager.call("PUT", "/api/v1/price-rules/all-day", {
        "skus": ["C002"], "from": "00:00", "to": "24:00", "kind": "price", "value": 1500})
    assert status in (200, 201)

    async def ruled() -> dict[str, Any] | None:
        _, menu = await _call(hq, "GET", f"{base}/menu")
        return next((i for i in menu["items"] if i["sku"] == "C002"
                     and i.get("price_rule") == "all-day"), None)
    assert (await eventually(ruled))["price_cents"] == 1500
    status, cheaper = await _call(hq, "POST", f"{base}/orders",
                                  {"lines": [{"sku": "C002", "qty": 1}]}, "mobile-0005")
    assert status == 201 and cheaper["total_cents"] == 1500, cheaper

    async def projected() -> list[dict[str, Any]] | None:  # HQ's orders name the rule too
        _, orders = await admin.get("/api/v1/stores/s1/orders?limit=10")
        found = [o for o in orders if o["id"] == cheaper["id"]]
        return found[0]["lines"] if found else None
    assert [ln["price_rule"] for ln in await eventually(projected)] == ["all-day"]

    # refusals come back as the store's answers; nothing is placed
    status, body = await _call(hq, "POST", f"{base}/orders",
                               {"lines": [{"sku": "C002", "qty": 500}]}, "mobile-0002")
    assert (status, body["error"]) == (409, "out_of_stock"), body
    status, body = await _call(hq, "POST", f"{base}/orders", {"lines": [{"sku": "C001",
                                                                         "qty": 1}]},
                               "mobile-0001")
    assert (status, body["error"]) == (422, "idempotency_key_reused")
    for bad in ({"lines": []}, {"lines": [{"sku": "C002", "qty": 1.0}]}, {"lines": LINES * 101}):
        assert (await _call(hq, "POST", f"{base}/orders", bad, "mobile-0003"))[0] == 422
    assert (await _call(hq, "POST", f"{base}/orders", {"lines": LINES}))[0] == 422  # no key
    for token in ("x" * 32, "nope"):
        status, body = await _call(hq, "POST", f"/api/v1/guest/s1/{token}/orders",
                                   {"lines": LINES}, "mobile-0004")
        assert (status, body["error"]) == (404, "unknown_table")
    assert (await _call(hq, "GET", f"/api/v1/guest/s9/{table['token']}/menu"))[0] == 404
    _, orders = await manager.get("/api/v1/orders?channel=dine_in_qr")
    assert len(orders) == 2  # the first and the one at the rule's price: no refusal placed

    # a rotated token is refused at HQ too, once the store's event arrived
    status, rotated = await manager.post("/api/v1/tables/A1/rotate", {})
    assert status == 200
    new_base = f"/api/v1/guest/s1/{rotated['token']}"
    await eventually(lambda: _known_table(hq, new_base))
    assert (await hq.get(f"{base}/menu")).status == 404

    # the store goes away: HQ says so at once, and writes nothing for the store
    await edge.close()

    async def offline() -> bool:
        return not await _online(admin)
    await eventually(offline)
    status, body = await _call(hq, "POST", f"{new_base}/orders", {"lines": LINES}, "mobile-0005")
    assert (status, body["error"]) == (503, "store_offline")
    status, menu = await _call(hq, "GET", f"{new_base}/menu")
    assert status == 200 and menu["online"] is False
