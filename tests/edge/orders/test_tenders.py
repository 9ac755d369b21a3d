"""Tender rules: what pays an order, the change, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from common.errors import DomainError
from edge.orders.tenders import member_spends, settle


def t(kind: str, cents: int, **kw: Any) -> dict[str, Any]:
    return {"kind": kind, "amount_cents": cents, **kw}


def test_cash_gives_change_and_mixed_tenders_add_up() -> None:
    assert settle(6800, [t("cash", 10000)], False) == 3200
    assert settle(300, [t("stored_value", 200), t("points", 100, points=100)], True) == 0
    assert settle(2500, [t("card", 2000, ref="T-1"), t("cash", 1000)], False) == 500
    assert member_spends([t("stored_value", 200), t("points", 100, points=150),
                          t("stored_value", 50), t("cash", 5)]) == {"value": 250, "points": 150}


@pytest.mark.parametrize(("total", "tenders", "member", "code"), [
    (500, [t("cash", 499)], False, "underpaid"),
    (500, [t("card", 600, ref="T-1")], False, "overpaid"),  # change only in cash
    (500, [t("card", 500)], False, "invalid_tender"),  # a card needs its terminal ref
    (500, [t("points", 500)], True, "invalid_tender"),  # points without the number of points
    (500, [t("cash", 500, points=5)], False, "invalid_tender"),
    (500, [t("stored_value", 500)], False, "no_member"),
    (500, [t("points", 500, points=500)], False, "no_member"),
])
def test_refusals(total: int, tenders: list[dict[str, Any]], member: bool, code: str) -> None:
    with pytest.raises(DomainError) as err:
        settle(total, tenders, member)
    assert err.value.code == code
