"""Referrals at HQ on both backends: a code per member, the referral recorded from the store's
``member.created``, refused for an unknown code, oneself, a known member and a loop; both
rewarded once on the referee's first paid order of the minimum, whichever store sees it."""

from __future__ import annotations

from typing import Any

import pytest

from cloud.database import CloudDb
from cloud.members.coupons import UnknownTemplate
from common.referrals import ALPHABET, CODE_PATTERN, normal

from .conftest import MemberSim, feed

A, B, C, D, E = (f"01HREF{n:020d}" for n in range(1, 6))
TEMPLATE = {"kind": "amount_off", "value": 1000, "valid_from": "2026-01-01T00:00:00Z",
            "valid_to": "2099-01-01T00:00:00Z"}
RULE = {"min_spend_cents": 5000, "referrer_template": "ref-give",
        "referee_template": "ref-get"}


@pytest.fixture
def rewarding(hq: CloudDb) -> CloudDb:
    for name in ("ref-give", "ref-get"):
        hq.put_coupon_template({**TEMPLATE, "template_id": name})
    hq.put_referral_rule(RULE)
    return hq


def order(sim: MemberSim, member: str, total: int, channel: str = "pos", paid: bool = True
          ) -> str:
    sim.orders += 1
    order_id = f"01JREF{sim.store.upper()}{sim.orders:016d}"
    at = sim._at()
    line = {"line_no": 1, "sku": "C001", "name": "Rice", "qty": 1, "unit_cents": total,
            "total_cents": total, "station": "kitchen", "note": None}
    sim.emit("order.placed", {"order": {
        "id": order_id, "number": sim.orders, "day": sim.day, "channel": channel,
        "status": "placed", "total_cents": total, "member": member, "table": None,
        "pickup": False, "created_at": at, "updated_at": at, "lines": [line],
        "stations": ["kitchen"]}, "stock": []})
    if paid:
        sim.emit("order.paid", {"order_id": order_id, "number": sim.orders,
                                "total_cents": total, "paid_cents": total, "change_cents": 0,
                                "tenders": [{"kind": "cash", "amount_cents": total}], "at": at})
    return order_id


def coupons_of(hq: CloudDb, member: str) -> list[str]:
    detail = hq.member_detail(member)
    assert detail is not None
    return sorted(c["template_id"] for c in detail["coupons"])


def test_a_code_per_member_drawn_once(hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    sims["s1"].created(A, phone="13800000001")
    sims["s1"].send(hq)
    first = hq.member_referral(A)
    assert first is not None and CODE_PATTERN.match(first["code"])
    assert set(first["code"]) <= set(ALPHABET)
    assert hq.member_referral(A) == first  # kept, not drawn again
    assert first["referrals"] == {"pending": 0, "rewarded": 0, "refused": 0}
    assert hq.member_referral("01HREF99999999999999999999") is None
    assert normal(first["code"].lower()) == first["code"]
    assert normal("O0I1L" + "AAA") is None  # look-alikes are not in the alphabet


def test_both_rewarded_once_on_the_first_order_of_the_minimum(
        rewarding: CloudDb, sims: dict[str, MemberSim]) -> None:
    hq, s1, s2 = rewarding, sims["s1"], sims["s2"]
    s1.created(A, phone="13800000001")
    s1.send(hq)
    code = hq.member_referral(A)["code"]  # type: ignore[index]
    s2.created(B, phone="13800000002", referral=None)  # no code: no referral
    s2.events[-1]["data"]["referral"] = code.lower()  # typed at the till, lower case
    s2.send(hq)
    assert hq.member_referral(A)["referrals"]["pending"] == 1  # type: ignore[index]
    order(s2, B, 4999)  # under the minimum: does not use the reward up
    order(s2, B, 6000, paid=False)  # placed, not paid
    s2.send(hq)
    assert coupons_of(hq, A) == [] and coupons_of(hq, B) == []
    first = order(s1, B, 5000)  # paid at another store
    order(s2, B, 9000)
    s2.send(hq)
    s1.send(hq)
    assert coupons_of(hq, A) == ["ref-give"] and coupons_of(hq, B) == ["ref-get"]
    assert hq.member_referral(A)["referrals"] == {  # type: ignore[index]
        "pending": 0, "rewarded": 1, "refused": 0}
    order(s1, B, 50000)
    s1.send(hq)
    assert coupons_of(hq, A) == ["ref-give"] and coupons_of(hq, B) == ["ref-get"]
    report = hq.referral_report(None, "2000-01-01", "2100-01-01")
    assert (report["joined"], report["rewarded"]) == (1, 1)
    assert [(r["store"], r["joined"], r["rewarded"]) for r in report["by_store"]] == [
        ("s2", 1, 1)]
    issued = [c["data"]["template_id"] for c in feed(hq, "s3", "coupon.issued")]
    assert sorted(issued) == ["ref-get", "ref-give"]  # every store can redeem them
    assert first  # the order that earned it was paid at s1 (one of the two batches won)


def test_a_platform_order_is_paid_when_placed(rewarding: CloudDb,
                                              sims: dict[str, MemberSim]) -> None:
    hq, s1 = rewarding, sims["s1"]
    s1.created(A, phone="13800000001")
    s1.send(hq)
    code = hq.member_referral(A)["code"]  # type: ignore[index]
    s1.created(B, phone="13800000002", referral=None)
    s1.events[-1]["data"]["referral"] = code
    order(s1, B, 8000, channel="meituan", paid=False)
    s1.send(hq)
    assert coupons_of(hq, B) == ["ref-get"]


def test_refused_unknown_self_known_and_loop(rewarding: CloudDb,
                                             sims: dict[str, MemberSim]) -> None:
    hq, s1, s2 = rewarding, sims["s1"], sims["s2"]
    s1.created(A, phone="13800000001")
    s1.created(C, phone="13800000003")
    s1.send(hq)
    code_a = hq.member_referral(A)["code"]  # type: ignore[index]
    for member, phone, code in (
            (B, "13800000002", "ZZZZZZZZ"),  # nobody's code
            (D, "13800000001", code_a),  # A's own phone at a store that did not know A yet
            (E, "13800000003", code_a)):  # C, known already, "joins" again
        s2.created(member, phone=phone)
        s2.events[-1]["data"]["referral"] = code
    s2.send(hq)
    report = hq.referral_report(None, "2000-01-01", "2100-01-01")
    assert report["refusals"] == {"unknown_code": 1, "self": 1, "not_new": 1, "loop": 0}
    assert (report["refused"], report["pending"]) == (3, 0)
    order(s2, B, 9000)
    order(s2, D, 9000)
    s2.send(hq)
    assert coupons_of(hq, A) == []



def test_a_loop_through_a_merge_is_refused(rewarding: CloudDb,
                                           sims: dict[str, MemberSim]) -> None:
    """A refers B; A joins again under another phone with B's code (pending: nobody can
    tell yet), then adds the first phone: the merge makes it A, whom B's code can't reward."""
    hq, s1, s2 = rewarding, sims["s1"], sims["s2"]
    s1.created(A, phone="13800000001")
    s1.send(hq)
    s2.created(B, phone="13800000002")
    s2.events[-1]["data"]["referral"] = hq.member_referral(A)["code"]  # type: ignore[index]
    s2.send(hq)
    s2.created(C, phone="13800000009")
    s2.events[-1]["data"]["referral"] = hq.member_referral(B)["code"]  # type: ignore[index]
    s2.send(hq)
    assert hq.member_referral(B)["referrals"]["pending"] == 1  # type: ignore[index]
    s2.emit("member.identity_added", {"member": C, "identity": s2.phone("13800000001")})
    order(s2, C, 9000)
    s2.send(hq)
    assert coupons_of(hq, B) == [] and coupons_of(hq, A) == []
    report = hq.referral_report(["s2"], "2000-01-01", "2100-01-01")
    assert report["refusals"]["loop"] == 1 and report["pending"] == 1  # B's own: pending
    order(s2, B, 9000)  # B's first paid order still rewards A and B
    s2.send(hq)
    assert coupons_of(hq, B) == ["ref-get"]
    assert "ref-give" in coupons_of(hq, hq.member_referral(A)["member"])  # type: ignore[index]


def test_the_rule_needs_its_templates(hq: CloudDb) -> None:
    with pytest.raises(UnknownTemplate):
        hq.put_referral_rule(RULE)
    assert hq.referral_rule() is None
