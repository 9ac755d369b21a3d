"""Member rules without a loop: phone numbers, hashing, allowances, earning, coupons."""

from __future__ import annotations

import hashlib
import hmac
from fractions import Fraction
from typing import Any

import pytest

from common.errors import Conflict, DomainError
from edge.members import rules

PHONES = [
    ("13812345678", "+8613812345678"),
    ("138 1234 5678", "+8613812345678"),
    ("138-1234-5678", "+8613812345678"),
    ("(138) 1234-5678", "+8613812345678"),
    ("+86 138 1234 5678", "+8613812345678"),
    ("+8613812345678", "+8613812345678"),
    ("008613812345678", "+8613812345678"),
    ("0086 138 1234 5678", "+8613812345678"),
    ("8613812345678", "+8613812345678"),
    ("86 138 1234 5678", "+8613812345678"),
    ("12345678901", "+8612345678901"),  # 11 digits starting with 1: a Chinese mobile
    ("+1 (415) 555-2671", "+14155552671"),
    ("+44 20 7946 0958", "+442079460958"),
    ("+86 10 6552 9988", "+861065529988"),  # a Beijing landline: +86 then area code 10
    ("+85291234567", "+85291234567"),
    ("\t139 0000 1111\n", "+8613900001111"),
]
BAD_PHONES = [
    "", " ", "+", "abc", "1381234567",  # 10 digits, no country code
    "138123456789",  # 12 digits
    "+86 138 1234 567",  # a mobile after +86 must have 11 digits
    "+86 138 1234 56789", "86 138 1234 567", "+1234567",  # 7 digits after +
    "+1234567890123456",  # 16 digits
    "+0123456789", "+86-abc", "１３８１２３４５６７８",  # full-width digits
    "138.1234.5678", "+86 138 1234 5678 ext 9", "++8613812345678", "013812345678",
]


@pytest.mark.parametrize(("raw", "e164"), PHONES)
def test_phone_numbers_are_normalised_to_e164(raw: str, e164: str) -> None:
    assert rules.normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", BAD_PHONES)
def test_bad_phone_numbers_are_refused_without_echoing_them(raw: str) -> None:
    with pytest.raises(DomainError) as refused:
        rules.normalize_phone(raw)
    assert refused.value.code == "invalid_phone" and refused.value.status == 422
    if len(raw) > 4:
        assert raw not in str(refused.value.detail)


def test_idhash_is_keyed_hmac_of_kind_and_value() -> None:
    key = b"k" * 32
    want = hmac.new(key, b"phone:+8613812345678", hashlib.sha256).hexdigest()
    assert rules.idhash(key, "phone", "+8613812345678") == want
    assert rules.idhash(key, "code", "+8613812345678") != want  # the kind is part of it
    assert rules.idhash(b"x" * 32, "phone", "+8613812345678") != want  # and the tenant key
    assert want != hashlib.sha256(b"phone:+8613812345678").hexdigest()
    with pytest.raises(DomainError):
        rules.idhash(key, "email", "a@b")


@pytest.mark.parametrize(("total", "channel", "rules_", "points"), [
    (2800, "pos", {"default": 1}, 28),
    (2899, "pos", {"default": 1}, 28),  # floor
    (2800, "mini_program", {"default": 1, "channels": {"mini_program": 2}}, 56),
    (1000, "pos", {"default": 0.1}, 1),  # exact: 1000/100*0.1 is 1, not 0.999…
    (3000, "pos", {"default": 0.1}, 3),
    (2800, "pos", None, 0),  # no rules from HQ yet: no points
    (0, "pos", {"default": 5}, 0),
    (2800, "pos", {"default": 1, "channels": {"pos": 0}}, 0),
])
def test_earning_is_floor_of_yuan_times_rate(total: int, channel: str, rules_: Any,
                                             points: int) -> None:
    assert rules.earn_points(total, channel, rules_, "s1") == points


# 1 point per yuan, double on the mini-program; s1: x1.5 and its own meituan rate; s2: x0
STORE_RULES = {"default": 1, "channels": {"mini_program": 2, "eleme": 0},
               "stores": {"s1": {"multiplier": 1.5, "channels": {"meituan": 0.5, "phone": 0}},
                          "s2": {"multiplier": 0}}}


@pytest.mark.parametrize(("store", "channel", "rate"), [
    ("s9", "pos", 1),  # no entry of its own: the tenant-wide rates
    ("s9", "mini_program", 2),
    ("s1", "pos", Fraction(3, 2)),  # default x the store's multiplier
    ("s1", "mini_program", 3),  # the channel's rate x the store's multiplier
    ("s1", "meituan", Fraction(1, 2)),  # the store's own channel rate, not multiplied
    ("s1", "phone", 0),  # the store's own rate wins even when it is 0
    ("s1", "eleme", 0),  # a tenant-wide 0 stays 0
    ("s2", "mini_program", 0),  # multiplier 0: the store earns nothing
])
def test_the_rate_of_a_store_and_channel_follows_the_precedence(
        store: str, channel: str, rate: Any) -> None:
    assert rules.earn_rate(STORE_RULES, store, channel) == rate
    assert rules.earn_points(1000, channel, STORE_RULES, store) == int(10 * Fraction(rate))


def test_rates_from_a_bad_document_earn_nothing() -> None:
    for bad in ({"default": "1"}, {"default": -1}, {"default": True},
                {"default": 1, "stores": {"s1": {"multiplier": "x"}}}):
        assert rules.earn_rate(bad, "s1", "pos") == 0
    assert rules.earn_rate({}, "s1", "pos") == 0
    assert rules.earn_points(2900, "pos", {"default": 1, "stores": {"s1": {"multiplier": 0.1}}},
                             "s1") == 2  # 29 x 0.1, exact


@pytest.mark.parametrize(("amount", "balance", "remaining", "per_txn", "code"), [
    (50, 100, 100, 50, None),
    (51, 100, 100, 50, "allowance_exceeded"),  # per-transaction cap
    (80, 100, 60, 100, "allowance_exceeded"),  # lease remaining
    (80, 60, 100, 100, "insufficient_balance"),  # the store's known balance
    (1, 0, 0, 0, "insufficient_balance"),
    (10, 100, 0, 0, "allowance_exceeded"),  # no lease: nothing to spend offline
    (0, 100, 100, 100, "invalid_amount"),
])
def test_spend_allowance(amount: int, balance: int, remaining: int, per_txn: int,
                         code: str | None) -> None:
    allowance = rules.Allowance(balance, remaining, per_txn)
    if code is None:
        rules.check_spend("points", amount, allowance)
        return
    with pytest.raises(DomainError) as refused:
        rules.check_spend("points", amount, allowance)
    assert refused.value.code == code
    assert refused.value.detail == {"account": "points", "requested": amount,
                                    "balance": balance, "allowance": remaining,
                                    "per_txn": per_txn}


def test_lease_remaining_is_amount_minus_spends_never_below_zero() -> None:
    assert rules.lease_remaining(200, -150) == 50
    assert rules.lease_remaining(200, -250) == 0


WINDOW = {"valid_from": "2026-01-01T00:00:00.000Z", "valid_to": "2026-12-31T00:00:00.000Z"}
NOW = "2026-06-01T00:00:00.000Z"


def discount(template: dict[str, Any], *, state: str = "issued", owner: str | None = None,
             member: str | None = None, channel: str = "pos", subtotal: int = 3000,
             now: str = NOW) -> int:
    coupon = {"code": "C1", "template_id": "T", "state": state, "member": owner}
    return rules.coupon_discount(coupon, {**WINDOW, **template}, member=member, channel=channel,
                                 store="s1", now=now, subtotal_cents=subtotal,
                                 unit_prices={"A": 1200}).discount_cents


def test_coupon_kinds_and_caps() -> None:
    assert discount({"kind": "amount_off", "value": 500}) == 500
    assert discount({"kind": "amount_off", "value": 5000}) == 3000  # never below zero
    assert discount({"kind": "percent_off", "value": 15}) == 450
    assert discount({"kind": "free_item", "value": 0, "sku": "A"}) == 1200
    assert discount({"kind": "threshold", "value": 800, "min_spend": 3000}) == 800
    assert discount({"kind": "amount_off", "value": 1, "channels": ["pos"],
                     "stores": ["s1", "s2"]}) == 1


@pytest.mark.parametrize(("template", "kw", "code"), [
    ({"kind": "amount_off", "value": 1}, {"state": "redeemed"}, "coupon_used"),
    ({"kind": "amount_off", "value": 1}, {"state": "void"}, "coupon_void"),
    ({"kind": "amount_off", "value": 1}, {"now": "2027-01-01T00:00:00.000Z"}, "coupon_expired"),
    ({"kind": "amount_off", "value": 1}, {"now": "2025-12-31T00:00:00.000Z"}, "coupon_expired"),
    ({"kind": "amount_off", "value": 1, "channels": ["meituan"]}, {}, "coupon_out_of_scope"),
    ({"kind": "amount_off", "value": 1, "stores": ["s2"]}, {}, "coupon_out_of_scope"),
    ({"kind": "threshold", "value": 1, "min_spend": 3001}, {}, "coupon_min_spend"),
    ({"kind": "free_item", "value": 0, "sku": "B"}, {}, "coupon_out_of_scope"),
    ({"kind": "amount_off", "value": 1}, {"owner": "M1", "member": "M2"}, "coupon_not_yours"),
    ({"kind": "amount_off", "value": 1}, {"owner": "M1"}, "coupon_not_yours"),
])
def test_coupon_refusals(template: dict[str, Any], kw: dict[str, Any], code: str) -> None:
    with pytest.raises(Conflict) as refused:
        discount(template, **kw)
    assert refused.value.code == code


def test_exclusive_group_and_total_cap() -> None:
    uses = [rules.CouponUse("A", 500), rules.CouponUse("B", 700)]
    assert rules.total_discount(uses, ["g1", None], 1000) == 1000
    assert rules.total_discount(uses, ["g1", "g2"], 5000) == 1200
    with pytest.raises(Conflict) as refused:
        rules.total_discount(uses, ["g1", "g1"], 5000)
    assert refused.value.code == "coupons_exclusive"
