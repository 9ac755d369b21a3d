"""Campaigns and the member's rights on both backends: attribution needs marketing consent;
withdrawing it (at HQ or at a store's till) removes the member's attributions at once and
leaves its visits anonymous; erasure unlinks the visits and clears their visitor ids; the
export and the journey show the member's campaign visits."""

from __future__ import annotations

from cloud.database import CloudDb

from tests.cloud.analytics.conftest import add_member

from .conftest import Till, attributed, campaign, visit

M1 = "01JAAAAAAAAAAAAAAAAAAAAAAA"
VISITOR = "m1-phone-browser-01"


def _linked(hq: CloudDb, member: str) -> int:
    return int(hq._db.execute("SELECT count(*) FROM campaign_visits WHERE member = ?",
                              (member,)).fetchone()[0])


def test_without_marketing_consent_nothing_is_attributed(hq: CloudDb,
                                                         tills: dict[str, Till]) -> None:
    campaign(hq, "douyin-a")
    add_member(hq, M1, marketing=False)
    visit(hq, "douyin-a", "2026-06-10T04:00:00.000Z", member=M1, visitor=VISITOR)
    order = tills["s1"].sell(M1, "2026-06-10T05:00:00.000Z")
    tills["s1"].send(hq)
    assert attributed(hq) == {} and _linked(hq, M1) == 0
    doc = hq.campaign_report("douyin-a")
    assert doc is not None and (doc["visits"], doc["visitors"], doc["members"]) == (1, 1, 0)
    hq.member_consents(M1, {"marketing": True})  # granted later: later orders count
    visit(hq, "douyin-a", "2026-06-11T04:00:00.000Z", member=M1)
    later = tills["s1"].sell(M1, "2026-06-11T05:00:00.000Z")
    tills["s1"].send(hq)
    assert attributed(hq) == {later: "douyin-a"} and order != later


def test_withdrawal_at_hq_stops_attribution_at_once(hq: CloudDb,
                                                    tills: dict[str, Till]) -> None:
    campaign(hq, "douyin-a")
    add_member(hq, M1)
    visit(hq, "douyin-a", "2026-06-10T04:00:00.000Z", member=M1, visitor=VISITOR)
    tills["s1"].sell(M1, "2026-06-10T05:00:00.000Z", 3000)
    tills["s1"].send(hq)
    assert len(attributed(hq)) == 1
    hq.member_consents(M1, {"marketing": False})
    assert attributed(hq) == {} and _linked(hq, M1) == 0
    doc = hq.campaign_report("douyin-a")
    assert doc is not None
    assert (doc["visits"], doc["visitors"], doc["members"], doc["orders"]) == (1, 1, 0, 0)
    # from now on: the member's visits stay anonymous, its orders unattributed
    visit(hq, "douyin-a", "2026-06-10T06:00:00.000Z", member=M1, visitor=VISITOR)
    tills["s2"].sell(M1, "2026-06-10T07:00:00.000Z")
    tills["s2"].send(hq)
    assert attributed(hq) == {} and _linked(hq, M1) == 0


def test_withdrawal_at_a_store_stops_attribution_everywhere(hq: CloudDb,
                                                            tills: dict[str, Till]) -> None:
    campaign(hq, "douyin-a")
    add_member(hq, M1)
    visit(hq, "douyin-a", "2026-06-10T04:00:00.000Z", member=M1)
    tills["s1"].sell(M1, "2026-06-10T05:00:00.000Z")
    tills["s1"].send(hq)
    assert len(attributed(hq)) == 1
    tills["s2"].emit("member.consent_changed", {"member": M1, "consents": {"marketing": False},
                                                "at": "2026-06-10T06:00:00.000Z",
                                                "source": "till"})
    tills["s2"].sell(M1, "2026-06-10T07:00:00.000Z")  # the same batch, after the withdrawal
    tills["s2"].send(hq)
    assert attributed(hq) == {} and _linked(hq, M1) == 0


def test_export_journey_and_erasure(hq: CloudDb, tills: dict[str, Till]) -> None:
    campaign(hq, "douyin-a", name="Spring <b>noodles</b>")
    add_member(hq, M1)
    visit(hq, "douyin-a", "2026-06-10T04:00:00.000Z", visitor=VISITOR)
    visit(hq, "douyin-a", "2026-06-10T04:30:00.000Z", visitor=VISITOR, member=M1)
    order = tills["s1"].sell(M1, "2026-06-10T05:00:00.000Z")
    tills["s1"].send(hq)
    exported = hq.member_export(M1)
    assert exported is not None
    assert [v["at"] for v in exported["campaign_visits"]] == ["2026-06-10T04:30:00.000Z",
                                                              "2026-06-10T04:00:00.000Z"]
    assert [a["order_id"] for a in exported["campaign_attributions"]] == [order]
    journey = hq.member_journey(M1)
    assert journey is not None
    kinds = [(e["kind"], e["at"]) for e in journey["events"]]
    assert ("campaign_visit", "2026-06-10T04:00:00.000Z") in kinds
    shown = next(e for e in journey["events"] if e["kind"] == "campaign_visit")
    assert shown["channel"] == "douyin" and shown["detail"]["campaign"] == "douyin-a"
    done, _ = hq.erase_member(M1, "admin")
    assert done is not None
    assert done["removed"]["campaign_visits"] == 2
    assert done["removed"]["order_attributions"] == 1
    assert attributed(hq) == {} and _linked(hq, M1) == 0
    assert hq._db.execute("SELECT count(*) FROM campaign_visits WHERE visitor = ?",
                          (VISITOR,)).fetchone()[0] == 0
    doc = hq.campaign_report("douyin-a")
    assert doc is not None and (doc["visits"], doc["members"], doc["orders"]) == (2, 0, 0)
    after = hq.member_journey(M1)
    assert after is not None and {e["kind"] for e in after["events"]} == {"order"}
