"""Table rules without a loop: the rate window, the guest's view of an order, statuses."""

from __future__ import annotations

from edge.tables import rules


def test_a_guest_sees_no_member_station_or_payment() -> None:
    order = {"id": "X", "number": 7, "status": "placed", "total_cents": 100, "table": "A1",
             "member": "m1", "channel": "dine_in_qr", "discount_cents": 5, "coupons": ["C"],
             "created_at": "t", "updated_at": "t",
             "lines": [{"sku": "S", "name": "n", "qty": 1, "unit_cents": 100, "total_cents": 100,
                        "station": "wok", "note": None, "line_no": 1}]}
    view = rules.guest_order(order)
    assert set(view) == {"id", "number", "status", "total_cents", "table", "created_at",
                         "updated_at", "lines"}
    assert set(view["lines"][0]) == {"sku", "name", "qty", "unit_cents", "total_cents", "note"}


def test_bill_total_leaves_out_cancelled_orders() -> None:
    orders = [{"status": "placed", "total_cents": 100}, {"status": "cancelled", "total_cents": 50},
              {"status": "completed", "total_cents": 7}]
    assert rules.bill_total(orders) == 107


def test_manual_statuses_follow_the_seating() -> None:
    assert rules.status_change_allowed("free", has_session=False)
    assert rules.status_change_allowed("cleaning", has_session=False)
    assert not rules.status_change_allowed("free", has_session=True)
    assert rules.status_change_allowed("bill", has_session=True)
    assert not rules.status_change_allowed("bill", has_session=False)
    assert not rules.status_change_allowed("gone", has_session=False)


def test_tokens_carry_at_least_128_random_bits() -> None:
    assert rules.TOKEN_BYTES * 8 >= 128
