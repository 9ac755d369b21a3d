"""Members between two stores and the real HQ (cloud/), over a provisioned Mosquitto.

The contract of docs/members.md end to end: HQ's tenant key reaches both stores; a member
created at s1 is found by phone at s2; points earned at s1 reach s2's balance; s2's lookup
gets it a lease from HQ; a redeem at s2 is applied at HQ and reaches s1; one customer
signed up at both stores at once becomes one member (HQ's One-ID merge) at both.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.app import create_app as create_hq
from cloud.config import load_settings as hq_settings
from edge import keys
from edge.members import rules
from edge.members import sql as member_store
from edge.members.routes import SOUGHT_WAIT_S
from tests.conftest import Api, login_as
from devtools.stack import Hq, edge_app, eventually, hq_login

PHONE = "13812345678"


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[Hq]:
    system = Hq(tmp_path, ["s1", "s2"])
    system.start_broker()
    try:
        yield system
    finally:
        system.stop_all()


async def lookup(api: Api) -> dict[str, Any] | None:
    status, body = await api.get(f"/api/v1/members/lookup?phone={PHONE}")
    return body if status == 200 else None


async def test_member_points_and_lease_travel_between_stores(
        hq: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    hq_client = await aiohttp_client(create_hq(hq_settings(hq.dir)))
    admin = await hq_login(hq_client)
    # 1 point per yuan; s2 triples it (a store-specific multiplier)
    status, body = await admin.call("PUT", "/api/v1/loyalty/rules",
                                    {"default": 1, "stores": {"s2": {"multiplier": 3}}})
    assert status == 200, body
    s1 = await edge_app(tmp_path, hq, "s1", aiohttp_client)
    s2 = await edge_app(tmp_path, hq, "s2", aiohttp_client)
    c1, c2 = await login_as(s1, "cashier"), await login_as(s2, "cashier")
    for store in (s1, s2):  # the key and the rules arrive with the first feed
        await eventually(lambda s=store: member_store.load_key(s.app[keys.SETTINGS].data_dir))
        await eventually(lambda s=store: s.app[keys.DB].read(member_store.loyalty_rules))

    status, created = await c1.post("/api/v1/members", {"phone": PHONE, "name": "Li"},
                                    headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201, created
    member = created["id"]
    found = await eventually(lambda: lookup(c2))
    assert found["id"] == member and found["name"] == "Li"

    status, order = await c1.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C001", "qty": 1}], "member": member},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201 and order["points_earned"] == order["total_cents"] // 100, order
    earned = order["points_earned"]
    # s2 hears of the entry (ledger.entry) and, after its lookups, gets a lease from HQ
    seen = await eventually(lambda: _with(lookup(c2), lambda m: m["points"] == earned
                                          and m["allowance"] and m["allowance"]["points"]))
    assert seen["allowance"]["points"] <= earned

    status, spent = await c2.post(f"/api/v1/members/{member}/redeem", {"points": 10},
                                  headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201, spent
    assert spent["member"]["points"] == earned - 10

    async def hq_points() -> int:
        _, detail = await admin.get(f"/api/v1/members/{member}")
        return int(detail["balances"]["points"])

    await eventually(lambda: _with(hq_points(), lambda p: p == earned - 10))
    await eventually(lambda: _with(lookup(c1), lambda m: m["points"] == earned - 10))
    # each store got its own rules: s2 earns three times what s1 does for the same order
    rules = [await s.app[keys.DB].read(member_store.loyalty_rules) for s in (s1, s2)]
    assert rules == [{"default": 1, "channels": {}},
                     {"default": 1, "channels": {}, "stores": {"s2": {"multiplier": 3}}}]
    status, tripled = await c2.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C001", "qty": 1}], "member": member},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201 and tripled["points_earned"] == 3 * earned, tripled
    await eventually(lambda: _with(hq_points(), lambda p: p == 4 * earned - 10))


async def _with(value: Any, check: Any) -> Any:
    """``await value``, if ``check`` holds for it (for ``eventually``)."""
    got = await value
    return got if got is not None and check(got) else None


async def test_one_member_created_at_two_stores_is_merged_everywhere(
        hq: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    hq_client = await aiohttp_client(create_hq(hq_settings(hq.dir)))
    admin = await hq_login(hq_client)
    s1 = await edge_app(tmp_path, hq, "s1", aiohttp_client)
    s2 = await edge_app(tmp_path, hq, "s2", aiohttp_client)
    c1, c2 = await login_as(s1, "cashier"), await login_as(s2, "cashier")
    for store in (s1, s2):
        await eventually(lambda s=store: member_store.load_key(s.app[keys.SETTINGS].data_dir))
    # the same customer signs up at both tills at once: each store makes its own member
    (st1, m1), (st2, m2) = await asyncio.gather(*(
        api.post("/api/v1/members", {"phone": f"+86 {PHONE}"},
                 headers={"Idempotency-Key": uuid.uuid4().hex}) for api in (c1, c2)))
    assert (st1, st2) == (201, 201), (m1, m2)
    survivor = min(m1["id"], m2["id"])  # HQ: the member created first (ULID order) survives
    status, order = await c2.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C001", "qty": 1}], "member": m2["id"]},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201, order
    for api in (c1, c2):
        await eventually(lambda a=api: _with(lookup(a), lambda m: m["id"] == survivor))
    _, detail = await admin.get(f"/api/v1/members/{max(m1['id'], m2['id'])}")
    assert detail["id"] == survivor
    await eventually(lambda: _with(c2.get(f"/api/v1/orders/{order['id']}"),
                                   lambda r: r[1]["member"] == survivor))


async def test_with_the_followers_fan_out_a_till_asks_hq_for_a_member_it_never_met(
        hq: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    """HQ sends a member only to the stores that met it: s2 never got s1's member, its till
    finds it all the same in one lookup (member.sought, HQ sends the member and its points),
    and an identity nobody has answers 404 as soon as HQ says so (member.unknown)."""
    hq_client = await aiohttp_client(create_hq(hq_settings(
        hq.dir, overrides={"members.fanout": "followers"})))
    admin = await hq_login(hq_client)
    status, body = await admin.call("PUT", "/api/v1/loyalty/rules", {"default": 1})
    assert status == 200, body
    s1 = await edge_app(tmp_path, hq, "s1", aiohttp_client)
    s2 = await edge_app(tmp_path, hq, "s2", aiohttp_client)
    c1, c2 = await login_as(s1, "cashier"), await login_as(s2, "cashier")
    for store in (s1, s2):
        await eventually(lambda s=store: member_store.load_key(s.app[keys.SETTINGS].data_dir))
        await eventually(lambda s=store: s.app[keys.DB].read(member_store.loyalty_rules))
    status, created = await c1.post("/api/v1/members", {"phone": PHONE, "name": "Li"},
                                    headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201, created
    status, order = await c1.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C001", "qty": 1}], "member": created["id"]},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201 and order["points_earned"] > 0, order

    async def hq_points() -> int | None:
        status, detail = await admin.get(f"/api/v1/members/{created['id']}")
        return int(detail["balances"]["points"]) if status == 200 else None

    await eventually(lambda: _with(hq_points(), lambda p: p == order["points_earned"]))
    await asyncio.sleep(1.0)  # nothing of the member reaches s2 on its own
    assert await s2.app[keys.DB].read(member_store.by_idhash, _idhash(s2)) is None
    status, found = await c2.get(f"/api/v1/members/lookup?phone={PHONE}")
    assert status == 200, found
    assert (found["id"], found["name"], found["points"]) == (
        created["id"], "Li", order["points_earned"])
    started = asyncio.get_running_loop().time()
    status, body = await c2.get("/api/v1/members/lookup?phone=13900000000")
    waited = asyncio.get_running_loop().time() - started
    assert (status, body["detail"]) == (404, {"kind": "phone", "asked_hq": True}), body
    assert waited < SOUGHT_WAIT_S - 0.5  # HQ's member.unknown, not the end of the wait
    # later changes of the member reach s2 too: it follows the member now
    status, again = await c1.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C001", "qty": 2}], "member": created["id"]},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201, again
    total = order["points_earned"] + again["points_earned"]
    await eventually(lambda: _with(lookup(c2), lambda m: m["points"] == total))


def _idhash(client: Any) -> str:
    key = member_store.load_key(client.app[keys.SETTINGS].data_dir)
    assert key is not None
    return str(rules.identity(key, "phone", PHONE)["idhash"])
