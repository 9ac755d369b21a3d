"""Staff at the floor: open, move, close (paid or forced), statuses, adding tables."""

from __future__ import annotations

from devtools.api import Api

from .conftest import Guest

LINE = [{"sku": "C002", "qty": 1}]


async def _table(api: Api, table_id: str) -> dict:
    _, tables = await api.get("/api/v1/tables")
    return next(t for t in tables if t["id"] == table_id)


async def test_open_move_close_a_seating(cashier: Api, manager: Api, guest: Guest) -> None:
    status, session = await cashier.post("/api/v1/tables/A1/open", {"guests": 3})
    assert status == 201 and session["guests"] == 3
    status, body = await cashier.post("/api/v1/tables/A1/open", {"guests": 3})
    assert status == 409 and body["error"] == "table_busy"
    _, order = await guest.order(LINE)
    status, body = await cashier.post("/api/v1/tables/A1/move", {"to": "A1"})
    assert status == 422 and body["error"] == "same_table"
    assert (await cashier.post("/api/v1/tables/A1/move", {"to": "ZZ"}))[0] == 404
    status, moved = await cashier.post("/api/v1/tables/A1/move", {"to": "R1"})
    assert status == 200 and moved["orders"] == [order["id"]]
    r1, a1 = await _table(cashier, "R1"), await _table(cashier, "A1")
    assert r1["session"]["id"] == session["id"] and r1["session"]["orders"] == [order["id"]]
    assert a1["session"] is None and a1["status"] == "cleaning"
    _, moved_order = await cashier.get(f"/api/v1/orders/{order['id']}")
    assert moved_order["table"] == "R1"
    status, body = await cashier.post("/api/v1/tables/R1/close", {})
    assert status == 409 and body["error"] == "unpaid_orders"
    assert body["detail"]["orders"] == [order["id"]]
    status, body = await cashier.post("/api/v1/tables/R1/close", {"force": True})
    assert status == 403
    status, paid = await cashier.post(f"/api/v1/orders/{order['id']}/payment",
                                      {"tenders": [{"kind": "cash",
                                                    "amount_cents": order["total_cents"]}]},
                                      headers={"Idempotency-Key": "pay-order-0001"})
    assert status == 201, paid
    status, closed = await cashier.post("/api/v1/tables/R1/close", {})
    assert status == 200 and closed["total_cents"] == order["total_cents"]
    assert (await _table(cashier, "R1"))["status"] == "cleaning"
    status, _ = await cashier.post("/api/v1/tables/R1/status", {"to": "free"})
    assert status == 200 and (await _table(cashier, "R1"))["status"] == "free"
    status, body = await cashier.post("/api/v1/tables/R1/status", {"to": "bill"})
    assert status == 409 and body["error"] == "invalid_table_status"


async def test_a_manager_may_force_close_with_unpaid_orders(
        manager: Api, guest: Guest) -> None:
    _, order = await guest.order(LINE)
    status, closed = await manager.post("/api/v1/tables/A1/close", {"force": True})
    assert status == 200 and closed["forced"] and closed["unpaid"] == [order["id"]]
    assert (await _table(manager, "A1"))["session"] is None
    _, seating = await guest.call("GET", "/orders")
    assert seating["orders"] == []  # a new guest at A1 does not see the last party's orders
    status, again = await guest.order(LINE)  # a late retry: the order it placed, no new seating
    assert status == 200 and again["id"] == order["id"]
    assert (await _table(manager, "A1"))["session"] is None


async def test_asking_for_the_bill_marks_the_table(cashier: Api, guest: Guest) -> None:
    await guest.order(LINE)
    await guest.call("POST", "/calls", {"kind": "bill"})
    assert (await _table(cashier, "A1"))["status"] == "bill"


async def test_adding_tables_and_bad_input(manager: Api, cashier: Api) -> None:
    status, table = await manager.post("/api/v1/tables", {"id": "T9", "name": "露台9",
                                                          "seats": 6, "area": "terrace"})
    assert status == 201 and table["url"] == f"/t/{table['token']}"
    assert len(table["token"]) >= 22
    assert (await manager.post("/api/v1/tables", {"id": "T9", "name": "x", "seats": 2}))[0] == 409
    assert (await cashier.post("/api/v1/tables", {"id": "T8", "name": "x", "seats": 2}))[0] == 403
    for body in ({"id": "T 8", "name": "x", "seats": 2}, {"id": "T8", "name": "x", "seats": 0},
                 {"id": "T8", "name": "", "seats": 2}, {"id": "T8", "name": "x", "seats": 2.0}):
        assert (await manager.post("/api/v1/tables", body))[0] == 422, body
    assert (await manager.post("/api/v1/tables/NOPE/open", {}))[0] == 404
    assert (await manager.post("/api/v1/tables/A1/open", {"guests": 0}))[0] == 422
    assert (await manager.post("/api/v1/tables/A1/calls/abc/ack", {}))[0] == 404
