"""The HQ member, coupon and loyalty API on both backends: reads, HQ ledger entries with
Idempotency-Key, templates, issuing, campaigns, clashes, loyalty rules; bad input is 4xx and
writes nothing; an analyst only reads."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cloud.database import CloudDb
from sync import messages
from tests.cloud.api.conftest import admin, analyst, db_url, hq, hq_dir  # noqa: F401
from tests.cloud.api.test_api import db
from tests.conftest import Api

from .conftest import MemberSim

A = "01JAAAAAAAAAAAAAAAAAAAAAAA"
B = "01JBBBBBBBBBBBBBBBBBBBBBBB"
PHONE = "+8613800138000"
TEMPLATE = {"kind": "amount_off", "value": 500, "valid_from": "2026-01-01T00:00:00Z",
            "valid_to": "2099-01-01T08:00:00+08:00", "channels": ["pos"],
            "exclusive_group": "lunch"}


@pytest.fixture
async def sim(hq: TestClient) -> MemberSim:  # noqa: F811
    """s1's member A (phone PHONE) with 300 points, applied at HQ."""
    s1 = MemberSim("s1", await db(hq, "tenant_key", "acme"))
    s1.created(A, PHONE, name="Wang")
    s1.entry(A, 300)
    payload = messages.encode(messages.up_batch("s1", s1.events))
    assert (await db(hq, "apply_batch", "acme", "s1", payload)).kind == "applied"
    return s1


async def feed_types(hq: TestClient, store: str) -> list[str]:  # noqa: F811
    return [c["type"] for c in (await db(hq, "changes_since", store, 0)).changes]


async def test_find_and_read_a_member(admin: Api, analyst: Api, sim: MemberSim) -> None:  # noqa: F811
    phone_hash = sim.phone(PHONE)["idhash"]
    for api in (admin, analyst):
        status, found = await api.get(f"/api/v1/members?phone_hash={phone_hash}")
        assert status == 200 and [m["id"] for m in found] == [A]
    assert found[0]["balances"] == {"points": 300, "value": 0}
    assert (await admin.get(f"/api/v1/members?id={A}"))[1][0]["name"] == "Wang"
    assert await admin.get(f"/api/v1/members?id={B}") == (200, [])
    status, member = await analyst.get(f"/api/v1/members/{A}")
    assert status == 200 and member["identities"][0]["idhash"] == phone_hash
    assert member["identities"][0]["last4"] == "8000" and PHONE[3:] not in str(member)
    assert [e["amount"] for e in member["ledger"]] == [300] and member["merges"] == []
    assert (await admin.get(f"/api/v1/members/{B}"))[0] == 404


async def test_hq_ledger_entries_are_idempotent_and_reach_every_store(
        hq: TestClient, admin: Api, sim: MemberSim) -> None:  # noqa: F811
    body = {"account": "value", "kind": "topup", "amount": 5000, "note": "welcome"}
    headers = {"Idempotency-Key": "topup-0001"}
    status, first = await admin.call("POST", f"/api/v1/members/{A}/ledger", body, headers)
    assert status == 201, first
    assert first["entry"]["amount"] == 5000 and set(first["stores"]) == {"s1", "s2"}
    status, again = await admin.call("POST", f"/api/v1/members/{A}/ledger", body, headers)
    assert status == 200 and again["entry"] == first["entry"] and again["stores"] == {}
    status, reused = await admin.call("POST", f"/api/v1/members/{A}/ledger",
                                      {**body, "amount": 1}, headers)
    assert status == 422 and reused["error"] == "idempotency_key_reused"
    status, member = await admin.get(f"/api/v1/members/{A}")
    assert member["balances"] == {"points": 300, "value": 5000}
    for store in ("s1", "s2"):
        assert (await feed_types(hq, store)).count("ledger.entry") == 1 + (store == "s2")
    status, refused = await admin.call("POST", f"/api/v1/members/{A}/ledger",
                                       {"account": "points", "kind": "adjust",
                                        "amount": -301}, {"Idempotency-Key": "adjust-0001"})
    assert status == 409 and refused["error"] == "insufficient_balance"
    assert refused["detail"] == {"account": "points", "balance": 300, "amount": -301}
    status, expired = await admin.post("/api/v1/members/expire", {"months": 12})
    assert status == 200 and expired["entries"] == []  # nothing is that old


async def test_templates_issue_campaigns_clashes_and_loyalty_rules(
        hq: TestClient, admin: Api, sim: MemberSim) -> None:  # noqa: F811
    status, put = await admin.call("PUT", "/api/v1/coupons/templates/lunch-5", TEMPLATE)
    assert status == 200, put
    assert put["template"]["valid_to"] == "2099-01-01T00:00:00.000Z"
    assert put["stores"] == {"s1": 2, "s2": 4}  # s2 also got A's upsert and ledger entry
    await admin.call("PUT", "/api/v1/coupons/templates/lunch-8",
                     {**TEMPLATE, "channels": ["pos", "meituan"], "stores": ["s2"]})
    status, found = await admin.get("/api/v1/promotions/clashes")
    assert status == 200 and [c["templates"] for c in found] == [["lunch-5", "lunch-8"]]
    assert found[0]["channels"] == ["pos"]
    body = {"template_id": "lunch-5", "members": [A], "count": 2, "store_scope": ["s2"]}
    headers = {"Idempotency-Key": "issue-0001"}
    status, issued = await admin.call("POST", "/api/v1/coupons/issue", body, headers)
    assert status == 201, issued
    assert [c["member"] for c in issued["coupons"]] == [A, None, None]
    assert set(issued["stores"]) == {"s2"}
    status, again = await admin.call("POST", "/api/v1/coupons/issue", body, headers)
    assert status == 200 and again["coupons"] == issued["coupons"]
    assert (await feed_types(hq, "s2")).count("coupon.issued") == 3
    assert "coupon.issued" not in await feed_types(hq, "s1")
    status, rule = await admin.call("PUT", "/api/v1/campaigns/cross-store/c1",
                                    {"from_store": "s1", "to_store": "s2",
                                     "min_total_cents": 100, "template_id": "lunch-5"})
    assert status == 200 and rule["active"] is True
    status, rules = await admin.call("PUT", "/api/v1/loyalty/rules",
                                     {"default": 1, "channels": {"mini_program": 2}})
    assert status == 200 and set(rules["stores"]) == {"s1", "s2"}
    (change,) = [c for c in (await db(hq, "changes_since", "s1", 0)).changes
                 if c["type"] == "loyalty.rules"]
    assert change["data"] == {"default": 1, "channels": {"mini_program": 2}}


async def rules_changes(hq: TestClient, store: str) -> list[dict[str, Any]]:  # noqa: F811
    return [c["data"] for c in (await db(hq, "changes_since", store, 0)).changes
            if c["type"] == "loyalty.rules"]


async def test_earning_rules_per_channel_and_store(hq: TestClient, admin: Api,  # noqa: F811
                                                   analyst: Api) -> None:
    """HQ keeps one rules document; each store is sent the tenant-wide rates and its own
    entry only; a store's entry can be set and removed alone (only that store is sent new
    rules); a store added later gets the tenant-wide part."""
    assert await analyst.get("/api/v1/loyalty/rules") == (200, {"rules": None})
    rules = {"default": 1, "channels": {"mini_program": 2},
             "stores": {"s1": {"multiplier": 1.5, "channels": {"meituan": 0.5}}}}
    status, put = await admin.call("PUT", "/api/v1/loyalty/rules", rules)
    assert status == 200 and put["rules"] == rules and set(put["stores"]) == {"s1", "s2"}
    assert await analyst.get("/api/v1/loyalty/rules") == (200, {"rules": rules})
    assert (await rules_changes(hq, "s1"))[-1] == rules
    assert (await rules_changes(hq, "s2"))[-1] == {"default": 1,
                                                  "channels": {"mini_program": 2}}
    path = "/api/v1/loyalty/rules/stores/{}"
    status, put = await admin.call("PUT", path.format("s2"), {"multiplier": 3})
    assert status == 200 and set(put["stores"]) == {"s2"}
    assert (await rules_changes(hq, "s2"))[-1] == {
        "default": 1, "channels": {"mini_program": 2}, "stores": {"s2": {"multiplier": 3}}}
    assert len(await rules_changes(hq, "s1")) == 1  # s1 was not sent anything
    status, _ = await admin.call("DELETE", path.format("s1"))
    assert status == 200
    assert (await rules_changes(hq, "s1"))[-1] == {"default": 1,
                                                  "channels": {"mini_program": 2}}
    _, now = await analyst.get("/api/v1/loyalty/rules")
    assert now["rules"]["stores"] == {"s2": {"multiplier": 3}}
    # a store added later: the tenant-wide part (it has no entry yet)
    await db(hq, "add_store", "s3", "acme")
    assert await rules_changes(hq, "s3") == [{"default": 1, "channels": {"mini_program": 2}}]
    # a snapshot restates each store's latest rules
    feed = await db(hq, "changes_since", "s2", -1)
    assert feed.snapshot and [c["data"] for c in feed.changes if c["type"] == "loyalty.rules"
                              ] == [now["rules"] | {"stores": {"s2": {"multiplier": 3}}}]
    # refused, nothing written
    before = {s: await rules_changes(hq, s) for s in ("s1", "s2", "s3")}
    for method, url, body, want in (
            ("PUT", path.format("ghost"), {"multiplier": 2}, 404),
            ("PUT", path.format("s1"), {}, 422),
            ("PUT", path.format("s1"), {"multiplier": -1}, 422),
            ("PUT", path.format("s1"), {"multiplier": 11}, 422),
            ("PUT", path.format("s1"), {"channels": {"nowhere": 1}}, 422),
            ("PUT", path.format("s1"), {"channels": {"pos": "2"}}, 422),
            ("PUT", path.format("s1"), {"multiplier": 2, "extra": 1}, 422),
            ("PUT", path.format("S 1"), {"multiplier": 2}, 404),
            ("DELETE", path.format("ghost"), None, 404),
            ("PUT", "/api/v1/loyalty/rules", {**rules, "stores": {"ghost": {"multiplier": 2}}},
             404),
            ("PUT", "/api/v1/loyalty/rules", {**rules, "stores": {"s1": {}}}, 422),
            ("PUT", "/api/v1/loyalty/rules", {"channels": {"pos": 1}}, 422)):
        status, err = await admin.call(method, url, body)
        assert status == want and err["error"], (url, body, status, err)
        assert (await analyst.call(method, url, body))[0] == 403
    assert {s: await rules_changes(hq, s) for s in ("s1", "s2", "s3")} == before
    assert (await analyst.get("/api/v1/loyalty/rules"))[1] == now


BAD: list[tuple[str, str, Any, dict[str, str]]] = [
    ("POST", f"/api/v1/members/{A}/ledger", {"account": "points", "kind": "adjust",
                                              "amount": 5}, {}),            # no key
    ("POST", f"/api/v1/members/{A}/ledger", {"account": "points", "kind": "topup",
                                              "amount": 5}, {"Idempotency-Key": "k-000001"}),
    ("POST", f"/api/v1/members/{A}/ledger", {"account": "value", "kind": "topup",
                                              "amount": -5}, {"Idempotency-Key": "k-000002"}),
    ("POST", f"/api/v1/members/{A}/ledger", {"account": "points", "kind": "adjust",
                                              "amount": 0}, {"Idempotency-Key": "k-000003"}),
    ("POST", f"/api/v1/members/{B}/ledger", {"account": "points", "kind": "adjust",
                                              "amount": 5}, {"Idempotency-Key": "k-000004"}),
    ("POST", "/api/v1/members/not-a-ulid/ledger", {"account": "points", "kind": "adjust",
                                                   "amount": 5}, {"Idempotency-Key": "k-5"}),
    ("PUT", "/api/v1/coupons/templates/t1", {**TEMPLATE, "valid_to": "2020-01-01T00:00:00Z"},
     {}),
    ("PUT", "/api/v1/coupons/templates/t1", {**TEMPLATE, "valid_from": "soon"}, {}),
    ("PUT", "/api/v1/coupons/templates/t1", {**TEMPLATE, "kind": "free_lunch"}, {}),
    ("PUT", "/api/v1/coupons/templates/t1", {**TEMPLATE, "stores": ["s1", "ghost"]}, {}),
    ("POST", "/api/v1/coupons/issue", {"template_id": "nope", "count": 1}, {}),
    ("POST", "/api/v1/coupons/issue", {"template_id": "t1"}, {}),
    ("POST", "/api/v1/coupons/issue", {"template_id": "t1", "count": 10_000}, {}),
    ("PUT", "/api/v1/campaigns/cross-store/c1", {"from_store": "s1", "to_store": "s1",
                                                 "min_total_cents": 1, "template_id": "t"}, {}),
    ("PUT", "/api/v1/campaigns/cross-store/c1", {"from_store": "s1", "to_store": "s2",
                                                 "min_total_cents": 1, "template_id": "t"}, {}),
    ("PUT", "/api/v1/loyalty/rules", {"default": -1}, {}),
    ("PUT", "/api/v1/loyalty/rules", {"default": 1, "channels": {"nowhere": 1}}, {}),
    ("PUT", "/api/v1/loyalty/rules?stores=ghost", {"default": 1}, {}),
    ("POST", "/api/v1/members/expire", {"months": 0}, {}),
]


async def test_bad_input_is_4xx_and_writes_nothing(hq: TestClient, admin: Api,  # noqa: F811
                                                   analyst: Api, sim: MemberSim) -> None:
    before = {s: await feed_types(hq, s) for s in ("s1", "s2")}
    for method, path, body, headers in BAD:
        status, answer = await admin.call(method, path, body, headers)
        assert 400 <= status < 500 and answer["error"], (path, body, status, answer)
        status, answer = await analyst.call(method, path, body, headers)
        assert status == 403, (path, status, answer)
    for path in ("/api/v1/members", "/api/v1/members?phone_hash=abc", "/api/v1/members?id=x"):
        assert (await admin.get(path))[0] == 400
    assert {s: await feed_types(hq, s) for s in ("s1", "s2")} == before
    status, member = await admin.get(f"/api/v1/members/{A}")
    assert member["balances"] == {"points": 300, "value": 0}
    assert await admin.get("/api/v1/promotions/clashes") == (200, [])


async def test_lease_caps_come_from_the_config(hq_dir: Any, aiohttp_client: Any,  # noqa: F811
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from cloud import keys
    from cloud.app import create_app
    from cloud.config import load_settings

    monkeypatch.setenv("STORENODE_CLOUD_MEMBERS_LEASE_POINTS", "77")
    client = await aiohttp_client(create_app(load_settings(hq_dir)))
    try:
        policy = await client.app[keys.DB].call(CloudDb.lease_policy)
        assert (policy.lease_points, policy.per_txn_points) == (77, 500)
    finally:
        await client.close()


def test_the_expiry_command(hq_dir: Any) -> None:  # noqa: F811
    import json

    from click.testing import CliRunner

    from cloud.cli import cli

    result = CliRunner().invoke(cli, ["members", "expire", "--months", "6", "--data-dir",
                                      str(hq_dir)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"expired": 0, "points": 0, "stores": {}}
    result = CliRunner().invoke(cli, ["members", "expire", "--months", "0", "--data-dir",
                                      str(hq_dir)])
    assert result.exit_code == 2
