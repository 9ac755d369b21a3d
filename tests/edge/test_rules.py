"""Pure rules, tested without a loop or a database."""

from __future__ import annotations

import pytest

from common.errors import Conflict, DomainError
from common.vocabulary import CHANNELS
from edge.orders import rules as orders
from edge.catalog import rules as stock
from edge.staff.roles import PERMISSIONS, ROLES, TRANSITION_ROLES, role_may
from sync.hlc import HybridLogicalClock, format_hlc, parse_hlc

ITEMS = {
    "A": {"name": "面", "station": "noodle", "price_cents": 1600, "channel_prices": {"meituan": 1900}},
    "B": {"name": "饭", "station": "wok", "price_cents": 1800, "channel_prices": {}},
}


def test_allowed_transitions_follow_the_contract() -> None:
    path = ["placed", "accepted", "preparing", "ready", "completed"]
    for current, target in zip(path, path[1:]):
        orders.check_transition(current, target)
    for current in ("placed", "accepted", "preparing"):
        orders.check_transition(current, "cancelled")


@pytest.mark.parametrize("current,target", [
    ("placed", "ready"), ("ready", "cancelled"), ("completed", "cancelled"),
    ("cancelled", "accepted"), ("completed", "placed"), ("accepted", "accepted"),
])
def test_forbidden_transitions_conflict(current: str, target: str) -> None:
    with pytest.raises(Conflict) as err:
        orders.check_transition(current, target)
    assert err.value.code == "invalid_transition" and err.value.status == 409


def test_unknown_target_status_is_a_validation_error() -> None:
    with pytest.raises(DomainError) as err:
        orders.check_transition("placed", "eaten")
    assert err.value.status == 422


def test_pricing_uses_channel_override_in_integer_fen() -> None:
    lines = [{"sku": "A", "qty": 3, "note": "no onion"}, {"sku": "B", "qty": 1}]
    pos = orders.price_lines(ITEMS, lines, "pos")
    assert [(p.unit_cents, p.total_cents) for p in pos] == [(1600, 4800), (1800, 1800)]
    meituan = orders.price_lines(ITEMS, lines, "meituan")
    assert meituan[0].unit_cents == 1900 and meituan[0].note == "no onion"
    assert all(isinstance(p.total_cents, int) for p in meituan)
    assert orders.stations_of(pos) == ["noodle", "wok"]


def test_quantities_add_up_per_sku() -> None:
    assert orders.quantities_by_sku([{"sku": "A", "qty": 2}, {"sku": "A", "qty": 3},
                                     {"sku": "B", "qty": 1}]) == {"A": 5, "B": 1}


def test_channel_availability_is_pool_capped_by_quota() -> None:
    assert stock.available_for_channel(stock.StockLevel(10, None, 0)) == 10
    assert stock.available_for_channel(stock.StockLevel(10, 4, 1)) == 3
    assert stock.available_for_channel(stock.StockLevel(2, 4, 1)) == 2
    assert stock.available_for_channel(stock.StockLevel(10, 4, 9)) == 0
    assert stock.available_for_channel(stock.StockLevel(-3, None, 0)) == 0


def test_shortages_report_requested_and_available() -> None:
    levels = {"A": stock.StockLevel(5, None, 0), "B": stock.StockLevel(5, 2, 0)}
    assert stock.shortages({"A": 5, "B": 3, "untracked": 99}, levels) == [
        {"sku": "B", "requested": 3, "available": 2}]


def test_safety_alert_fires_once_on_crossing() -> None:
    assert stock.crossed_below_safety(20, 19, 20)
    assert not stock.crossed_below_safety(19, 18, 20)  # already below: no second alert
    assert not stock.crossed_below_safety(25, 20, 20)
    assert not stock.crossed_below_safety(5, 0, 0)  # no threshold set


def test_role_table() -> None:
    assert set(ROLES) == {"cashier", "kitchen", "manager", "technician"}
    assert not role_may("cashier", "catalog.write")
    assert not role_may("cashier", "inventory.write")
    assert role_may("manager", "catalog.write")
    assert role_may("technician", "metrics.read") and not role_may("cashier", "metrics.read")
    assert TRANSITION_ROLES["cancelled"] == {"manager"}
    assert all(roles <= set(ROLES) for roles in PERMISSIONS.values())
    assert {"pos", "dine_in_qr", "waiter", "mini_program", "meituan", "eleme", "phone"} == set(CHANNELS)


def test_hlc_is_monotonic_and_merges_remote_time() -> None:
    wall = [1000]
    clock = HybridLogicalClock(lambda: wall[0])
    a, b = clock.now(), clock.now()
    assert a < b and parse_hlc(b) == (1000, 1)
    wall[0] = 900  # wall clock stepped back: still monotonic
    assert clock.now() > b
    merged = clock.observe(format_hlc(5000, 7))
    assert parse_hlc(merged) == (5000, 8)
    assert clock.now() > merged
    with pytest.raises(ValueError):
        parse_hlc("yesterday")
