"""Coupon redemption by HLC, cross-store campaigns and exclusive-group clashes, on both
backends (leases: test_leases.py)."""

from __future__ import annotations

from typing import Any

from cloud.database import CloudDb
from sync import messages

from .conftest import STORES, MemberSim, feed

A = "01JAAAAAAAAAAAAAAAAAAAAAAA"
PHONE = "+8613800138000"
FAR = ("2026-01-01T00:00:00.000Z", "2099-01-01T00:00:00.000Z")


def template(template_id: str, group: str | None = None, channels: Any = None,
             window: tuple[str, str] = FAR, **extra: Any) -> dict[str, Any]:
    return {"template_id": template_id, "kind": "amount_off", "value": 500,
            "valid_from": window[0], "valid_to": window[1], "exclusive_group": group,
            "channels": channels, **extra}


def test_the_first_redemption_by_hlc_wins_and_a_second_is_a_conflict(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    hq.put_coupon_template(template("T1"))
    _, (coupon,), cursors = hq.issue_coupons("T1", [], 1, None, None)
    assert set(cursors) == {*STORES, "x1"}
    code = coupon["code"]
    for store, at, order in (("s1", 200, "O-1"), ("s2", 100, "O-2"), ("s3", 300, "O-3")):
        sims[store].emit("coupon.redeemed", {"code": code, "order_id": order, "store": store,
                                             "at": "2026-11-23T10:00:00.000Z",
                                             "hlc": sims[store].hlc(at=at)})
        sims[store].send(hq)
    state = hq.coupon(code)
    assert state is not None and (state["redeemed_store"], state["order_id"]) == ("s2", "O-2")
    first, second = hq.conflicts()
    assert first["kind"] == second["kind"] == "coupon_double_redeem"
    assert [o["order_id"] for o in first["detail"]["orders"]] == ["O-2", "O-1"]
    assert first["detail"]["winner"]["store"] == "s2"
    assert [o["order_id"] for o in second["detail"]["orders"]] == ["O-2", "O-3"]
    verdicts = [c["data"] for c in feed(hq, "s1", "coupon.state")]
    assert verdicts[-1] == {"code": code, "state": "redeemed", "redeemed_store": "s2",
                            "order_id": "O-2"}
    assert feed(hq, "s3", "coupon.state")[-1]["data"]["redeemed_store"] == "s2"


def test_a_cross_store_campaign_issues_once_per_qualifying_order(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    hq.put_coupon_template(template("T2"))
    hq.put_campaign({"rule_id": "c1", "from_store": "s1", "min_total_cents": 10000,
                     "template_id": "T2", "to_store": "s2"})
    s1 = sims["s1"]
    s1.created(A, PHONE)
    s1.order(qty=1)      # 3 lines, total 8600 < 10000
    s1.order(qty=3)      # total 17000: qualifies
    s1.events[-1]["data"]["order"]["member"] = A
    s1.send(hq)
    issued = [c["data"] for c in feed(hq, "s2", "coupon.issued")]
    assert [(c["template_id"], c["member"], c["stores"]) for c in issued] == [
        ("T2", A, ["s2"])]
    assert feed(hq, "s1", "coupon.issued") == feed(hq, "s3", "coupon.issued") == []
    assert [c["code"] for c in hq.member_detail(A)["coupons"]] == [issued[0]["code"]]  # type: ignore[index]


def test_clashes_need_one_group_a_common_channel_and_overlapping_windows(
        hq: CloudDb) -> None:
    hq.put_coupon_template(template("G1", "lunch", ["pos", "meituan"]))
    hq.put_coupon_template(template("G2", "lunch", ["meituan"],
                                    ("2030-01-01T00:00:00.000Z", "2031-01-01T00:00:00.000Z")))
    hq.put_coupon_template(template("G3", "lunch", ["eleme"]))  # no common channel with G2
    hq.put_coupon_template(template("G4", "dinner"))           # another group
    hq.put_coupon_template(template("G5", "lunch", ["pos"],   # over before G2 starts
                                    ("2026-01-01T00:00:00.000Z", "2029-01-01T00:00:00.000Z")))
    found = {tuple(c["templates"]): c for c in hq.promotion_clashes()}
    assert set(found) == {("G1", "G2"), ("G1", "G5")}
    assert found["G1", "G2"]["channels"] == ["meituan"]
    assert found["G1", "G2"]["window"] == {"from": "2030-01-01T00:00:00.000Z",
                                           "to": "2031-01-01T00:00:00.000Z"}


def test_a_group_of_stores_applies_each_store_its_own_campaign_rules(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    """The rules of every store of a group are read in one query (apply.apply_batches):
    each store's qualifying order still issues its own rule's coupon, once."""
    hq.put_coupon_template(template("T3"))
    hq.put_campaign({"rule_id": "r1", "from_store": "s1", "min_total_cents": 10000,
                     "template_id": "T3", "to_store": "s2"})
    hq.put_campaign({"rule_id": "r2", "from_store": "s2", "min_total_cents": 5000,
                     "template_id": "T3", "to_store": "s3"})
    batches = []
    for store in ("s1", "s2", "s3"):
        sims[store].order(qty=3)  # total 17000: qualifies for r1 and r2 (s3 has no rule)
        batches.append(("acme", store, messages.encode(
            messages.up_batch(store, sims[store].events))))
    acks, _, grouped = hq.apply_batches(batches + [batches[0]])  # s1 again: a second wave
    assert grouped and [a.kind for a in acks] == ["applied"] * 3 + ["duplicate"]
    assert [c["data"]["stores"] for c in feed(hq, "s2", "coupon.issued")] == [["s2"]]
    assert [c["data"]["stores"] for c in feed(hq, "s3", "coupon.issued")] == [["s3"]]
    assert feed(hq, "s1", "coupon.issued") == []
    issued_by = hq._db.execute("SELECT rule_id, store FROM campaign_issues ORDER BY rule_id")
    assert [tuple(row) for row in issued_by.fetchall()] == [("r1", "s1"), ("r2", "s2")]
