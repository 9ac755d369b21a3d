"""POST /api/v1/orders/{id}/refund: a manager refunds a paid ready/completed order once
(idempotent by key); stored value and points go back to the member, restock puts the items
back on hand; every refusal writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import Api
from tests.invariants import check_database

from .conftest import outbox
from .test_api import MEMBER, idem
from .test_payment import member_with_lease, place

CASH = {"tenders": [{"kind": "cash", "amount_cents": 3000}]}
REFUND = {"reason": "cold coffee", "restock": False}


async def advance(api: Api, order: dict[str, Any], *to: str) -> None:
    for target in to:
        status, body = await api.post(f"/api/v1/orders/{order['id']}/transitions", {"to": target})
        assert status == 200, body


async def pay(api: Api, order: dict[str, Any], body: dict[str, Any] = CASH) -> dict[str, Any]:
    status, paid = await api.post(f"/api/v1/orders/{order['id']}/payment", body, headers=idem())
    assert status == 201, paid
    return dict(paid)


async def on_hand(api: Api, sku: str = "C001") -> int:
    status, levels = await api.get("/api/v1/inventory")
    assert status == 200
    return int(next(s["on_hand"] for s in levels if s["sku"] == sku))


def last_seq(store_dir: Path) -> int:
    return int(check_database(store_dir / "storenode.db")["last_seq"])


async def test_refusals_write_nothing(client: TestClient, cashier: Api, manager: Api,
                                      store_dir: Path) -> None:
    unpaid = await place(cashier)
    await advance(manager, unpaid, "accepted", "preparing", "ready")
    placed = await place(cashier)
    await pay(cashier, placed)
    paid = await place(cashier)
    await pay(cashier, paid)
    await advance(manager, paid, "accepted", "preparing", "ready", "completed")
    before = last_seq(store_dir)
    stock = await on_hand(manager)
    cases = [
        (cashier, paid, REFUND, idem(), 403, "forbidden"),
        (manager, unpaid, REFUND, idem(), 409, "not_paid"),
        (manager, placed, REFUND, idem(), 409, "not_refundable"),
        (manager, paid, {"restock": True}, idem(), 422, None),
        (manager, paid, {"reason": "x", "restock": "yes"}, idem(), 422, None),
        (manager, paid, {**REFUND, "extra": 1}, idem(), 422, None),
        (manager, paid, REFUND, {}, 422, "idempotency_key_required"),
        (manager, {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, REFUND, idem(), 404, "unknown_order"),
    ]
    for api, order, body, headers, want, error in cases:
        status, err = await api.post(f"/api/v1/orders/{order['id']}/refund", body,
                                     headers=headers)
        assert status == want, (body, err)
        assert isinstance(err, dict) and "error" in err
        if error:
            assert err["error"] == error, err
        assert last_seq(store_dir) == before, (body, err)  # nothing written
    assert await on_hand(manager) == stock
    assert await outbox(client, "order.refunded") == []


async def test_manager_refunds_once_and_a_replay_answers_the_same(
        client: TestClient, cashier: Api, manager: Api, store_dir: Path) -> None:
    order = await place(cashier)
    await pay(cashier, order)
    await advance(manager, order, "accepted", "preparing", "ready")
    stock = await on_hand(manager)
    path = f"/api/v1/orders/{order['id']}/refund"
    key = idem()
    status, refund = await manager.post(path, REFUND, headers=key)
    assert status == 201, refund
    assert (refund["order_id"], refund["reason"], refund["restock"], refund["paid_cents"],
            refund["entries"], refund["stock"]) == (order["id"], "cold coffee", False, 3000, [],
                                                    [])
    assert await on_hand(manager) == stock  # restock false: stock unchanged
    status, listed = await cashier.get("/api/v1/orders?limit=5&money=1")  # the POS list
    assert status == 200
    assert [(o["paid"], o["refunded"]) for o in listed if o["id"] == order["id"]] == [
        (True, True)]
    status, listed = await cashier.get("/api/v1/orders?limit=5")
    assert "paid" not in listed[0]
    assert (await cashier.get("/api/v1/orders?money=yes"))[0] == 400
    assert await outbox(client, "order.refunded") == [refund]
    before = last_seq(store_dir)
    assert await manager.post(path, REFUND, headers=key) == (200, refund)  # same key: same
    status, err = await manager.post(path, {"reason": "other"}, headers=key)
    assert (status, err["error"]) == (422, "idempotency_key_reused")
    status, err = await manager.post(path, REFUND, headers=idem())
    assert (status, err["error"]) == (409, "already_refunded")
    assert last_seq(store_dir) == before
    await advance(manager, order, "completed")  # a refunded order can still be handed over
    status, err = await manager.post(path, REFUND, headers=idem())
    assert (status, err["error"]) == (409, "already_refunded")


async def test_restock_puts_the_items_back_with_a_movement(
        client: TestClient, cashier: Api, manager: Api) -> None:
    start = await on_hand(manager)
    order = await place(cashier, lines=[{"sku": "C001", "qty": 2}])
    await pay(cashier, order, {"tenders": [{"kind": "cash", "amount_cents": 5600}]})
    await advance(manager, order, "accepted", "preparing", "ready", "completed")
    assert await on_hand(manager) == start - 2
    status, refund = await manager.post(f"/api/v1/orders/{order['id']}/refund",
                                        {"reason": "wrong order", "restock": True},
                                        headers=idem())
    assert status == 201, refund
    assert refund["stock"] == [{"sku": "C001", "on_hand": start}]
    assert await on_hand(manager) == start
    moved = [m for m in await outbox(client, "stock.moved") if m["ref"] == order["id"]]
    assert [(m["delta"], m["reason"]) for m in moved] == [(2, "refund")]  # a sale moves none


async def test_refund_gives_back_stored_value_and_points(
        keyed: TestClient, cashier: Api, manager: Api) -> None:
    await member_with_lease(keyed)
    order = await place(cashier, member=MEMBER)
    await pay(cashier, order, {"tenders": [{"kind": "stored_value", "amount_cents": 400},
                                           {"kind": "points", "amount_cents": 50, "points": 50},
                                           {"kind": "cash", "amount_cents": 2350}]})
    await advance(manager, order, "accepted", "preparing", "ready")
    _, member = await cashier.get("/api/v1/members/lookup?phone=13812345678")
    assert member["value_cents"] == 600
    assert member["points"] == 300 - 50 + order["points_earned"]
    status, refund = await manager.post(f"/api/v1/orders/{order['id']}/refund", REFUND,
                                        headers=idem())
    assert status == 201, refund
    assert {(e["account"], e["kind"], e["amount"]) for e in refund["entries"]} == {
        ("value", "refund", 400), ("points", "adjust", 50)}
    back = {(e["account"], e["kind"], e["amount"]) for e in await outbox(keyed, "ledger.entry")
            if e["order_id"] == order["id"] and e["kind"] != "earn" and e["amount"] > 0}
    assert back == {("value", "refund", 400), ("points", "adjust", 50)}
    _, member = await cashier.get("/api/v1/members/lookup?phone=13812345678")
    assert member["value_cents"] == 1000 and member["points"] == 300  # earned points reversed
