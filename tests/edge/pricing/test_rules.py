"""The pure price-rule logic: windows (midnight, weekday edges), precedence, rounding."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from common.errors import DomainError
from common.price_rules import check_window, describe, overlap, weekly_spans
from edge.orders.rules import price_lines
from common.price_book import RuleBook, percent_off, price_now

NOODLES = {"sku": "C004", "category": "noodle", "price_cents": 1600,
           "channel_prices": {"meituan": 1900}}
LUNCH = {"skus": ["C004"], "days": [1, 2, 3, 4, 5], "from": "11:00", "to": "13:30",
         "kind": "price", "value": 1200}
# 2026-12-07 is a Monday, 2026-12-13 a Sunday
MON, SAT, SUN = 7, 12, 13


def at(day: int, hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(2026, 12, day, hour, minute)


def book(**rules: dict[str, Any]) -> RuleBook:
    return RuleBook(rules.items())


@pytest.mark.parametrize(("moment", "expected"), [
    (at(MON, "10:59"), (1600, None)),
    (at(MON, "11:00"), (1200, "lunch")),   # from is included
    (at(MON, "13:29"), (1200, "lunch")),
    (at(MON, "13:30"), (1600, None)),      # to is excluded
    (at(SAT, "12:00"), (1600, None)),      # not a weekday of the rule
])
def test_window_includes_from_and_excludes_to(moment: datetime,
                                              expected: tuple[int, str | None]) -> None:
    assert price_now(NOODLES, "pos", book(lunch=LUNCH), moment) == expected


def test_a_window_across_midnight_belongs_to_the_day_it_starts() -> None:
    late = {"categories": ["noodle"], "days": [6], "from": "22:00", "to": "02:00",
            "kind": "percent_off", "value": 50}
    rules = book(late=late)
    assert price_now(NOODLES, "pos", rules, at(SAT, "22:00")) == (800, "late")
    assert price_now(NOODLES, "pos", rules, at(SUN, "01:59")) == (800, "late")  # Saturday's
    assert price_now(NOODLES, "pos", rules, at(SUN, "02:00")) == (1600, None)
    assert price_now(NOODLES, "pos", rules, at(SUN, "22:30")) == (1600, None)  # not Sunday's
    assert price_now(NOODLES, "pos", rules, at(SAT, "01:00")) == (1600, None)  # Friday's: no


def test_sunday_night_runs_into_monday_morning() -> None:
    sunday = {"skus": ["C004"], "days": [7], "from": "23:00", "to": "01:00", "kind": "price",
              "value": 1000}
    spans = weekly_spans(sunday)
    assert spans == ((0, 60), (6 * 1440 + 23 * 60, 7 * 1440))
    assert price_now(NOODLES, "pos", book(s=sunday), at(MON, "00:30")) == (1000, "s")
    assert price_now(NOODLES, "pos", book(s=sunday), at(MON, "01:00")) == (1600, None)


def test_a_rule_without_days_is_every_day_and_24_00_ends_the_day() -> None:
    day = {"skus": ["C004"], "from": "00:00", "to": "24:00", "kind": "price", "value": 1}
    for d in range(MON, SUN + 1):
        assert price_now(NOODLES, "pos", book(d=day), at(d, "23:59")) == (1, "d")
        assert price_now(NOODLES, "pos", book(d=day), at(d, "00:00")) == (1, "d")


def test_from_equal_to_is_refused() -> None:
    with pytest.raises(DomainError) as err:
        check_window({"from": "12:00", "to": "12:00"})
    assert err.value.code == "empty_window"
    check_window({"from": "00:00", "to": "24:00"})


def test_channels_limit_a_rule_and_percent_off_starts_from_the_channel_price() -> None:
    off = {"skus": ["C004"], "channels": ["meituan"], "from": "00:00", "to": "24:00",
           "kind": "percent_off", "value": 10}
    assert price_now(NOODLES, "pos", book(o=off), at(MON, "12:00")) == (1600, None)
    assert price_now(NOODLES, "meituan", book(o=off), at(MON, "12:00")) == (1710, "o")


@pytest.mark.parametrize(("cents", "percent", "expected"), [
    (1999, 15, 1699),   # 1699.15 -> down
    (1990, 25, 1493),   # 1492.5 -> half up
    (1, 50, 1),         # 0.5 -> 1
    (1600, 100, 0),
    (1600, 0, 1600),
])
def test_percent_off_rounds_half_up_to_whole_fen(cents: int, percent: int, expected: int) -> None:
    assert percent_off(cents, percent) == expected


ALL_DAY = {"from": "00:00", "to": "24:00"}


def test_a_sku_rule_beats_a_category_rule_even_when_dearer() -> None:
    rules = book(cat={**ALL_DAY, "categories": ["noodle"], "kind": "price", "value": 500},
                 sku={**ALL_DAY, "skus": ["C004"], "kind": "price", "value": 1500})
    assert price_now(NOODLES, "pos", rules, at(MON, "12:00")) == (1500, "sku")


def test_among_equals_the_lowest_price_wins_then_the_smallest_id() -> None:
    rules = book(b={**ALL_DAY, "skus": ["C004"], "kind": "percent_off", "value": 20},
                 a={**ALL_DAY, "skus": ["C004"], "kind": "price", "value": 1300},
                 c={**ALL_DAY, "skus": ["C004"], "kind": "price", "value": 1280})
    assert price_now(NOODLES, "pos", rules, at(MON, "12:00")) == (1280, "b")  # 1280 twice: b < c
    rules = book(z={**ALL_DAY, "skus": ["C004"], "kind": "price", "value": 900},
                 y={**ALL_DAY, "categories": ["noodle"], "kind": "price", "value": 100})
    assert price_now(NOODLES, "pos", rules, at(MON, "12:00")) == (900, "z")


def test_price_lines_names_the_rule_only_on_the_lines_it_priced() -> None:
    items = {"C004": NOODLES, "C001": {"name": "pot", "category": "hot", "station": "wok",
                                       "price_cents": 2800}}
    items["C004"] = {**NOODLES, "name": "noodles", "station": "noodle"}
    lines = [{"sku": "C004", "qty": 2}, {"sku": "C001", "qty": 1}]
    priced = price_lines(items, lines, "pos", book(lunch=LUNCH), at(MON, "12:00"))
    assert [(p.unit_cents, p.total_cents, p.price_rule) for p in priced] == [
        (1200, 2400, "lunch"), (2800, 2800, None)]
    plain = price_lines(items, lines, "pos", book(lunch=LUNCH), at(MON, "14:00"))
    assert [(p.unit_cents, p.price_rule) for p in plain] == [(1600, None), (2800, None)]


def test_overlap_and_describe_name_the_shared_hours() -> None:
    late = weekly_spans({"days": [5], "from": "22:00", "to": "02:00"})
    night = weekly_spans({"days": [6], "from": "00:00", "to": "03:00"})
    shared = overlap(late, night)
    assert [describe(s) for s in shared] == [{"day": 6, "from": "00:00", "to": "02:00"}]
    assert overlap(weekly_spans({"from": "11:00", "to": "13:00"}),
                   weekly_spans({"from": "13:00", "to": "15:00"})) == []
