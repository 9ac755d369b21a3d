"""RFM on both backends: a crafted set of members with known recency, frequency, monetary,
quintile scores and segments; cancelled orders and old orders; tenants scored apart; merged
ids; the rule table covers every score."""

from __future__ import annotations

from itertools import product

import pytest

from cloud.analytics import rfm
from cloud.database import CloudDb

from .conftest import NOW, Orders, add_member, ago

# member -> (recency_days, frequency, monetary, r, f, m, segment)
EXPECTED = {
    "A": (1, 10, 100_000, 5, 5, 5, "champions"),
    "B": (3, 1, 500, 4, 2, 2, "potential"),
    "C": (30, 5, 20_000, 3, 4, 3, "loyal"),
    "D": (100, 3, 30_000, 2, 3, 4, "at_risk"),
    "E": (400, 0, 0, 1, 1, 1, "lapsed"),
}


def craft(hq: CloudDb, orders: Orders) -> None:
    for member in ("A", "B", "C", "D", "E", "F"):
        add_member(hq, member)
    add_member(hq, "G", merged_into="A")
    add_member(hq, "H", tenant="other")
    for n in range(9):
        orders.add("A", ago(10 + n), 10_000)
    orders.add("A", ago(1), 10_000, store="s2")  # A's latest order: at s2
    orders.add("A", ago(0.5), 99_999, status="cancelled")  # does not count
    orders.add("B", ago(3), 500)
    for n in range(5):
        orders.add("C", ago(30 + n), 4_000)
    orders.add("D", ago(100), 10_000)
    orders.add("D", ago(200), 10_000)
    orders.add("D", ago(300), 10_000)
    orders.add("D", ago(370), 10_000)  # outside the 365 days: recency only
    orders.add("E", ago(400), 7_000)
    orders.add("H", ago(2), 1_000, store="x1")
    orders.add(None, ago(1), 5_000)  # no member


def test_scores_and_segments_of_a_crafted_set(hq: CloudDb, orders: Orders) -> None:
    craft(hq, orders)
    result = hq.compute_rfm(NOW)
    assert result == {"members": 6, "computed_at": "2026-06-15T12:00:00.000Z"}
    for member, (days, freq, money, r, f, m, segment) in EXPECTED.items():
        row = hq.member_rfm(member)
        assert row is not None, member
        got = (row["recency_days"], row["frequency"], row["monetary"], row["r"], row["f"],
               row["m"], row["segment"])
        assert got == (days, freq, money, r, f, m, segment), member
        assert row["tenant"] == "acme" and row["computed_at"] == result["computed_at"]
    assert hq.member_rfm("A")["store"] == "s2" and hq.member_rfm("B")["store"] == "s1"
    assert hq.member_rfm("G") == hq.member_rfm("A")  # a merged id reads its survivor
    assert hq.member_rfm("F") is None  # no order yet
    other = hq.member_rfm("H")
    assert (other["tenant"], other["r"], other["f"], other["m"]) == ("other", 1, 1, 1)


def test_segment_counts_overall_per_store_and_tenant(hq: CloudDb, orders: Orders) -> None:
    craft(hq, orders)
    hq.compute_rfm(NOW)
    counts = hq.segment_counts()
    assert counts["members"] == 6 and counts["computed_at"] == "2026-06-15T12:00:00.000Z"
    assert counts["segments"] == {"champions": 1, "loyal": 1, "new": 0, "potential": 1,
                                  "at_risk": 1, "hibernating": 0, "lapsed": 2}
    assert hq.segment_counts(store="s2")["segments"]["champions"] == 1
    assert hq.segment_counts(store="s2")["members"] == 1
    assert hq.segment_counts(tenant="acme")["members"] == 5
    assert hq.segment_counts(store="x1", tenant="acme")["members"] == 0


def test_recomputing_replaces_the_rows(hq: CloudDb, orders: Orders) -> None:
    craft(hq, orders)
    hq.compute_rfm(NOW)
    orders.add("E", ago(0.1), 50_000)  # E comes back
    hq.compute_rfm(NOW)
    row = hq.member_rfm("E")
    assert (row["recency_days"], row["frequency"], row["monetary"]) == (0, 1, 50_000)
    assert hq.segment_counts()["members"] == 6


def test_the_rule_table_covers_every_score() -> None:
    for r, f, m in product(range(1, 6), repeat=3):
        assert rfm.segment_of(r, f, m) in rfm.SEGMENT_NAMES
    assert rfm.segment_of(5, 5, 5) == "champions" and rfm.segment_of(5, 1, 1) == "new"
    with pytest.raises(ValueError):
        rfm.segment_of(0, 1, 1)
