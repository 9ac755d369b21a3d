"""Login, roles, catalog and inventory endpoints."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.conftest import Api

NEW_ITEM = {"sku": "X100", "name": "冰红茶", "category": "drink", "station": "counter",
            "price_cents": 450, "channel_prices": {"meituan": 600}, "safety_stock": 5}


async def test_health_is_the_only_open_api_route(client: TestClient) -> None:
    resp = await client.get("/api/v1/health")
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "ok" and body["store"] == "test-store"
    assert body["sync"] == {"connected": False, "configured": False,
                            "pending": body["sync"]["pending"], "applied_seq": 0,
                            "last_seq": body["sync"]["pending"],
                            "oldest_pending_s": body["sync"]["oldest_pending_s"]}
    assert body["sync"]["oldest_pending_s"] >= 0 and body["backup"] is None
    for path in ("/api/v1/catalog/items", "/api/v1/orders", "/api/v1/inventory", "/metrics"):
        resp = await client.get(path)
        assert resp.status == 401, path
        assert (await resp.json())["error"] == "unauthorized"


async def test_wrong_pin_is_401_and_repeated_failures_are_rate_limited(client: TestClient) -> None:
    for _ in range(5):
        resp = await client.post("/api/v1/auth/login", json={"staff": "cashier", "pin": "9999"})
        assert resp.status == 401
    resp = await client.post("/api/v1/auth/login", json={"staff": "cashier", "pin": "0000"})
    assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
    assert (await resp.json())["error"] == "too_many_attempts"


async def test_unknown_staff_is_401(client: TestClient) -> None:
    resp = await client.post("/api/v1/auth/login", json={"staff": "nobody", "pin": "0000"})
    assert resp.status == 401


async def test_cashier_cannot_change_prices_or_stock(cashier: Api) -> None:
    status, err = await cashier.call("PATCH", "/api/v1/catalog/items/C001", {"price_cents": 1})
    assert status == 403 and err["error"] == "forbidden"
    status, _ = await cashier.post("/api/v1/catalog/items", NEW_ITEM)
    assert status == 403
    status, _ = await cashier.post("/api/v1/inventory/movements",
                                   {"sku": "C001", "delta": 5, "reason": "receipt"})
    assert status == 403
    status, _ = await cashier.call("PUT", "/api/v1/inventory/C001/quotas", {"meituan": 1})
    assert status == 403
    _, item = await cashier.get("/api/v1/catalog/items/C001")
    assert item["price_cents"] == 2800


async def test_kitchen_cannot_place_orders(kitchen: Api) -> None:
    status, _ = await kitchen.post("/api/v1/orders", {"channel": "pos", "lines": [
        {"sku": "C001", "qty": 1}]}, headers={"Idempotency-Key": "kitchen-try-1"})
    assert status == 403


async def test_manager_creates_and_edits_items(manager: Api) -> None:
    status, item = await manager.post("/api/v1/catalog/items", NEW_ITEM)
    assert status == 201 and item["channel_prices"] == {"meituan": 600} and item["available"]
    status, err = await manager.post("/api/v1/catalog/items", NEW_ITEM)
    assert status == 409 and err["error"] == "sku_exists"
    status, item = await manager.call("PATCH", "/api/v1/catalog/items/X100",
                                      {"available": False, "price_cents": 500})
    assert status == 200 and item["available"] is False and item["price_cents"] == 500
    status, err = await manager.call("PATCH", "/api/v1/catalog/items/NOPE", {"available": False})
    assert status == 404 and err["error"] == "unknown_sku"
    _, inv = await manager.get("/api/v1/inventory")
    assert next(r for r in inv if r["sku"] == "X100") == {
        "sku": "X100", "name": "冰红茶", "on_hand": 0, "safety_stock": 5, "low": True,
        "quotas": {}}


async def test_sold_out_item_cannot_be_ordered(manager: Api, cashier: Api) -> None:
    await manager.call("PATCH", "/api/v1/catalog/items/C001", {"available": False})
    status, err = await cashier.post("/api/v1/orders", {"channel": "pos", "lines": [
        {"sku": "C001", "qty": 1}]}, headers={"Idempotency-Key": "sold-out-1"})
    assert status == 409 and err["error"] == "unavailable"


async def test_movements_and_stocktake(manager: Api) -> None:
    status, level = await manager.post("/api/v1/inventory/movements",
                                       {"sku": "S001", "delta": 24, "reason": "receipt"})
    assert status == 201 and level["on_hand"] == 124
    status, level = await manager.post("/api/v1/inventory/movements",
                                       {"sku": "S001", "counted": 120, "reason": "stocktake"})
    assert status == 201 and level["on_hand"] == 120
    status, err = await manager.post("/api/v1/inventory/movements",
                                     {"sku": "S001", "delta": -500, "reason": "waste"})
    assert status == 409 and err["error"] == "negative_stock"
    status, err = await manager.post("/api/v1/inventory/movements",
                                     {"sku": "S001", "counted": 5, "reason": "waste"})
    assert status == 422
    status, err = await manager.post("/api/v1/inventory/movements",
                                     {"sku": "NOPE", "delta": 1, "reason": "receipt"})
    assert status == 404


async def test_quota_removal_with_null(manager: Api) -> None:
    await manager.call("PUT", "/api/v1/inventory/C002/quotas", {"meituan": 2, "eleme": 3})
    status, body = await manager.call("PUT", "/api/v1/inventory/C002/quotas", {"meituan": None})
    assert status == 200 and body["quotas"] == {"eleme": 3}
    status, err = await manager.call("PUT", "/api/v1/inventory/C002/quotas", {"ubereats": 1})
    assert status == 422


async def test_metrics_in_prometheus_format(client: TestClient, manager: Api) -> None:
    await manager.post("/api/v1/orders", {"channel": "pos", "lines": [{"sku": "C001", "qty": 1}]},
                       headers={"Idempotency-Key": "metrics-order-1"})
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {manager.token}"})
    text = await resp.text()
    assert resp.status == 200
    assert 'storenode_orders_created_total{channel="pos"} 1.0' in text
    assert "storenode_http_request_duration_seconds_bucket" in text
    assert "storenode_outbox_pending" in text


async def test_openapi_covers_every_route(client: TestClient) -> None:
    resp = await client.get("/api/openapi.json")
    doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = {(r.method, r.resource.canonical) for r in client.app.router.routes()
              if r.resource is not None and r.method != "HEAD"
              and r.resource.canonical.startswith(("/api/v1", "/metrics"))}
    assert served == documented
