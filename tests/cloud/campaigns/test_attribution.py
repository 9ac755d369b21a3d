"""Campaign attribution at HQ on both backends, through the stores' real batches: last touch
(ties to the visit recorded later), the window's boundary, orders of two stores and two
channels, a cancelled order, anonymous visits linked when the visitor becomes a member, a
merged member, and the report's figures."""

from __future__ import annotations

import pytest

from cloud.campaigns.sql import Refused
from cloud.database import CloudDb
from cloud.members import sql as members

from tests.cloud.analytics.conftest import add_member

from .conftest import Till, attributed, campaign, visit

M1 = "01JAAAAAAAAAAAAAAAAAAAAAAA"
M2 = "01JBBBBBBBBBBBBBBBBBBBBBBB"
M3 = "01JCCCCCCCCCCCCCCCCCCCCCCC"


def test_last_touch_ties_and_the_window(hq: CloudDb, tills: dict[str, Till]) -> None:
    campaign(hq, "douyin-a", window_days=7)
    campaign(hq, "poster-b", source="poster", window_days=3, cost_cents=0)
    add_member(hq, M1)
    add_member(hq, M2)
    visit(hq, "douyin-a", "2026-06-10T04:00:00.000Z", member=M1)
    visit(hq, "poster-b", "2026-06-11T04:00:00.000Z", member=M1)
    s1 = tills["s1"]
    after_b = s1.sell(M1, "2026-06-12T04:00:00.000Z")   # B is the latest visit
    # a tie: both at the same instant; the one recorded later (poster-b, then douyin-a) wins
    visit(hq, "poster-b", "2026-06-13T04:00:00.000Z", member=M1)
    visit(hq, "douyin-a", "2026-06-13T04:00:00.000Z", member=M1)
    tied = s1.sell(M1, "2026-06-13T05:00:00.000Z")
    # B's window (3 days) is over but A's (7) is not: the last visit still in its window
    b_over = s1.sell(M1, "2026-06-19T04:00:00.000Z")
    # M2: one visit of A; an order exactly 7 days later counts, 1 ms later does not
    visit(hq, "douyin-a", "2026-06-02T00:00:00.000Z", member=M2)
    edge = s1.sell(M2, "2026-06-09T00:00:00.000Z")
    past = s1.sell(M2, "2026-06-09T00:00:00.001Z")
    before = s1.sell(M2, "2026-06-01T23:59:59.999Z")  # before the visit: no touch yet
    s1.send(hq)
    assert attributed(hq) == {after_b: "poster-b", tied: "douyin-a", b_over: "douyin-a",
                              edge: "douyin-a"}
    assert past not in attributed(hq) and before not in attributed(hq)
    doc = hq.campaign_report("poster-b")
    assert doc is not None and (doc["orders"], doc["revenue_cents"], doc["roi"]) == (1, 1000,
                                                                                     None)


def test_report_by_store_and_channel_without_cancelled_orders(
        hq: CloudDb, tills: dict[str, Till]) -> None:
    campaign(hq, "douyin-a", cost_cents=2000)
    add_member(hq, M1)
    add_member(hq, M2, marketing=False)  # never granted: visits anonymous, nothing attributed
    visit(hq, "douyin-a", "2026-06-10T04:00:00.000Z", member=M1, visitor="v" * 20)
    visit(hq, "douyin-a", "2026-06-10T05:00:00.000Z", member=M1)
    visit(hq, "douyin-a", "2026-06-10T06:00:00.000Z", member=M2, visitor="w" * 20)
    visit(hq, "douyin-a", "2026-06-10T07:00:00.000Z", visitor="x" * 20)
    s1, s2 = tills["s1"], tills["s2"]
    s1.sell(M1, "2026-06-11T04:00:00.000Z", 1500, "pos")
    s1.sell(M1, "2026-06-11T05:00:00.000Z", 2500, "meituan")
    cancelled = s2.sell(M1, "2026-06-11T06:00:00.000Z", 9900, "meituan")
    s2.sell(M1, "2026-06-12T06:00:00.000Z", 4000, "meituan")
    s2.sell(M2, "2026-06-12T06:00:00.000Z", 7000, "pos")
    s1.send(hq)
    s2.send(hq)
    s2.cancel(cancelled)
    s2.send(hq)
    doc = hq.campaign_report("douyin-a")
    assert doc is not None
    assert (doc["visits"], doc["visitors"], doc["members"]) == (4, 3, 1)
    assert (doc["orders"], doc["revenue_cents"], doc["cost_cents"]) == (3, 8000, 2000)
    assert doc["roi"] == 3.0
    assert doc["by_store"] == {"s1": {"orders": 2, "revenue_cents": 4000},
                               "s2": {"orders": 1, "revenue_cents": 4000}}
    assert doc["by_channel"] == {"meituan": {"orders": 2, "revenue_cents": 6500},
                                 "pos": {"orders": 1, "revenue_cents": 1500}}
    week = hq.campaign_report("douyin-a", "2026-06-12", "2026-06-12")  # shop-local days
    assert week is not None and (week["visits"], week["orders"]) == (0, 1)
    assert hq.campaign_report("nope") is None


def test_anonymous_visits_are_linked_when_the_visitor_becomes_a_member(
        hq: CloudDb, tills: dict[str, Till]) -> None:
    campaign(hq, "douyin-a", window_days=7)
    visitor = "anon-visitor-0001"
    visit(hq, "douyin-a", "2026-06-10T04:00:00.000Z", visitor=visitor)
    visit(hq, "douyin-a", "2026-06-10T04:05:00.000Z", visitor=visitor)
    add_member(hq, M1)  # joined after the first visit, within the window: a member won
    with hq._db.write():
        hq._db.execute("UPDATE members SET created_at = ? WHERE id = ?",
                       ("2026-06-11T00:00:00.000Z", M1))
    add_member(hq, M2)  # an old member (created long before): not won
    visit(hq, "douyin-a", "2026-06-10T06:00:00.000Z", member=M2)
    s1 = tills["s1"]
    early = s1.sell(M1, "2026-06-11T01:00:00.000Z")  # before HQ knew the visitor was M1
    s1.send(hq)
    assert attributed(hq) == {}
    before = hq.campaign_report("douyin-a")
    assert before is not None and (before["visitors"], before["members"]) == (2, 1)
    visit(hq, "douyin-a", "2026-06-12T00:00:00.000Z", visitor=visitor, member=M1)
    assert attributed(hq) == {early: "douyin-a"}  # the linked visits attribute it now
    doc = hq.campaign_report("douyin-a")
    assert doc is not None
    assert (doc["visits"], doc["visitors"], doc["members"], doc["new_members"]) == (4, 2, 2, 1)
    linked = hq._db.execute("SELECT count(*) FROM campaign_visits WHERE member = ?",
                            (M1,)).fetchone()[0]
    assert linked == 3


def test_a_merged_member_counts_as_its_survivor(hq: CloudDb, tills: dict[str, Till]) -> None:
    campaign(hq, "douyin-a")
    add_member(hq, M1)
    add_member(hq, M3)
    visit(hq, "douyin-a", "2026-06-10T04:00:00.000Z", member=M3, visitor="m3-visitor-00001")
    first = tills["s1"].sell(M3, "2026-06-10T05:00:00.000Z")
    tills["s1"].send(hq)
    with hq._db.write():  # the same guest: M1 (the earlier id) survives
        members.merge(members.Ctx(hq._db, "acme", None, "2026-06-10T06:00:00.000Z"), M1, M3,
                      None)
    visit(hq, "douyin-a", "2026-06-10T07:00:00.000Z", member=M3)  # the old id: the survivor
    late = tills["s2"].sell(M3, "2026-06-11T05:00:00.000Z")  # a late order naming M3
    tills["s2"].send(hq)
    assert attributed(hq) == {first: "douyin-a", late: "douyin-a"}
    rows = hq._db.execute("SELECT DISTINCT member FROM order_attributions").fetchall()
    assert rows == [(M1,)]
    doc = hq.campaign_report("douyin-a")
    assert doc is not None and (doc["members"], doc["visitors"], doc["orders"]) == (1, 1, 2)


def test_visits_of_an_unknown_or_idle_campaign_are_refused(hq: CloudDb) -> None:
    campaign(hq, "douyin-a")
    with pytest.raises(Refused) as unknown:
        hq.track_visit({"campaign": "nope", "visitor": "v" * 20}, "2026-06-10T00:00:00.000Z")
    assert (unknown.value.status, unknown.value.reason) == (404, "unknown_campaign")
    # the days are Asia/Shanghai's: 2026-06-01 00:00 there is 2026-05-31 16:00 UTC
    for at in ("2026-05-31T15:59:59.999Z", "2026-06-30T16:00:00.000Z"):
        with pytest.raises(Refused) as idle:
            hq.track_visit({"campaign": "douyin-a", "visitor": "v" * 20}, at)
        assert (idle.value.status, idle.value.reason) == (409, "campaign_not_running")
    for at in ("2026-05-31T16:00:00.000Z", "2026-06-30T15:59:59.999Z"):
        hq.track_visit({"campaign": "douyin-a", "visitor": "v" * 20}, at)
    doc = hq.campaign_report("douyin-a")
    assert doc is not None and doc["visits"] == 2
