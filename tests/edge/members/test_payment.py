"""POST /api/v1/orders/{id}/payment: tenders recorded once per order (idempotent); stored
value and points spent from the member's lease in the same transaction."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import Api
from tests.invariants import check_database

from .conftest import outbox
from .test_api import MEMBER, ORDER, hq_member, idem


async def place(api: Api, **extra: Any) -> dict[str, Any]:
    status, order = await api.post("/api/v1/orders", {**ORDER, **extra}, headers=idem())
    assert status == 201, order
    return dict(order)


async def member_with_lease(keyed: TestClient) -> None:
    """The member with 300 points and ¥10 stored value; this store may use 200 / ¥8 of them."""
    await hq_member(keyed, points=300, value=1000,
                    lease={"points": 200, "per_txn_points": 150, "value": 800,
                           "per_txn_value": 500})


async def test_cash_and_card_are_recorded_once(client: TestClient, cashier: Api,
                                               manager: Api, kitchen: Api) -> None:
    order = await place(cashier)  # 2800 fen
    path = f"/api/v1/orders/{order['id']}/payment"
    body = {"tenders": [{"kind": "card", "amount_cents": 2000, "ref": "T-0042"},
                        {"kind": "cash", "amount_cents": 1000}]}
    key = idem()
    status, paid = await cashier.post(path, body, headers=key)
    assert status == 201, paid
    assert (paid["paid_cents"], paid["change_cents"], paid["number"]) == (3000, 200,
                                                                          order["number"])
    assert paid["tenders"] == body["tenders"]
    assert await cashier.post(path, body, headers=key) == (200, paid)  # a retry: the same
    status, err = await cashier.post(path, {"tenders": [{"kind": "cash", "amount_cents": 2800}]},
                                     headers=key)
    assert (status, err["error"]) == (422, "idempotency_key_reused")
    status, err = await cashier.post(path, body, headers=idem())
    assert (status, err["error"]) == (409, "already_paid")
    assert await outbox(client, "order.paid") == [paid]
    assert (await kitchen.post(path, body, headers=idem()))[0] == 403  # kitchen takes no money

    cancelled = await place(cashier)
    status, _ = await manager.post(f"/api/v1/orders/{cancelled['id']}/transitions",
                                   {"to": "cancelled"})
    assert status == 200
    cash = {"tenders": [{"kind": "cash", "amount_cents": 2800}]}
    status, err = await cashier.post(f"/api/v1/orders/{cancelled['id']}/payment", cash,
                                     headers=idem())
    assert (status, err["error"]) == (409, "order_cancelled")
    for bad, want in ((cash, 404), ({"tenders": []}, 422),
                      ({"tenders": [{"kind": "cash", "amount_cents": 100}]}, 422)):
        target = "01ARZ3NDEKTSV4RRFFQ69G5FAV" if want == 404 else order["id"]
        status, err = await cashier.post(f"/api/v1/orders/{target}/payment", bad,
                                         headers=idem())
        assert status in (want, 409), (bad, err)  # the paid order answers 409 first
    status, err = await cashier.post(path, body)
    assert (status, err["error"]) == (422, "idempotency_key_required")


async def test_stored_value_and_points_spend_from_the_lease_or_nothing_is_recorded(
        keyed: TestClient, cashier: Api, store_dir: Any) -> None:
    await member_with_lease(keyed)
    order = await place(cashier, member=MEMBER)
    path = f"/api/v1/orders/{order['id']}/payment"
    before = check_database(store_dir / "storenode.db")["last_seq"]
    too_much = {"tenders": [{"kind": "stored_value", "amount_cents": 600},  # over the cap
                            {"kind": "cash", "amount_cents": 2200}]}
    status, err = await cashier.post(path, too_much, headers=idem())
    assert (status, err["error"]) == (409, "allowance_exceeded")
    assert check_database(store_dir / "storenode.db")["last_seq"] == before  # nothing written
    body = {"tenders": [{"kind": "stored_value", "amount_cents": 500},
                        {"kind": "points", "amount_cents": 100, "points": 100},
                        {"kind": "cash", "amount_cents": 2200}]}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    status, paid = await cashier.post(path, body, headers=key)
    assert status == 201, paid
    assert paid["change_cents"] == 0
    entries = {t["kind"]: t["entry_id"] for t in paid["tenders"] if "entry_id" in t}
    assert set(entries) == {"stored_value", "points"}
    spent = {(e["account"], e["amount"], e["order_id"]) for e in await outbox(keyed, "ledger.entry")
             if e["entry_id"] in entries.values()}
    assert spent == {("value", -500, order["id"]), ("points", -100, order["id"])}
    assert (await cashier.post(path, body, headers=key)) == (200, paid)  # spends once
    _, member = await cashier.get("/api/v1/members/lookup?phone=13812345678")
    assert member["value_cents"] == 500 and member["points"] == 300 - 100 + order["points_earned"]
    plain = await place(cashier)
    status, err = await cashier.post(
        f"/api/v1/orders/{plain['id']}/payment",
        {"tenders": [{"kind": "points", "amount_cents": 2800, "points": 2800}]}, headers=idem())
    assert (status, err["error"]) == (422, "no_member")


async def test_cancelling_a_paid_order_gives_back_its_stored_value_and_points(
        keyed: TestClient, cashier: Api, manager: Api) -> None:
    await member_with_lease(keyed)
    order = await place(cashier, member=MEMBER)
    body = {"tenders": [{"kind": "stored_value", "amount_cents": 400},
                        {"kind": "points", "amount_cents": 50, "points": 50},
                        {"kind": "cash", "amount_cents": 2350}]}
    status, _ = await cashier.post(f"/api/v1/orders/{order['id']}/payment", body, headers=idem())
    assert status == 201
    status, _ = await manager.post(f"/api/v1/orders/{order['id']}/transitions",
                                   {"to": "cancelled"})
    assert status == 200
    back = {(e["account"], e["kind"], e["amount"]) for e in await outbox(keyed, "ledger.entry")
            if e["order_id"] == order["id"] and e["amount"] > 0 and e["kind"] != "earn"}
    assert back == {("value", "refund", 400), ("points", "adjust", 50)}
    _, member = await cashier.get("/api/v1/members/lookup?phone=13812345678")
    assert member["value_cents"] == 1000 and member["points"] == 300  # earned points reversed too
