"""Member LAN API: lookup, create, attach + earn, redeem against leases, coupons, top-up."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from edge import keys
from tests.conftest import Api
from tests.invariants import check_database

from .conftest import PHONE, feed, hlc, iso_in, outbox, phone_identity

MEMBER = "01HZZZZZZZZZZZZZZZZZZZZZZ1"
ORDER = {"channel": "pos", "lines": [{"sku": "C001", "qty": 1}]}  # 2800 fen in the demo catalog


def idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def hq_member(client: TestClient, member: str = MEMBER, phone: str = PHONE, *,
                    points: int = 0, value: int = 0, lease: dict[str, Any] | None = None) -> None:
    changes: list[dict[str, Any]] = [
        {"type": "member.upsert", "data": {"member": {"id": member, "name": "Li", "hlc": hlc()},
                                           "identities": [phone_identity(phone)]}}]
    for account, amount, kind in (("points", points, "adjust"), ("value", value, "topup")):
        if amount:
            changes.append({"type": "ledger.entry", "data": {
                "entry_id": uuid.uuid4().hex[:26].upper(), "member": member, "account": account,
                "kind": kind, "amount": amount, "store": "hq", "at": iso_in(0), "hlc": hlc()}})
    if lease is not None:
        changes.append({"type": "lease.granted", "data": {
            "lease_id": f"L-{member[-4:]}", "member": member, "points": 0, "value": 0,
            "per_txn_points": 0, "per_txn_value": 0, "expires_at": iso_in(1), **lease}})
    result = await feed(client, *changes)
    assert result["rejected"] == 0, result


async def test_members_answer_503_until_hq_sends_the_tenant_key(cashier: Api) -> None:
    status, body = await cashier.get(f"/api/v1/members/lookup?phone={PHONE}")
    assert (status, body["error"]) == (503, "members_unavailable")
    status, body = await cashier.post("/api/v1/members", {"phone": PHONE}, headers=idem())
    assert (status, body["error"]) == (503, "members_unavailable")


async def test_lookup_by_phone_in_any_spelling(keyed: TestClient, cashier: Api) -> None:
    await hq_member(keyed, points=120, value=5000, lease={"points": 100, "per_txn_points": 50})
    for spelling in ("13812345678", "+86 138-1234-5678", "0086 138 1234 5678", "(138)12345678"):
        status, found = await cashier.get(f"/api/v1/members/lookup?phone={spelling}"
                                          .replace("+", "%2B").replace(" ", "%20"))
        assert status == 200, found
        assert found["id"] == MEMBER and found["points"] == 120 and found["value_cents"] == 5000
        assert found["identities"] == [{"kind": "phone", "last4": "5678"}]
        assert found["allowance"]["points"] == 100 and found["allowance"]["per_txn_points"] == 50
    status, body = await cashier.get("/api/v1/members/lookup?phone=12345")
    assert (status, body["error"]) == (422, "invalid_phone")
    status, body = await cashier.get("/api/v1/members/lookup?phone=13900000000")
    assert (status, body["error"]) == (404, "unknown_member")
    for bad in ("", "?phone=13812345678&code=ABCD1234", "?channel=uber"):
        status, body = await cashier.get(f"/api/v1/members/lookup{bad}")
        assert (status, body["error"]) == (400, "invalid_query"), bad
    await keyed.app[keys.MEMBER_LOOKUPS].drain(keyed.app)
    assert await outbox(keyed, "member.lookup") == [{"member": MEMBER}]  # once a minute


async def test_create_member_offline_is_idempotent_and_hashed(keyed: TestClient,
                                                              cashier: Api) -> None:
    body = {"phone": "139 0000 1111", "name": "Wang", "birthday": "03-14"}
    key = idem()
    status, created = await cashier.post("/api/v1/members", body, headers=key)
    assert status == 201, created
    assert created["origin"] == "test-store" and created["points"] == 0
    status, again = await cashier.post("/api/v1/members", body, headers=key)
    assert (status, again) == (200, created)
    status, err = await cashier.post("/api/v1/members", {**body, "name": "Zhao"}, headers=key)
    assert (status, err["error"]) == (422, "idempotency_key_reused")
    status, err = await cashier.post("/api/v1/members", body, headers=idem())
    assert (status, err["error"]) == (409, "member_exists")
    assert err["detail"]["member"] == created["id"]
    status, found = await cashier.get("/api/v1/members/lookup?phone=13900001111")
    assert found["id"] == created["id"]
    events = await outbox(keyed, "member.created")
    assert len(events) == 1
    assert events[0]["identities"] == [phone_identity("+8613900001111")]
    assert events[0]["member"]["name"] == "Wang" and events[0]["member"]["hlc"]
    for bad in ({}, {"name": "x"}, {"phone": "abc"}, {"phone": PHONE, "birthday": "13-01"},
                {"phone": PHONE, "birthday": "02-30"}, {"phone": PHONE, "extra": 1}):
        status, err = await cashier.post("/api/v1/members", bad, headers=idem())
        assert status == 422, (bad, err)
    status, err = await cashier.post("/api/v1/members", body)
    assert (status, err["error"]) == (422, "idempotency_key_required")


async def test_points_follow_the_rule_of_this_store_and_channel(keyed: TestClient,
                                                                cashier: Api) -> None:
    """loyalty.rules with a store entry: the store's own channel rate, else the channel's
    (or default) rate times the store's multiplier; another store's entry is not used."""
    await hq_member(keyed)
    rules = {"default": 1, "channels": {"mini_program": 2},
             "stores": {"test-store": {"multiplier": 1.5, "channels": {"phone": 0.5}},
                        "other": {"multiplier": 10}}}
    assert (await feed(keyed, {"type": "loyalty.rules", "data": rules}))["rejected"] == 0
    earned = {}
    for channel in ("pos", "mini_program", "phone", "waiter"):
        status, order = await cashier.post("/api/v1/orders", {
            **ORDER, "channel": channel, "member": MEMBER}, headers=idem())
        assert status == 201, order
        earned[channel] = order["points_earned"]
    assert earned == {"pos": 42, "mini_program": 84, "phone": 14, "waiter": 42}  # 28 yuan
    entries = await outbox(keyed, "ledger.entry")
    assert [e["amount"] for e in entries] == [42, 84, 14, 42]
    # rules of the wrong shape are refused by the feed: the store keeps the ones it has
    bad = {**rules, "stores": {"test-store": {"multiplier": "x"}}}
    assert (await feed(keyed, {"type": "loyalty.rules", "data": bad}))["rejected"] == 1
    status, order = await cashier.post("/api/v1/orders", {**ORDER, "member": MEMBER},
                                       headers=idem())
    assert order["points_earned"] == 42


async def test_order_attaches_member_by_alias_and_earns_points(keyed: TestClient,
                                                               cashier: Api) -> None:
    await hq_member(keyed)
    old = "01HZZZZZZZZZZZZZZZZZZZZZZ0"
    await feed(keyed, {"type": "loyalty.rules", "data": {"default": 1,
                                                         "channels": {"mini_program": 2}}},
               {"type": "member.merged", "data": {"from": old, "into": MEMBER}})
    status, order = await cashier.post("/api/v1/orders", {**ORDER, "member": old},
                                       headers=idem())
    assert status == 201, order
    assert order["member"] == MEMBER and order["points_earned"] == 28
    status, order2 = await cashier.post("/api/v1/orders", {
        **ORDER, "channel": "mini_program", "member": MEMBER}, headers=idem())
    assert order2["points_earned"] == 56
    _, again = await cashier.get(f"/api/v1/orders/{order['id']}")
    assert again == order
    entries = await outbox(keyed, "ledger.entry")
    assert [(e["kind"], e["amount"], e["order_id"]) for e in entries] == [
        ("earn", 28, order["id"]), ("earn", 56, order2["id"])]
    status, found = await cashier.get(f"/api/v1/members/lookup?phone={PHONE[1:]}")
    assert found["points"] == 84
    status, err = await cashier.post("/api/v1/orders", {**ORDER, "member": "nobody"},
                                     headers=idem())
    assert (status, err["error"]) == (422, "unknown_member")
    plain = await outbox(keyed, "order.placed")
    assert "points_earned" not in (await cashier.post("/api/v1/orders", ORDER,
                                                      headers=idem()))[1]
    assert len(plain) == 2


async def test_redeem_is_bounded_by_cap_lease_and_balance(keyed: TestClient, cashier: Api,
                                                          store_dir: Any) -> None:
    await hq_member(keyed, points=300, value=1000,
                    lease={"points": 200, "per_txn_points": 150, "value": 800,
                           "per_txn_value": 500})
    path = f"/api/v1/members/{MEMBER}/redeem"
    key = idem()
    status, spent = await cashier.post(path, {"points": 100}, headers=key)
    assert status == 201, spent
    assert spent["entry"]["amount"] == -100 and spent["entry"]["lease_id"] == f"L-{MEMBER[-4:]}"
    assert spent["member"]["points"] == 200 and spent["member"]["allowance"]["points"] == 100
    assert (await cashier.post(path, {"points": 100}, headers=key)) == (200, spent)
    status, err = await cashier.post(path, {"points": 99}, headers=key)
    assert (status, err["error"]) == (422, "idempotency_key_reused")
    before = check_database(store_dir / "storenode.db")["last_seq"]
    refusals = [({"points": 160}, "allowance_exceeded"),  # over the per-transaction cap
                ({"points": 120}, "allowance_exceeded"),  # over what remains of the lease
                ({"value_cents": 600}, "allowance_exceeded"),
                ({"value_cents": 1200}, "insufficient_balance")]
    for body, code in refusals:
        status, err = await cashier.post(path, body, headers=idem())
        assert (status, err["error"]) == (409, code), (body, err)
        assert {"requested", "balance", "allowance", "per_txn"} <= set(err["detail"])
    assert check_database(store_dir / "storenode.db")["last_seq"] == before  # nothing written
    status, ok = await cashier.post(path, {"value_cents": 500}, headers=idem())
    assert status == 201 and ok["entry"]["kind"] == "spend" and ok["member"]["value_cents"] == 500
    for body, want in (({"points": 0}, 422), ({"points": 1, "value_cents": 1}, 422),
                       ({"points": 1.5}, 422), ({"points": 1, "order_id": "x"}, 422),
                       ({"points": 1, "order_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, 404)):
        status, err = await cashier.post(path, body, headers=idem())
        assert status == want, (body, err)
    status, err = await cashier.post("/api/v1/members/01ARZ3NDEKTSV4RRFFQ69G5FAV/redeem",
                                     {"points": 1}, headers=idem())
    assert (status, err["error"]) == (404, "unknown_member")
    await feed(keyed, {"type": "lease.revoked", "data": {"lease_id": f"L-{MEMBER[-4:]}"}})
    status, err = await cashier.post(path, {"points": 10}, headers=idem())
    assert (status, err["error"]) == (409, "allowance_exceeded")
    assert err["detail"]["allowance"] == 0


async def test_topup_is_manager_only_positive_and_does_not_raise_the_lease(
        keyed: TestClient, cashier: Api, manager: Api) -> None:
    await hq_member(keyed, lease={"value": 300, "per_txn_value": 300})
    path = f"/api/v1/members/{MEMBER}/topup"
    status, err = await cashier.post(path, {"value_cents": 1000, "tender": "cash"},
                                     headers=idem())
    assert (status, err["error"]) == (403, "forbidden")
    for bad in ({"value_cents": -100, "tender": "cash"}, {"value_cents": 0, "tender": "cash"},
                {"value_cents": 100, "tender": "iou"}, {"value_cents": 100}):
        status, err = await manager.post(path, bad, headers=idem())
        assert (status, err["error"]) == (422, "invalid_body"), bad
    key = idem()
    status, done = await manager.post(path, {"value_cents": 1000, "tender": "wechat"}, headers=key)
    assert status == 201, done
    assert done["member"]["value_cents"] == 1000
    assert done["member"]["allowance"]["value_cents"] == 300  # the lease is HQ's to raise
    assert (await manager.post(path, {"value_cents": 1000, "tender": "wechat"},
                               headers=key)) == (200, done)
    status, err = await manager.post(f"/api/v1/members/{MEMBER}/redeem", {"value_cents": 400},
                                     headers=idem())
    assert (status, err["error"]) == (409, "allowance_exceeded")
    entries = await outbox(keyed, "ledger.entry")
    assert [(e["kind"], e["amount"], e["lease_id"]) for e in entries] == [("topup", 1000, None)]


async def test_coupons_discount_once_and_check_their_scope(keyed: TestClient,
                                                           cashier: Api) -> None:
    await hq_member(keyed)
    window = {"valid_from": iso_in(-1), "valid_to": iso_in(1)}
    templates = [
        {"template_id": "T-OFF", "kind": "amount_off", "value": 500, **window},
        {"template_id": "T-PCT", "kind": "percent_off", "value": 10, "channels": ["pos"],
         "exclusive_group": "g1", **window},
        {"template_id": "T-PCT2", "kind": "percent_off", "value": 20, "exclusive_group": "g1",
         **window},
        {"template_id": "T-OLD", "kind": "amount_off", "value": 500,
         "valid_from": iso_in(-10), "valid_to": iso_in(-1)},
        {"template_id": "T-B", "kind": "amount_off", "value": 500, "stores": ["store-b"],
         **window},
        {"template_id": "T-MIN", "kind": "threshold", "value": 1000, "min_spend": 5000, **window},
        {"template_id": "T-FREE", "kind": "free_item", "value": 0, "sku": "C001", **window},
    ]
    coupons = [("OFF-1", "T-OFF", MEMBER), ("PCT-1", "T-PCT", None), ("PCT-2", "T-PCT2", None),
               ("OLD-1", "T-OLD", None), ("STB-1", "T-B", None), ("MIN-1", "T-MIN", None),
               ("FREE-1", "T-FREE", None), ("MINE-1", "T-OFF", "01HZZZZZZZZZZZZZZZZZZZZZZ9")]
    result = await feed(keyed, *[{"type": "coupon.template", "data": t} for t in templates],
                        *[{"type": "coupon.issued", "data": {
                            "code": c, "template_id": t, "member": m, "issued_at": iso_in(-1),
                            "state": "issued"}} for c, t, m in coupons])
    assert result["rejected"] == 0, result
    _, found = await cashier.get(f"/api/v1/members/lookup?phone={PHONE[1:]}")
    assert [c["code"] for c in found["coupons"]] == ["OFF-1"]
    status, order = await cashier.post("/api/v1/orders", {
        **ORDER, "member": MEMBER, "coupons": ["OFF-1", "PCT-1"]}, headers=idem())
    assert status == 201, order
    assert (order["total_cents"], order["discount_cents"]) == (2800 - 500 - 280, 780)
    assert order["coupons"] == ["OFF-1", "PCT-1"]
    redeemed = await outbox(keyed, "coupon.redeemed")
    assert [(r["code"], r["order_id"], r["member"]) for r in redeemed] == [
        ("OFF-1", order["id"], MEMBER), ("PCT-1", order["id"], MEMBER)]
    refusals = [(["OFF-1"], 409, "coupon_used"), (["OLD-1"], 409, "coupon_expired"),
                (["STB-1"], 409, "coupon_out_of_scope"), (["MIN-1"], 409, "coupon_min_spend"),
                (["NOPE-1"], 422, "unknown_coupon"), (["FREE-1", "FREE-1"], 422,
                                                      "duplicate_coupon"),
                (["MINE-1"], 409, "coupon_not_yours"), (["bad code!"], 422, "invalid_body")]
    for codes, want, code in refusals:
        status, err = await cashier.post("/api/v1/orders", {**ORDER, "coupons": codes},
                                         headers=idem())
        assert (status, err["error"]) == (want, code), (codes, err)
    status, err = await cashier.post("/api/v1/orders", {
        **ORDER, "channel": "waiter", "coupons": ["PCT-2"]}, headers=idem())
    assert status == 201, err  # PCT-1 (pos only) is used; PCT-2 has no channel limit
    status, free = await cashier.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C001", "qty": 2}], "coupons": ["FREE-1"]},
        headers=idem())
    assert (status, free["total_cents"], free["discount_cents"]) == (201, 2800, 2800)
    assert len(await outbox(keyed, "coupon.redeemed")) == 4  # refused orders redeemed nothing


async def test_recommendations_from_reco_pairs(keyed: TestClient, cashier: Api) -> None:
    await feed(keyed, {"type": "reco.pairs", "data": {"pairs": [
        {"a": "C001", "b": "S001", "support": 0.1, "confidence": 0.5, "lift": 2.0},
        {"a": "C001", "b": "S002", "support": 0.1, "confidence": 0.4, "lift": 3.0},
        {"a": "C002", "b": "S001", "support": 0.1, "confidence": 0.4, "lift": 1.5},
        {"a": "C001", "b": "C002", "support": 0.1, "confidence": 0.4, "lift": 9.0}]}})
    status, got = await cashier.get("/api/v1/recommendations?skus=C001,C002")
    assert status == 200, got
    assert [r["sku"] for r in got["recommendations"]] == ["S002", "S001"]
    for bad in ("", "?skus=", "?skus=a;b", "?skus=" + ",".join(f"X{i}" for i in range(21))):
        status, err = await cashier.get(f"/api/v1/recommendations{bad}")
        assert (status, err["error"]) == (400, "invalid_query"), bad


async def test_create_and_lookup_by_card_code_and_unionid(keyed: TestClient,
                                                          cashier: Api) -> None:
    body = {"code": "CARD-0042", "unionid": "oWx_unionid-123"}
    status, created = await cashier.post("/api/v1/members", body, headers=idem())
    assert status == 201, created
    assert sorted(i["kind"] for i in created["identities"]) == ["code", "wechat_unionid"]
    assert all(i["last4"] is None for i in created["identities"])
    for query in ("code=CARD-0042", "unionid=oWx_unionid-123"):
        status, found = await cashier.get(f"/api/v1/members/lookup?{query}")
        assert (status, found["id"]) == (200, created["id"]), query
    status, err = await cashier.get("/api/v1/members/lookup?code=CARD-0043")
    assert (status, err["error"]) == (404, "unknown_member")
    status, err = await cashier.get("/api/v1/members/lookup?code=" + "x" * 65)
    assert (status, err["error"]) == (400, "invalid_query")


async def test_cancelling_an_order_gives_back_the_points_it_earned(
        keyed: TestClient, cashier: Api, manager: Api) -> None:
    await hq_member(keyed)
    await feed(keyed, {"type": "loyalty.rules", "data": {"default": 1}})
    status, order = await cashier.post("/api/v1/orders", {**ORDER, "member": MEMBER},
                                       headers=idem())
    assert status == 201 and order["points_earned"] == 28, order
    _, found = await cashier.get(f"/api/v1/members/lookup?phone={PHONE[1:]}")
    assert found["points"] == 28
    status, _ = await manager.post(f"/api/v1/orders/{order['id']}/transitions",
                                   {"to": "cancelled"})
    assert status == 200
    _, found = await cashier.get(f"/api/v1/members/lookup?phone={PHONE[1:]}")
    assert found["points"] == 0
    entries = await outbox(keyed, "ledger.entry")
    assert [(e["kind"], e["amount"], e["order_id"]) for e in entries] == [
        ("earn", 28, order["id"]), ("adjust", -28, order["id"])]
    # a plain order's cancel writes no ledger entry
    status, plain = await cashier.post("/api/v1/orders", ORDER, headers=idem())
    await manager.post(f"/api/v1/orders/{plain['id']}/transitions", {"to": "cancelled"})
    assert len(await outbox(keyed, "ledger.entry")) == 2
