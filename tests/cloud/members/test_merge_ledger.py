"""HQ member projections on both backends: the tenant key, One-ID merges, profile fields,
ledger forwarding and convergence, expiry, bad member events."""

from __future__ import annotations

import base64

from cloud.database import CloudDb
from cloud.db.backend import open_backend

from .conftest import STORES, MemberSim, feed

A = "01JAAAAAAAAAAAAAAAAAAAAAAA"  # created first (ULID order): survives
B = "01JBBBBBBBBBBBBBBBBBBBBBBB"
PHONE = "+8613800138000"


def test_tenant_key_is_the_first_change_of_every_store_once(hq: CloudDb, db_url: str) -> None:
    keys = {}
    for store in (*STORES, "x1"):
        first = hq.changes_since(store, 0).changes[0]
        assert first["cursor"] == 1 and first["type"] == "tenant.key"
        keys[store] = first["data"]["key"]
        assert len(base64.b64decode(keys[store])) == 32
    assert keys["s1"] == keys["s2"] == keys["s3"] == hq.tenant_key("acme") != keys["x1"]
    assert hq.changes_since("s1", 0, limit=0).changes[0]["type"] == "tenant.key"  # snapshot
    # a store provisioned before members gets the key appended at the next start-up
    raw = open_backend(db_url)
    with raw.write():
        raw.execute("DELETE FROM feed_state WHERE store = 's2'")
        raw.execute("DELETE FROM changes WHERE store = 's2'")
    raw.close()
    again = CloudDb.open(db_url)
    try:
        assert [(c["type"], c["data"]) for c in feed(again, "s2")] == [
            ("tenant.key", {"key": keys["s1"]})]
        assert len(feed(again, "s1")) == 1  # not appended twice
    finally:
        again.close()


def test_one_id_merge_of_the_same_phone_created_offline_at_two_stores(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    s1, s2, s3 = sims["s1"], sims["s2"], sims["s3"]
    s2.created(B, PHONE, name="Li")
    s2.entry(B, 120)
    s2.order()
    s2.events[-1]["data"]["order"]["member"] = B
    s1.created(A, PHONE)
    s1.entry(A, 30)
    s2.send(hq)
    ack = s1.send(hq)
    assert ack.feed  # the merge went to the stores' feeds at once
    (found,) = hq.find_members(phone_hash=s1.phone(PHONE)["idhash"])
    assert found["id"] == A and found["balances"] == {"points": 150, "value": 0}
    detail = hq.member_detail(B)  # the merged id answers with the survivor
    assert detail is not None and detail["id"] == A and detail["name"] == "Li"
    assert {e["original_member"] for e in detail["ledger"]} == {A, B}
    assert [(m["from"], m["into"]) for m in detail["merges"]] == [(B, A)]
    assert [i["last4"] for i in detail["identities"]] == ["8000"]
    assert [o["member"] for o in hq.store_orders("s2")] == [A]
    for store in STORES:
        assert [c["data"] for c in feed(hq, store, "member.merged")] == [{"from": B,
                                                                          "into": A}]
    # idempotent: the same phone again (another store, the old id) merges nothing more
    s3.emit("member.identity_added", {"member": B, "identity": s3.phone(PHONE)})
    s3.entry(B, 5)  # a late entry naming the old id lands on the survivor
    s3.send(hq)
    detail = hq.member_detail(A)
    assert detail is not None and len(detail["merges"]) == 1
    assert detail["balances"]["points"] == 155
    assert len(feed(hq, "s1", "member.merged")) == 1
    assert hq.conflicts() == []


def test_profile_fields_are_last_writer_wins_by_hlc(hq: CloudDb,
                                                    sims: dict[str, MemberSim]) -> None:
    s1, s2 = sims["s1"], sims["s2"]
    s1.created(A, PHONE, name="Old")
    s1.send(hq)
    s2.emit("member.profile_changed", {"member": A, "fields": {"name": "Newest"},
                                       "hlc": s2.hlc(at=500)})
    s1.emit("member.profile_changed", {"member": A, "fields": {"name": "Older",
                                                               "birthday": "03-14"},
                                       "hlc": s1.hlc(at=300)})
    s2.send(hq)
    s1.send(hq)  # arrives later but was written earlier: the name stays, birthday is new
    detail = hq.member_detail(A)
    assert detail is not None and (detail["name"], detail["birthday"]) == ("Newest", "03-14")
    last = feed(hq, "s3", "member.upsert")[-1]["data"]["member"]
    assert (last["name"], last["birthday"]) == ("Newest", "03-14")
    assert feed(hq, "s1", "member.upsert")[-1]["data"]["member"]["name"] == "Newest"


def test_ledger_entries_reach_every_other_store_and_sums_converge(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    sims["s1"].created(A, PHONE)
    sims["s1"].send(hq)
    own: dict[str, list[dict[str, object]]] = {s: [] for s in STORES}
    for n, store in enumerate(STORES * 3):
        own[store].append(sims[store].entry(A, 10 * (n + 1)))
        if n % 2:
            own[store].append(sims[store].entry(A, 1000 * (n + 1), "topup", "value"))
    for store in reversed(STORES):
        sims[store].send(hq)
        sims[store].send(hq)  # nothing new: a no-op
    balances = hq.member_detail(A)["balances"]  # type: ignore[index]
    for store in STORES:
        fed = feed(hq, store, "ledger.entry")
        assert {c["data"]["store"] for c in fed} == set(STORES) - {store}
        seen = {e["entry_id"]: e for e in own[store]} | {c["data"]["entry_id"]: c["data"]
                                                        for c in fed}
        totals = {acct: sum(int(e["amount"]) for e in seen.values()  # type: ignore[call-overload]
                            if e["account"] == acct) for acct in ("points", "value")}
        assert totals == balances
    assert balances["points"] == sum(10 * (n + 1) for n in range(9))


def test_a_ledger_entry_sent_twice_under_two_seqs_counts_once(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    s1 = sims["s1"]
    s1.created(A, PHONE)
    entry = s1.entry(A, 50)
    s1.emit("ledger.entry", entry)  # the same entry_id again (e.g. a replayed outbox)
    s1.send(hq)
    assert hq.member_detail(A)["balances"]["points"] == 50  # type: ignore[index]
    assert len(feed(hq, "s2", "ledger.entry")) == 1


def test_expiry_is_fifo_and_idempotent(hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    s1 = sims["s1"]
    s1.created(A, PHONE)
    s1.entry(A, 100)   # at 2026-11-23, older than the cutoff below
    s1.entry(A, -30, "redeem")
    s1.send(hq)
    made, cursors = hq.expire_points(12, now="2027-12-01T00:00:00.000Z")
    assert [(e["kind"], e["amount"], e["member"]) for e in made] == [("expire", -70, A)]
    assert set(cursors) == set(STORES)
    assert hq.expire_points(12, now="2027-12-01T00:00:00.000Z")[0] == []
    assert hq.member_detail(A)["balances"]["points"] == 0  # type: ignore[index]
    for store in STORES:  # HQ's entries go to every store, the origin too
        assert [c["data"]["kind"] for c in feed(hq, store, "ledger.entry")
                if c["data"]["store"] is None] == ["expire"]


def test_bad_member_events_are_conflicts_and_the_batch_still_applies(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    s1 = sims["s1"]
    s1.emit("member.created", {"member": {"id": A}, "identities": []})
    s1.emit("member.identity_added", {"member": "nobody", "identity": s1.phone(PHONE)})
    s1.emit("ledger.entry", {"entry_id": "E1", "member": A, "account": "points",
                             "kind": "topup", "amount": 5, "at": "x", "hlc": "y"})
    s1.emit("member.created", {"member": {"id": A, "created_at": "2026-11-23T00:00:00Z",
                                          "hlc": s1.hlc()},
                               "identities": [{"kind": "phone", "idhash": "not hex"}]})
    ack = s1.send(hq)
    assert ack.events_applied == 4
    kinds = [(c["kind"], c["detail"]["type"]) for c in hq.conflicts()]
    assert kinds == [("invalid_event", "member.created"),
                     ("invalid_event", "member.identity_added"),
                     ("invalid_event", "ledger.entry"), ("invalid_event", "member.created")]
    assert hq.find_members(member_id=A) == []


def test_a_store_added_later_gets_the_members_entries_and_coupons(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    sims["s2"].created(B, PHONE, name="Li")
    sims["s2"].entry(B, 40)
    sims["s1"].created(A, PHONE)  # merges B into A
    sims["s1"].entry(A, 2, "topup", "value")
    sims["s2"].send(hq)
    sims["s1"].send(hq)
    hq.put_coupon_template({"template_id": "T", "kind": "amount_off", "value": 1,
                            "valid_from": "2026-01-01T00:00:00.000Z",
                            "valid_to": "2099-01-01T00:00:00.000Z", "stores": None})
    _, coupons, _ = hq.issue_coupons("T", [B], 0, None, None)
    hq.issue_coupons("T", [], 1, ["s1"], None)  # not in s4's scope
    hq.add_store("s4", "acme")
    types = [c["type"] for c in feed(hq, "s4")]
    assert types == ["tenant.key", "coupon.template", "member.upsert", "ledger.entry",
                     "ledger.entry", "coupon.issued"]
    (upsert,) = [c["data"] for c in feed(hq, "s4", "member.upsert")]
    assert upsert["member"]["id"] == A and upsert["member"]["name"] == "Li"
    fed = [c["data"] for c in feed(hq, "s4", "ledger.entry")]
    assert {e["member"] for e in fed} == {A}
    totals = {acct: sum(e["amount"] for e in fed if e["account"] == acct)
              for acct in ("points", "value")}
    assert totals == hq.member_detail(A)["balances"]  # type: ignore[index]
    (issued,) = [c["data"] for c in feed(hq, "s4", "coupon.issued")]
    assert (issued["code"], issued["member"]) == (coupons[0]["code"], A)
    assert feed(hq, "x1", "member.upsert") == []  # another tenant's store: nothing
