"""HQ member changes through the down feed: a protocol peer on a real Mosquitto.

The peer (tests/system/test_edge_sync.py) publishes change-feed messages; each
change type is applied, applying a message twice is harmless, a merge re-points every
reference and keeps an alias, and a bad change is rejected as an event, not applied.
"""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import uuid
from pathlib import Path
from typing import Any

from edge import keys
from edge.members import sql as member_store
from edge.members.routes import SOUGHT_WAIT_S
from tests.broker import Broker
from tests.conftest import login_as
from tests.helpers import make_store
from tests.system.test_edge_sync import Peer, broker, edge_client, health, peer  # noqa: F401

from .conftest import KEY_CHANGE, TENANT_KEY, hlc, iso_in, phone_identity

OLD, NEW = "01HAAAAAAAAAAAAAAAAAAAAAA1", "01HBBBBBBBBBBBBBBBBBBBBBB2"


def changes() -> list[dict[str, Any]]:
    window = {"valid_from": iso_in(-1), "valid_to": iso_in(1)}
    entry = {"member": OLD, "account": "points", "kind": "adjust", "store": "s2",
             "at": iso_in(0), "hlc": hlc()}
    listed = [
        KEY_CHANGE,
        {"type": "member.upsert", "data": {
            "member": {"id": OLD, "name": "Old", "hlc": hlc()},
            "identities": [phone_identity("+8613800000001")]}},
        {"type": "member.upsert", "data": {
            "member": {"id": NEW, "name": "New", "birthday": "05-01", "hlc": hlc()},
            "identities": [phone_identity("+8613800000002")]}},
        {"type": "ledger.entry", "data": {**entry, "entry_id": "E1", "amount": 100}},
        {"type": "lease.granted", "data": {
            "lease_id": "L1", "member": OLD, "points": 80, "value": 0, "per_txn_points": 50,
            "per_txn_value": 0, "expires_at": iso_in(1)}},
        {"type": "loyalty.rules", "data": {"default": 1, "channels": {"meituan": 0.5}}},
        {"type": "coupon.template", "data": {"template_id": "T1", "kind": "amount_off",
                                             "value": 300, **window}},
        {"type": "coupon.issued", "data": {"code": "CPN-1", "template_id": "T1", "member": OLD,
                                           "issued_at": iso_in(-1), "state": "issued"}},
        {"type": "coupon.issued", "data": {"code": "CPN-2", "template_id": "T1",
                                           "issued_at": iso_in(-1), "state": "issued"}},
        {"type": "coupon.state", "data": {"code": "CPN-2", "state": "redeemed",
                                          "redeemed_store": "s2", "order_id": "O-S2"}},
        {"type": "reco.pairs", "data": {"pairs": [
            {"a": "C001", "b": "S001", "support": 0.2, "confidence": 0.6, "lift": 1.8}]}},
        {"type": "member.merged", "data": {"from": OLD, "into": NEW}},
        # late: names the merged id, lands on the survivor
        {"type": "ledger.entry", "data": {**entry, "entry_id": "E2", "amount": 5}},
        # as HQ sends its own entries and a profile without an HLC: no store, a note
        {"type": "ledger.entry", "data": {**entry, "entry_id": "E4", "amount": 7, "store": None,
                                          "note": "goodwill"}},
        {"type": "member.upsert", "data": {"member": {"id": NEW, "name": None, "hlc": None},
                                           "identities": []}},
        # invalid ones: rejected as events, the cursor moves past them
        {"type": "ledger.entry", "data": {**entry, "entry_id": "E3", "amount": "5"}},
        {"type": "lease.granted", "data": {"lease_id": "L2", "member": NEW}},
        {"type": "tenant.key", "data": {"key": base64.b64encode(b"short").decode()}},
        {"type": "member.upsert", "data": {"member": {"id": "not-a-ulid", "hlc": "1"}}},
    ]
    return [{"cursor": n, **c} for n, c in enumerate(listed, start=1)]


async def wait_cursor(client: Any, cursor: int) -> None:
    for _ in range(200):
        if (await health(client)).get("down_cursor") == cursor:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"down cursor never reached {cursor}: {await health(client)}")


async def test_member_changes_apply_once_end_to_end(
        tmp_path: Path, broker: Broker, peer: Peer, aiohttp_client: Any) -> None:  # noqa: F811
    data = make_store(tmp_path / "s1", "s1")
    client = await edge_client(tmp_path, broker, aiohttp_client, data)
    cashier = await login_as(client, "cashier")
    await peer.wait(lambda: peer.states)
    status, _ = await cashier.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C001", "qty": 1}]},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201
    feed = changes()
    peer.down(0, feed)
    peer.down(0, feed)  # the same message again: harmless
    await wait_cursor(client, len(feed))
    key_file = data / member_store.KEY_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert member_store.load_key(data) == TENANT_KEY

    status, new = await cashier.get("/api/v1/members/lookup?phone=13800000002")
    assert status == 200, new
    assert (new["id"], new["name"], new["birthday"]) == (NEW, "New", "05-01")
    assert new["points"] == 112  # E1 re-pointed by the merge, E2 by the alias; once each
    assert new["allowance"]["lease_id"] == "L1" and new["allowance"]["points"] == 80
    assert [c["code"] for c in new["coupons"]] == ["CPN-1"]  # CPN-2: HQ says redeemed
    status, old = await cashier.get("/api/v1/members/lookup?phone=13800000001")
    assert old["id"] == NEW  # the merged member's identity finds the survivor
    status, reco = await cashier.get("/api/v1/recommendations?skus=C001")
    assert [r["sku"] for r in reco["recommendations"]] == ["S001"]
    status, order = await cashier.post("/api/v1/orders", {
        "channel": "meituan", "lines": [{"sku": "C001", "qty": 1}], "member": OLD,
        "coupons": ["CPN-1"]}, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201, order
    assert order["member"] == NEW and order["discount_cents"] == 300
    assert order["points_earned"] == (order["total_cents"] // 2) // 100

    await peer.wait(lambda: sum(e["type"] == "sync.change_rejected" for e in peer.events) >= 4)
    rejected = [e["data"] for e in peer.events if e["type"] == "sync.change_rejected"]
    assert [r["cursor"] for r in rejected] == [16, 17, 18, 19]
    assert (await health(client))["down_cursor"] == len(feed)
    counts = await client.app[keys.DB].read(_counts)
    assert counts == {"ledger_entries": 4, "leases": 1, "member_aliases": 1, "coupons": 2,
                      "members": 2, "member_identities": 2, "reco_pairs": 1}
    await client.close()


def _counts(conn: Any) -> dict[str, int]:
    return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in (
        "ledger_entries", "leases", "member_aliases", "coupons", "members",
        "member_identities", "reco_pairs")}


async def test_merge_repoints_orders_and_a_different_tenant_key_is_refused(
        tmp_path: Path, broker: Broker, peer: Peer, aiohttp_client: Any) -> None:  # noqa: F811
    client = await edge_client(tmp_path, broker, aiohttp_client)
    cashier = await login_as(client, "cashier")
    await peer.wait(lambda: peer.states)
    peer.down(0, changes()[:3])
    await wait_cursor(client, 3)
    status, order = await cashier.post("/api/v1/orders", {
        "channel": "pos", "lines": [{"sku": "C001", "qty": 1}], "member": OLD},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert order["member"] == OLD
    other_key = base64.b64encode(b"o" * 32).decode()
    peer.down(3, [{"cursor": 4, "type": "member.merged", "data": {"from": OLD, "into": NEW}},
                  {"cursor": 5, "type": "member.merged", "data": {"from": OLD, "into": NEW}},
                  {"cursor": 6, "type": "tenant.key", "data": {"key": other_key}}])
    await wait_cursor(client, 6)
    _, again = await cashier.get(f"/api/v1/orders/{order['id']}")
    assert again["member"] == NEW
    await peer.wait(lambda: any(e["type"] == "sync.change_rejected" for e in peer.events))
    rejected = [e["data"] for e in peer.events if e["type"] == "sync.change_rejected"]
    assert [(r["cursor"], "tenant_key_mismatch" in r["reason"]) for r in rejected] == [(6, True)]
    await client.close()


async def test_a_shrink_or_revoke_is_acked_after_the_spends_made_under_the_old_amount(
        tmp_path: Path, broker: Broker, peer: Peer, aiohttp_client: Any) -> None:  # noqa: F811
    client = await edge_client(tmp_path, broker, aiohttp_client)
    cashier = await login_as(client, "cashier")
    await peer.wait(lambda: peer.states)
    assert isinstance(peer.states[-1]["outbox_seq"], int)  # HQ settles once it has those
    lease = {"lease_id": "L1", "member": OLD, "points": 80, "value": 0, "per_txn_points": 50,
             "per_txn_value": 0, "expires_at": iso_in(1)}
    peer.down(0, changes()[:4] + [{"cursor": 5, "type": "lease.granted",
                                   "data": {**lease, "rev": 1, "ack": False}}])
    await wait_cursor(client, 5)
    status, spent = await cashier.post(f"/api/v1/members/{OLD}/redeem", {"points": 50},
                                       headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201, spent
    peer.down(5, [{"cursor": 6, "type": "lease.granted",
                   "data": {**lease, "points": 60, "rev": 2, "ack": True}}])
    await wait_cursor(client, 6)
    _, found = await cashier.get("/api/v1/members/lookup?phone=13800000001")
    assert found["allowance"]["points"] == 10  # the new total minus the 50 spent
    peer.down(6, [{"cursor": 7, "type": "lease.revoked",
                   "data": {"lease_id": "L1", "rev": 3, "ack": True}}])
    await wait_cursor(client, 7)
    await peer.wait(lambda: sum(e["type"] == "lease.acked" for e in peer.events) >= 2)
    mine = [e for e in peer.events if e["type"] in ("ledger.entry", "lease.acked")]
    assert [(e["type"], e["data"].get("rev")) for e in mine] == [
        ("ledger.entry", None), ("lease.acked", 2), ("lease.acked", 3)]
    assert mine[0]["seq"] < mine[1]["seq"] < mine[2]["seq"]
    assert mine[1]["data"] == {"lease_id": "L1", "rev": 2}
    _, found = await cashier.get("/api/v1/members/lookup?phone=13800000001")
    assert found["allowance"] is None
    await client.close()


async def test_a_lookup_of_an_unknown_identity_asks_hq_and_waits_for_its_answer(
        tmp_path: Path, broker: Broker, peer: Peer, aiohttp_client: Any) -> None:  # noqa: F811
    """Connected, a till's miss sends ``member.sought`` and waits: the member HQ sends is the
    answer (200 with its balance), ``member.unknown`` a 404 at once; a retry within 10 s
    waits for the same answer without asking again; an erasure leaves no copy of the hash."""
    data = make_store(tmp_path / "s1", "s1")
    client = await edge_client(tmp_path, broker, aiohttp_client, data)
    cashier = await login_as(client, "cashier")
    await peer.wait(lambda: peer.states)
    peer.down(0, [{"cursor": 1, **KEY_CHANGE}])
    await wait_cursor(client, 1)
    known, unknown = phone_identity("+8613800000009"), phone_identity("+8613900000009")

    def sought() -> list[dict[str, Any]]:
        return [e["data"] for e in peer.events if e["type"] == "member.sought"]

    asking = asyncio.create_task(cashier.get("/api/v1/members/lookup?phone=13800000009"))
    await peer.wait(lambda: len(sought()) == 1)
    assert sought() == [{"identity": {"kind": "phone", "idhash": known["idhash"]}}]
    peer.down(1, [{"cursor": 2, "type": "member.upsert", "data": {
        "member": {"id": NEW, "name": "Far", "hlc": hlc()}, "identities": [known]}},
        {"cursor": 3, "type": "ledger.entry", "data": {
            "entry_id": "E9", "member": NEW, "account": "points", "kind": "earn",
            "amount": 42, "store": "s2", "at": iso_in(0), "hlc": hlc()}}])
    status, found = await asking
    assert status == 200 and (found["id"], found["name"], found["points"]) == (NEW, "Far", 42)

    loop = asyncio.get_running_loop()
    asking = asyncio.create_task(cashier.get("/api/v1/members/lookup?phone=13900000009"))
    await peer.wait(lambda: len(sought()) == 2)
    started = loop.time()
    peer.down(3, [{"cursor": 4, "type": "member.unknown", "data": {"idhash": unknown["idhash"]}}])
    status, body = await asking
    assert (status, body["detail"]) == (404, {"kind": "phone", "asked_hq": True}), body
    assert loop.time() - started < SOUGHT_WAIT_S - 1.0  # HQ's answer, not the wait's end
    started = loop.time()
    status, body = await cashier.get("/api/v1/members/lookup?phone=13900000009")
    assert status == 404 and loop.time() - started < SOUGHT_WAIT_S - 1.0
    assert len(sought()) == 2  # not asked again

    peer.down(4, [{"cursor": 5, "type": "member.erased", "data": {"member": NEW, "ids": [NEW]}}])
    await wait_cursor(client, 5)
    copies = await client.app[keys.DB].read(lambda conn: conn.execute(
        "SELECT (SELECT COUNT(*) FROM outbox WHERE data LIKE ?), "
        "(SELECT COUNT(*) FROM member_sought WHERE idhash = ?)",
        (f"%{known['idhash']}%", known["idhash"])).fetchone())
    assert tuple(copies) == (0, 0)
    await client.close()
