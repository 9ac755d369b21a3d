"""The guest at the table over the LAN: menu, orders, progress, calls, and abuse limits."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from devtools.api import Api

from .conftest import Guest

LINE = [{"sku": "C002", "qty": 2, "note": "少辣 <b>x</b>"}]


async def _count(client: TestClient, manager: Api, table: str | None = None) -> int:
    status, orders = await manager.get("/api/v1/orders?channel=dine_in_qr")
    assert status == 200
    return len([o for o in orders if table is None or o["table"] == table])


async def test_menu_is_at_the_qr_price_and_greys_sold_out(guest: Guest, manager: Api) -> None:
    await manager.call("PATCH", "/api/v1/catalog/items/C001",
                       {"channel_prices": {"dine_in_qr": 2500}})
    await manager.call("PATCH", "/api/v1/catalog/items/C003", {"available": False})
    status, menu = await guest.call("GET", "/menu")
    assert status == 200
    assert menu["table"] == {"id": "A1", "name": "A1"} and menu["store"] == "test-store"
    items = {i["sku"]: i for i in menu["items"]}
    assert items["C001"]["price_cents"] == 2500 and items["C002"]["price_cents"] == 1800
    assert items["C003"]["available"] is False and items["C002"]["available"] is True
    assert set(items["C001"]) == {"sku", "name", "name_en", "category", "price_cents",
                                  "available"}


async def test_an_order_opens_the_table_joins_its_session_and_replays(
        guest: Guest, client: TestClient, manager: Api) -> None:
    status, order = await guest.order(LINE, note="生日")
    assert status == 201, order
    assert order["table"] == "A1" and order["status"] == "placed" and order["note"] == "生日"
    assert order["total_cents"] == 3600 and order["lines"][0]["note"] == "少辣 <b>x</b>"
    assert "member" not in order and "station" not in order["lines"][0]
    again_status, again = await guest.order(LINE, note="生日")
    assert again_status == 200 and again["id"] == order["id"]
    status, reused = await guest.order([{"sku": "C001", "qty": 1}])  # same key, other body
    assert status == 422 and reused["error"] == "idempotency_key_reused"
    status, tables = await manager.get("/api/v1/tables")
    a1 = next(t for t in tables if t["id"] == "A1")
    assert a1["status"] == "seated"
    assert a1["session"]["orders"] == [order["id"]] == a1["session"]["guest_orders"]
    assert a1["session"]["total_cents"] == 3600
    status, seating = await guest.call("GET", "/orders")
    assert status == 200 and [o["id"] for o in seating["orders"]] == [order["id"]]
    assert seating["total_cents"] == 3600
    assert await _count(client, manager) == 1


async def test_a_staff_order_for_the_table_joins_the_guests_session(
        guest: Guest, cashier: Api) -> None:
    _, mine = await guest.order(LINE)
    status, staff = await cashier.post("/api/v1/orders", {
        "channel": "waiter", "table": "A1", "lines": [{"sku": "C001", "qty": 1}]},
        headers={"Idempotency-Key": "waiter-order-1"})
    assert status == 201
    _, seating = await guest.call("GET", "/orders")
    assert [o["id"] for o in seating["orders"]] == [mine["id"], staff["id"]]
    assert seating["total_cents"] == 3600 + 2800


async def test_a_guest_never_sees_another_tables_orders(guest: Guest, guest2: Guest) -> None:
    _, mine = await guest.order(LINE)
    status, other = await guest2.order(LINE)  # the same key at another table: its own order
    assert status == 201 and other["id"] != mine["id"] and other["table"] == "A2"
    _, seating = await guest2.call("GET", "/orders")
    assert [o["id"] for o in seating["orders"]] == [other["id"]]


async def test_unknown_and_rotated_tokens_answer_404(
        client: TestClient, guest: Guest, manager: Api) -> None:
    for token in ("nope", "x" * 32, "%00" * 10, "ＡＢＣ" * 10):
        status, body = await Guest(client, token).call("GET", "/menu")
        assert status == 404 and body["error"] == "unknown_table"
    status, rotated = await manager.post("/api/v1/tables/A1/rotate", {})
    assert status == 200 and rotated["token"] != guest.token
    status, body = await guest.order(LINE)
    assert status == 404 and body["error"] == "unknown_table"
    status, _ = await Guest(client, rotated["token"]).call("GET", "/menu")
    assert status == 200
    resp = await client.get(f"/t/{guest.token}")
    assert resp.status == 404


async def test_a_closed_table_refuses_orders_without_self_opening(
        store_dir: Any, aiohttp_client: Any, tokens: dict[str, str]) -> None:
    from edge.app import create_app
    from edge.config import load_settings

    settings = load_settings(store_dir, {"STORENODE_TABLES_SELF_OPEN": "false"})
    client = await aiohttp_client(create_app(settings))
    guest = Guest(client, tokens["A1"])
    status, body = await guest.order(LINE)
    assert status == 409 and body["error"] == "table_closed"
    login = await client.post("/api/v1/auth/login", json={"staff": "cashier", "pin": "0000"})
    staff = Api(client, (await login.json())["token"])
    assert (await staff.post("/api/v1/tables/A1/open", {"guests": 2}))[0] == 201
    assert (await guest.order(LINE))[0] == 201
    await client.close()


async def test_bad_orders_are_refused_and_write_nothing(
        guest: Guest, client: TestClient, manager: Api) -> None:
    cases: list[tuple[Any, int, str]] = [
        ({"lines": [{"sku": "C002", "qty": 0}]}, 422, "invalid_body"),
        ({"lines": [{"sku": "C002", "qty": 10000}]}, 422, "invalid_body"),
        ({"lines": [{"sku": "C002", "qty": 1.0}]}, 422, "invalid_body"),
        ({"lines": [{"sku": "NOPE1", "qty": 1}]}, 422, "unknown_sku"),
        ({"lines": [{"sku": "C002", "qty": 1}] * 300}, 422, "invalid_body"),
        ({"lines": []}, 422, "invalid_body"),
        ({"lines": LINE, "channel": "pos"}, 422, "invalid_body"),
        ({"lines": [{"sku": "C002", "qty": 1, "note": "x" * 201}]}, 422, "invalid_body"),
        ({"lines": [{"sku": "C002", "qty": 101}]}, 409, "out_of_stock"),
    ]
    for n, (body, status, code) in enumerate(cases):
        got, answer = await guest.call("POST", "/orders", body,
                                       {"Idempotency-Key": f"bad-order-{n:04d}"})
        assert (got, answer.get("error")) == (status, code), (body, answer)
    resp = await client.post(f"{guest.base}/orders", data=b'{"lines": [{"sku": "\\ud800"}]}',
                             headers={"Idempotency-Key": "bad-order-json",
                                      "Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["error"] == "malformed_json"
    status, body = await guest.call("POST", "/orders", {"lines": LINE})  # no key
    assert status == 422 and body["error"] == "idempotency_key_required"
    assert await _count(client, manager) == 0
    _, tables = await manager.get("/api/v1/tables")
    assert all(t["session"] is None for t in tables)  # not even the seating was opened


async def test_rate_limit_per_table_and_open_order_cap(guest: Guest, guest2: Guest) -> None:
    for n in range(5):  # max_open_orders: 5
        assert (await guest.order([{"sku": "C002", "qty": 1}], key=f"cap-{n:06d}"))[0] == 201
    status, body = await guest.order([{"sku": "C002", "qty": 1}], key="cap-000005")
    assert status == 409 and body["error"] == "too_many_open_orders"
    for n in range(6, 10):
        await guest.order([{"sku": "C002", "qty": 1}], key=f"cap-{n:06d}")
    status, body = await guest.order([{"sku": "C002", "qty": 1}], key="cap-000010")
    assert status == 429 and body["error"] == "slow_down" and body["detail"]["retry_after_s"] > 0
    assert (await guest2.order(LINE))[0] == 201  # another table is not slowed down


async def test_calls_reach_staff_as_events_and_can_be_acknowledged(
        guest: Guest, cashier: Api, client: TestClient) -> None:
    ws = await client.ws_connect(f"/api/v1/events?token={cashier.token}")
    status, made = await guest.call("POST", "/calls", {"kind": "water"})
    assert status == 202 and made["kind"] == "water"
    event = await asyncio.wait_for(ws.receive_json(), 2)
    assert event["type"] == "table.call"
    assert event["data"]["table"] == "A1" and event["data"]["kind"] == "water"
    _, tables = await cashier.get("/api/v1/tables")
    a1 = next(t for t in tables if t["id"] == "A1")
    assert [c["kind"] for c in a1["calls"]] == ["water"]
    status, _ = await cashier.post(f"/api/v1/tables/A1/calls/{made['id']}/ack", {})
    assert status == 200
    assert (await asyncio.wait_for(ws.receive_json(), 2))["type"] == "table.call_acked"
    _, tables = await cashier.get("/api/v1/tables")
    assert next(t for t in tables if t["id"] == "A1")["calls"] == []
    assert (await cashier.post(f"/api/v1/tables/A1/calls/{made['id']}/ack", {}))[0] == 404
    assert (await guest.call("POST", "/calls", {"kind": "taxi"}))[0] == 422
    await ws.close()


async def test_the_guest_socket_shows_only_this_seatings_progress_and_resumes(
        guest: Guest, guest2: Guest, kitchen: Api, client: TestClient) -> None:
    ws = await client.ws_connect(f"{guest.base}/events")
    _, mine = await guest.order(LINE)
    _, other = await guest2.order(LINE)
    for target in ("accepted", "preparing", "ready"):
        await kitchen.post(f"/api/v1/orders/{other['id']}/transitions", {"to": target})
        await kitchen.post(f"/api/v1/orders/{mine['id']}/transitions", {"to": target})
    seen = []
    while len(seen) < 4:
        event = await asyncio.wait_for(ws.receive_json(), 2)
        if event["type"].startswith("order."):
            seen.append(event)
    assert [e["data"]["order"]["id"] for e in seen] == [mine["id"]] * 4
    assert [e["data"]["order"]["status"] for e in seen] == ["placed", "accepted", "preparing",
                                                            "ready"]
    assert "member" not in seen[-1]["data"]["order"] and "stock" not in seen[0]["data"]
    await ws.close()
    resumed = await client.ws_connect(f"{guest.base}/events?after={seen[1]['seq']}")
    statuses = []
    while len(statuses) < 2:
        event = await asyncio.wait_for(resumed.receive_json(), 2)
        if event["type"].startswith("order."):
            statuses.append(event["data"]["order"]["status"])
    assert statuses == ["preparing", "ready"]
    await resumed.close()


async def test_guest_routes_need_no_staff_token_but_staff_routes_do(
        guest: Guest, client: TestClient) -> None:
    assert (await client.get("/api/v1/tables")).status == 401
    assert (await client.get(f"{guest.base}/menu")).status == 200
    page = await client.get(f"/t/{guest.token}", headers={"Accept-Encoding": "gzip"})
    assert page.status == 200 and page.headers["Referrer-Policy"] == "no-referrer"
