"""Partner settlement on SQLite and PostgreSQL: a hand-computed month (shared visitors with a
merged member, cancelled orders and the next month left out, shared costs by usage, tiered
rate, reserve, rounding), the rate tiers and the three output formats through the HQ API and
the CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from cloud.database import CloudDb
from cloud.errors import UnknownStore
from cloud.reports.settlement import (
    Rules,
    half_up,
    rate_bp,
    split,
    statement,
    to_csv,
    to_html,
)

from .conftest import Orders, cli_hq

RULES = Rules(tier_low_visitors=0, tier_high_visitors=1, tier_low_bp=1500, tier_high_bp=2500,
              reserve_bp=1000, shared_items={"PKG": 10_000, "PROMO": 999})


def seed(orders: Orders) -> None:
    orders.member("m2")
    orders.member("m5", merged_into="m2")
    d1, d2 = "2026-10-01", "2026-10-02"
    orders.add("canteen", d1, 1000, "m1", lines=[("PKG", 3, 10)])
    orders.add("shop", d1, 500, "m1", lines=[("PKG", 1, 10)])
    orders.add("canteen", d1, 800, "m2")
    orders.add("shop", d1, 300, "m3")
    orders.add("canteen", d1, 200, "m3")
    orders.add("canteen", d1, 9999, "m4", status="cancelled", lines=[("PKG", 50, 10)])
    orders.add("shop", d1, 9999, "m4", status="cancelled")
    orders.add("canteen", d2, 1000, "m1")
    orders.add("canteen", d2, 700, "m2")
    orders.add("shop", d2, 400, "m5")  # merged into m2: m2 was at both on the 2nd
    orders.add("canteen", "2026-10-03", 5000)  # no member
    orders.add("canteen", "2026-11-01", 100, "m1")  # next month
    orders.add("shop", "2026-11-01", 100, "m1")
    orders.add("canteen", "2026-09-30", 100, "m1")  # last month
    orders.add("shop", "2026-09-30", 100, "m1")


def test_a_hand_computed_month(cdb: CloudDb, orders: Orders) -> None:
    seed(orders)
    figures = cdb.settlement_figures("canteen", "shop", "2026-10-01", "2026-11-01",
                                     ["PKG", "PROMO"])
    doc = statement(RULES, "2026-10", "canteen", "shop", figures)
    assert doc["shared_visitors"]["total"] == 3
    assert doc["shared_visitors"]["daily"] == [{"day": "2026-10-01", "shared_visitors": 2},
                                               {"day": "2026-10-02", "shared_visitors": 1}]
    # linear between 0 and 1 a day: 1500 + 1000 * 3 / 31 = 1596.77 -> 1597
    assert doc["tier"]["rate_bp"] == 1597
    assert doc["revenue"] == {
        "canteen": {"revenue_cents": 8700, "orders": 6, "shared_cents": 1900},
        "shop": {"revenue_cents": 1200, "orders": 3, "shared_cents": 1200}}
    # 1900 * 15.97 % = 303.43 -> 303; 1200 * 15.97 % = 191.64 -> 192
    assert doc["revenue_share_cents"] == {"canteen_owes_shop": 303, "shop_owes_canteen": 192}
    assert doc["shared_costs"] == [
        {"sku": "PKG", "cost_cents": 10_000, "usage": {"canteen": 3, "shop": 1},
         "share_cents": {"canteen": 7500, "shop": 2500}},
        {"sku": "PROMO", "cost_cents": 999, "usage": {"canteen": 0, "shop": 0},
         "share_cents": {"canteen": 500, "shop": 499}}]
    # shop owes 192 + 2999 - 303 = 2888; reserve 10 % = 288.8 -> 289
    assert doc["net"] == {"payer": "shop", "payee": "canteen", "amount_cents": 2888}
    assert (doc["reserve_cents"], doc["payable_cents"]) == (289, 2599)


def test_an_empty_month_and_unknown_stores(cdb: CloudDb) -> None:
    figures = cdb.settlement_figures("canteen", "shop", "2026-02-01", "2026-03-01", ["PKG"])
    doc = statement(Rules(), "2026-02", "canteen", "shop", figures)
    assert (doc["days"], doc["shared_visitors"]["total"], doc["tier"]["rate_bp"]) == (28, 0, 1500)
    assert doc["net"]["amount_cents"] == doc["payable_cents"] == 0
    with pytest.raises(UnknownStore):
        cdb.settlement_figures("canteen", "nope", "2026-02-01", "2026-03-01", [])


@pytest.mark.parametrize("visitor_days, mode, expected", [
    (499 * 30, "linear", 1500), (500 * 30 - 1, "stepped", 1500),
    (500 * 30, "linear", 1500), (650 * 30, "linear", 2000), (800 * 30, "linear", 2500),
    (800 * 30 + 1, "stepped", 2500), (10**6, "linear", 2500),
    (500 * 30, "stepped", 2000), (800 * 30, "stepped", 2000),
    (575 * 30, "linear", 1750), (501 * 30, "linear", 1503),  # 1503.33
])
def test_rate_tiers(visitor_days: int, mode: str, expected: int) -> None:
    rules = Rules(tier_mode=mode)
    assert rate_bp(rules, visitor_days, 30) == expected


def test_rounding_is_half_up_and_splits_add_up() -> None:
    assert [half_up(n, 10) for n in (14, 15, 16, 25, 0)] == [1, 2, 2, 3, 0]
    for amount in (0, 1, 999, 10_001):
        for ua, ub in ((0, 0), (1, 2), (3, 1), (7, 0)):
            a, b = split(amount, ua, ub)
            assert a + b == amount and a >= 0 and b >= 0
    assert split(100, 1, 2) == (33, 67) and split(101, 1, 1) == (51, 50)


def test_csv_and_printable_page(cdb: CloudDb, orders: Orders) -> None:
    seed(orders)
    figures = cdb.settlement_figures("canteen", "shop", "2026-10-01", "2026-11-01",
                                     ["PKG", "PROMO"])
    doc = statement(RULES, "2026-10", "canteen", "shop", figures)
    rows = list(csv.reader(io.StringIO(to_csv(doc))))
    assert rows[0] == ["section", "item", "value"]
    values = {(r[0], r[1]): r[2] for r in rows[1:]}
    assert values[("net", "payable_cents")] == "2599"
    assert values[("shared_cost", "PKG.shop.share_cents")] == "2500"
    page = to_html(doc)
    assert "shop pays canteen 25.99" in page and "@page" in page and "<script" not in page


def test_the_cli_prints_each_format(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    data = tmp_path / "hq"
    cli = cli_hq(data, db_url, ("canteen", "shop"), lambda db: seed(Orders(db)))
    toml = data / "cloud.toml"
    toml.write_text(toml.read_text().replace('partner_a = ""', 'partner_a = "canteen"')
                    .replace('partner_b = ""', 'partner_b = "shop"')
                    .replace('shared_items = ""', 'shared_items = "PKG=10000,PROMO=999"'))

    def run(*args: str) -> tuple[int, str]:
        return cli("settlement", "statement", *args)

    code, out = run("--month", "2026-10")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["partners"] == {"a": "canteen", "b": "shop"} and doc["tier"]["rate_bp"] == 1500
    assert doc["net"] == {"payer": "shop", "payee": "canteen", "amount_cents": 2999 + 180 - 285}
    code, out = run("--month", "2026-10", "--format", "csv")
    assert code == 0 and out.startswith("section,item,value\n"), out
    code, out = run("--month", "2026-10", "--format", "html", "--out", str(tmp_path / "s.html"))
    assert code == 0 and "shop pays canteen" in (tmp_path / "s.html").read_text(), out
    assert run("--month", "2026-13")[0] == 1
    assert run("--month", "2026-10", "--b", "nope")[0] == 1
