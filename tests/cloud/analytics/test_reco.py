"""Association rules on both backends over a crafted basket set with known support,
confidence and lift; minimums, the window, tenants apart; ``reco.pairs`` in every store's
feed of the tenant."""

from __future__ import annotations

import pytest

from cloud.analytics.reco import RecoParams
from cloud.database import CloudDb

from .conftest import NOW, Orders, ago, feed

# 10 baskets: {A,B} x4, {A,B,C} x2, {A} x2, {C} x1, {B,C} x1
BASKETS = [("A", "B")] * 4 + [("A", "B", "C")] * 2 + [("A",)] * 2 + [("C",), ("B", "C")]


def craft(orders: Orders) -> None:
    for skus in BASKETS:
        orders.add(None, ago(1), skus=skus)
    orders.add(None, ago(1), skus=("A", "B"), status="cancelled")  # does not count
    orders.add(None, ago(100), skus=("A", "C"))  # outside 90 days
    orders.add(None, ago(1), skus=("A", "C"), store="x1")  # another tenant


def test_support_confidence_and_lift(hq: CloudDb, orders: Orders) -> None:
    craft(orders)
    rules = hq.bundles("acme", RecoParams(min_support=0.0, min_confidence=0.0), NOW)
    got = {(r["a"], r["b"]): r for r in rules}
    # A in 8 baskets, B in 7, C in 4; AB 6, AC 2, BC 3
    ab = got["A", "B"]
    assert (ab["together"], ab["with_a"], ab["with_b"], ab["baskets"]) == (6, 8, 7, 10)
    assert ab["support"] == 0.6 and ab["confidence"] == 0.75
    assert ab["lift"] == pytest.approx(0.75 / 0.7, abs=1e-6)
    ba = got["B", "A"]
    assert ba["confidence"] == pytest.approx(6 / 7, abs=1e-6)
    bc = got["B", "C"]
    assert (bc["support"], bc["lift"]) == (0.3, pytest.approx((3 / 7) / 0.4, abs=1e-6))
    assert got["C", "A"]["confidence"] == 0.5
    assert len(got) == 6
    assert [r["lift"] for r in rules] == sorted((r["lift"] for r in rules), reverse=True)


def test_minimums_window_and_tenants(hq: CloudDb, orders: Orders) -> None:
    craft(orders)
    strict = hq.bundles("acme", RecoParams(min_support=0.3, min_confidence=0.7), NOW)
    # all three have the same lift (15/14): then support, then the SKUs decide the order
    assert [(r["a"], r["b"]) for r in strict] == [("A", "B"), ("B", "A"), ("C", "B")]
    wide = hq.bundles("acme", RecoParams(days=365, min_support=0, min_confidence=0), NOW)
    assert {(r["a"], r["b"]): r["together"] for r in wide}["A", "C"] == 3
    other = hq.bundles("other", RecoParams(min_support=0, min_confidence=0), NOW)
    assert [(r["a"], r["b"], r["support"]) for r in other] == [("A", "C", 1.0), ("C", "A", 1.0)]
    assert len(hq.bundles(None, RecoParams(min_support=0, min_confidence=0), NOW)) == 6
    with pytest.raises(ValueError):
        RecoParams(min_support=2)


def test_pairs_go_to_every_store_of_the_tenant(hq: CloudDb, orders: Orders) -> None:
    craft(orders)
    cursors = hq.push_reco_pairs(RecoParams(min_support=0.5, min_confidence=0.7), NOW)
    assert set(cursors) == {"s1", "s2", "x1"}
    for store in ("s1", "s2"):
        (change,) = feed(hq, store, "reco.pairs")
        assert change["cursor"] == cursors[store]
        pairs = change["data"]["pairs"]
        assert [(p["a"], p["b"]) for p in pairs] == [("A", "B"), ("B", "A")]
        assert set(pairs[0]) == {"a", "b", "support", "confidence", "lift"}
    (other,) = feed(hq, "x1", "reco.pairs")  # its own tenant's pairs
    assert [(p["a"], p["b"]) for p in other["data"]["pairs"]] == [("A", "C"), ("C", "A")]
    snapshot = hq.changes_since("s1", 0, limit=0)
    assert snapshot.snapshot and "reco.pairs" in [c["type"] for c in snapshot.changes]
