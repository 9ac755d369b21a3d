"""The foot-traffic rules, without a loop: thresholds, dwell, gaps, conversion windows."""

from __future__ import annotations

from edge.probes.rules import Conversion, VisitTracker


def test_rssi_threshold_and_min_dwell_decide_what_counts() -> None:
    zone = VisitTracker("pickup", rssi_threshold=-70, min_dwell_s=20, gap_s=30)
    assert zone.see("far", -80, 0) is None and "far" not in zone.open
    assert zone.see("a", -60, 0) is None
    assert zone.see("a", -65, 10) is None
    counted = zone.see("a", -50, 20)
    assert counted is not None and counted.peak_rssi == -50 and counted.dwell_s == 20
    assert zone.see("a", -60, 25) is None  # counted once
    zone.see("passer-by", -60, 5)
    assert zone.close_idle(40) == []  # still within the gap
    ended = zone.close_idle(60)
    assert [v.visitor for v in ended] == ["a"]  # the passer-by never dwelt: not counted
    assert zone.open == {}


def test_a_return_after_the_gap_is_a_new_visit() -> None:
    zone = VisitTracker("store", rssi_threshold=-90, min_dwell_s=5, gap_s=10)
    zone.see("a", -60, 0)
    zone.see("a", -60, 6)
    zone.see("a", -60, 100)
    assert [v.dwell_s for v in zone.take_ended()] == [6]
    assert zone.open["a"].start == 100


def test_conversion_counts_store_entries_within_the_window() -> None:
    pickup = VisitTracker("pickup", -90, 0, 10)
    conv = Conversion(window_s=60)
    for visitor in ("goes-in", "goes-in-late", "leaves"):
        pickup.see(visitor, -60, 0)
        pickup.see(visitor, -60, 5)
    for visit in pickup.close_idle(20):
        conv.pickup_visited(visit)
    conv.store_entered("goes-in", 30)
    assert conv.decide(31) == (1, 1)
    conv.store_entered("goes-in-late", 70)  # 65 s after the pickup visit ended
    assert conv.decide(64) == (0, 0)  # the others' windows are still open
    assert conv.decide(66) == (0, 2)
    assert conv.pending == {}
