"""Order center over HTTP: idempotent create, pricing, stock, quotas, state machine."""

from __future__ import annotations

import asyncio
import uuid

from tests.conftest import Api


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


ORDER = {"channel": "pos", "lines": [{"sku": "C001", "qty": 2}, {"sku": "C002", "qty": 1, "note": "少辣"}]}


async def stock_of(api: Api, sku: str) -> int:
    _, inv = await api.get("/api/v1/inventory")
    return next(row["on_hand"] for row in inv if row["sku"] == sku)


async def test_create_prices_on_server_and_routes_stations(cashier: Api) -> None:
    status, order = await cashier.post("/api/v1/orders", {
        "channel": "meituan", "lines": [{"sku": "C001", "qty": 1}, {"sku": "C003", "qty": 2}],
        "pickup": True}, headers=key())
    assert status == 201
    assert order["status"] == "placed" and order["number"] == 1
    # meituan overrides: C001 3200, C003 2500
    assert [line["unit_cents"] for line in order["lines"]] == [3200, 2500]
    assert order["total_cents"] == 3200 + 2 * 2500
    assert order["stations"] == ["noodle", "wok"]
    assert order["pickup"] is True
    status, again = await cashier.get(f"/api/v1/orders/{order['id']}")
    assert status == 200 and again == order


async def test_daily_numbers_are_short_and_sequential(cashier: Api) -> None:
    numbers = []
    for _ in range(3):
        _, order = await cashier.post("/api/v1/orders", ORDER, headers=key())
        numbers.append(order["number"])
    assert numbers == [1, 2, 3]


async def test_same_key_same_body_returns_same_order(cashier: Api) -> None:
    k = key()
    s1, first = await cashier.post("/api/v1/orders", ORDER, headers=k)
    s2, second = await cashier.post("/api/v1/orders", ORDER, headers=k)
    assert (s1, s2) == (201, 200)
    assert first == second
    assert await stock_of(cashier, "C001") == 98  # decremented once


async def test_same_key_different_body_is_422_and_writes_nothing(cashier: Api) -> None:
    k = key()
    await cashier.post("/api/v1/orders", ORDER, headers=k)
    status, err = await cashier.post("/api/v1/orders", {**ORDER, "channel": "waiter"}, headers=k)
    assert status == 422 and err["error"] == "idempotency_key_reused"
    _, orders = await cashier.get("/api/v1/orders")
    assert len(orders) == 1


async def test_concurrent_retries_with_one_key_make_one_order(cashier: Api) -> None:
    k = key()
    results = await asyncio.gather(*[cashier.post("/api/v1/orders", ORDER, headers=k)
                                     for _ in range(10)])
    assert sorted(s for s, _ in results) == [200] * 9 + [201]
    assert len({o["id"] for _, o in results}) == 1


async def test_out_of_stock_is_409_and_nothing_written(cashier: Api, manager: Api) -> None:
    status, err = await cashier.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C001", "qty": 1}, {"sku": "C002", "qty": 101}]},
        headers=key())
    assert status == 409 and err["error"] == "out_of_stock"
    assert err["detail"] == [{"sku": "C002", "requested": 101, "available": 100}]
    assert await stock_of(manager, "C001") == 100
    _, orders = await cashier.get("/api/v1/orders")
    assert orders == []


async def test_quantities_of_one_sku_on_several_lines_add_up(cashier: Api) -> None:
    status, err = await cashier.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C001", "qty": 60}, {"sku": "C001", "qty": 41}]},
        headers=key())
    assert status == 409 and err["detail"][0]["requested"] == 101


async def test_channel_quota_caps_platform_but_not_pos(cashier: Api, manager: Api) -> None:
    status, body = await manager.call("PUT", "/api/v1/inventory/C001/quotas", {"meituan": 3})
    assert status == 200 and body["quotas"] == {"meituan": 3}
    ok, _ = await cashier.post("/api/v1/orders", {"channel": "meituan",
                                                  "lines": [{"sku": "C001", "qty": 2}]}, headers=key())
    assert ok == 201
    status, err = await cashier.post("/api/v1/orders", {"channel": "meituan",
                                                        "lines": [{"sku": "C001", "qty": 2}]}, headers=key())
    assert status == 409 and err["detail"] == [{"sku": "C001", "requested": 2, "available": 1}]
    ok, _ = await cashier.post("/api/v1/orders", {"channel": "pos",
                                                  "lines": [{"sku": "C001", "qty": 20}]}, headers=key())
    assert ok == 201
    _, inv = await manager.get("/api/v1/inventory")
    row = next(r for r in inv if r["sku"] == "C001")
    assert row["on_hand"] == 78 and row["quotas"]["meituan"] == {"limit": 3, "used_today": 2}


async def test_state_machine_and_cancel_restores_stock_and_quota(cashier: Api, kitchen: Api,
                                                                  manager: Api) -> None:
    await manager.call("PUT", "/api/v1/inventory/C001/quotas", {"eleme": 5})
    _, order = await cashier.post("/api/v1/orders", {"channel": "eleme",
                                                     "lines": [{"sku": "C001", "qty": 5}]}, headers=key())
    path = f"/api/v1/orders/{order['id']}/transitions"
    assert (await kitchen.post(path, {"to": "accepted"}))[0] == 200
    assert (await kitchen.post(path, {"to": "completed"}))[0] in (403, 409)
    status, err = await cashier.post(path, {"to": "cancelled"})
    assert status == 403  # cancelling is for managers
    status, cancelled = await manager.post(path, {"to": "cancelled"})
    assert status == 200 and cancelled["status"] == "cancelled"
    assert await stock_of(manager, "C001") == 100
    _, inv = await manager.get("/api/v1/inventory")
    assert next(r for r in inv if r["sku"] == "C001")["quotas"]["eleme"]["used_today"] == 0
    status, err = await manager.post(path, {"to": "accepted"})
    assert status == 409 and err["error"] == "invalid_transition"


async def test_full_happy_path(cashier: Api, kitchen: Api) -> None:
    _, order = await cashier.post("/api/v1/orders", ORDER, headers=key())
    path = f"/api/v1/orders/{order['id']}/transitions"
    for to, who in (("accepted", kitchen), ("preparing", kitchen), ("ready", kitchen),
                    ("completed", cashier)):
        status, body = await who.post(path, {"to": to})
        assert status == 200 and body["status"] == to
    status, err = await cashier.post(path, {"to": "cancelled"})
    assert status in (403, 409)
    _, done = await cashier.get("/api/v1/orders?status=completed")
    assert [o["id"] for o in done] == [order["id"]]


async def test_list_filters(cashier: Api) -> None:
    await cashier.post("/api/v1/orders", ORDER, headers=key())
    await cashier.post("/api/v1/orders", {**ORDER, "channel": "waiter", "table": "A3"}, headers=key())
    _, waiter = await cashier.get("/api/v1/orders?channel=waiter")
    assert len(waiter) == 1 and waiter[0]["table"] == "A3"
    _, none = await cashier.get("/api/v1/orders?since=2999-01-01T00:00:00Z")
    assert none == []
    status, err = await cashier.get("/api/v1/orders?since=yesterday")
    assert status == 400 and err["error"] == "invalid_query"
