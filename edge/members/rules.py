"""Member rules: phone numbers, identity hashes, earning, spending allowances, coupon scope.

Pure functions, no I/O. Amounts are integers: points, or fen for stored value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Final, NamedTuple

from common.errors import Conflict, DomainError
from common.vocabulary import ACCOUNTS, COUPON_KINDS, COUPON_STATES, ENTRY_KINDS, ID_KINDS

SPEND_KIND: Final[dict[str, str]] = {"points": "redeem", "value": "spend"}
TENDERS: Final[tuple[str, ...]] = ("cash", "card", "wechat", "alipay", "other")
KEY_BYTES: Final = 32

_SEPARATORS = re.compile(r"[\s\-()]")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: "１３８…" (full width) is refused, not guessed


def normalize_phone(raw: str) -> str:
    """E.164 form of a phone number, or DomainError ``invalid_phone`` (422).

    Spaces, ``-``, ``(`` and ``)`` are dropped; ``+86`` / ``0086`` / ``86`` before an
    11-digit number starting with 1 (a Chinese mobile), or such a number alone, give
    ``+86…``; anything else must already be ``+<country><number>`` with 8-15 digits.
    """
    text = _SEPARATORS.sub("", raw)
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not _DIGITS.fullmatch(digits):
        raise DomainError("invalid_phone", {"phone": _masked(raw)})
    if not plus and digits.startswith("0086"):
        digits, plus = digits[2:], True
    national = digits[2:] if digits.startswith("86") else None
    if national is not None and (plus or len(digits) == 13) and _cn_mobile_shape(national):
        if len(national) != 11:
            raise DomainError("invalid_phone", {"phone": _masked(raw)})
        return "+86" + national
    if not plus and len(digits) == 11 and digits.startswith("1"):
        return "+86" + digits
    if plus and 8 <= len(digits) <= 15 and not digits.startswith("0"):
        return "+" + digits
    raise DomainError("invalid_phone", {"phone": _masked(raw)})


def _cn_mobile_shape(national: str) -> bool:
    """After +86, 13x-19x is a mobile (11 digits); 10 is Beijing's area code, not one."""
    return len(national) >= 2 and national[0] == "1" and national[1] in "3456789"


def _masked(raw: str) -> str:
    """What an error may echo of a refused number: its length and last two characters."""
    return f"{len(raw)} characters ending {raw[-2:]!r}" if len(raw) > 4 else f"{len(raw)} characters"


def last4(e164: str) -> str:
    return e164[-4:]


def idhash(key: bytes, kind: str, value: str) -> str:
    """``HMAC-SHA256(tenant_key, kind + ":" + value)`` as hex: how an identifier is stored."""
    if kind not in ID_KINDS:
        raise DomainError("invalid_identity_kind", {"kind": kind, "allowed": list(ID_KINDS)})
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


# identity kind -> what a raw value of it looks like (phones are normalised instead)
ID_VALUES: Final[dict[str, re.Pattern[str]]] = {
    "code": re.compile(r"[A-Za-z0-9_.:-]{4,64}"),
    "wechat_unionid": re.compile(r"[A-Za-z0-9_-]{8,64}"),
    **{kind: re.compile(r"[A-Za-z0-9_.:-]{1,64}")
       for kind in ("alipay_uid", "meituan_uid", "eleme_uid")},
}
# days of each month; 02-29 is a birthday too
_MONTH_DAYS: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_BIRTHDAY = re.compile(r"([0-9]{2})-([0-9]{2})")


def identity(key: bytes, kind: str, value: str) -> dict[str, str]:
    """``{kind, idhash, last4?}`` of a raw identifier; a phone is normalised first."""
    if kind == "phone":
        e164 = normalize_phone(value)
        return {"kind": kind, "idhash": idhash(key, kind, e164), "last4": last4(e164)}
    return {"kind": kind, "idhash": idhash(key, kind, value)}


def check_identity_value(kind: str, value: str) -> None:
    """422 ``invalid_identity`` unless ``value`` has the shape of a ``kind`` identifier
    (phones: see :func:`normalize_phone`)."""
    if kind not in ID_KINDS:
        raise DomainError("invalid_identity_kind", {"kind": kind, "allowed": list(ID_KINDS)})
    pattern = ID_VALUES.get(kind)
    if pattern is not None and not pattern.fullmatch(value):
        raise DomainError("invalid_identity", {"kind": kind, "pattern": pattern.pattern})


def check_birthday(text: str) -> str:
    """``"MM-DD"`` of a real month and day (02-29 included), or 422 ``invalid_birthday``."""
    found = _BIRTHDAY.fullmatch(text)
    if found is not None:
        month, day = int(found[1]), int(found[2])
        if 1 <= month <= 12 and 1 <= day <= _MONTH_DAYS[month - 1]:
            return text
    raise DomainError("invalid_birthday", {"birthday": text[:16], "format": "MM-DD"})


def _rate(value: Any) -> Fraction | None:
    """A rate as an exact fraction (no 0.1 + 0.2 drift); None unless a number >= 0."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
        return None
    return Fraction(str(value))


def earn_rate(rules: Mapping[str, Any] | None, store: str, channel: str) -> Fraction:
    """Points per yuan at ``store`` on ``channel`` (docs/members.md, "Earning rules"):

    1. the store's own rate for the channel (``stores[store].channels[channel]``), as is;
    2. else the tenant-wide rate of the channel (``channels[channel]``), else ``default``,
       times the store's ``multiplier`` (1 when the store has none).

    No rules known (or no usable rate): 0."""
    if not rules:
        return Fraction(0)
    entry: Mapping[str, Any] = (rules.get("stores") or {}).get(store) or {}
    own = _rate((entry.get("channels") or {}).get(channel))
    if own is not None:
        return own
    channels: Mapping[str, Any] = rules.get("channels") or {}
    base = _rate(channels[channel]) if channel in channels else _rate(rules.get("default"))
    multiplier = _rate(entry.get("multiplier", 1))
    if base is None or multiplier is None:
        return Fraction(0)
    return base * multiplier


def earn_points(total_cents: int, channel: str, rules: Mapping[str, Any] | None,
                store: str) -> int:
    """Points for an order at ``store``: ``floor(total_cents / 100 * earn_rate)``."""
    if total_cents <= 0:
        return 0
    return int(Fraction(total_cents) * earn_rate(rules, store, channel) // 100)


class Allowance(NamedTuple):
    balance: int  # the store's known balance (sum of the entries it has)
    remaining: int  # lease amount minus the store's entries against it (0 without a lease)
    per_txn: int  # the lease's per-transaction cap (0 without a lease)


def check_spend(account: str, amount: int, allowance: Allowance) -> None:
    """May the store spend ``amount`` now? 409 with the numbers when it may not."""
    numbers = {"account": account, "requested": amount, "balance": allowance.balance,
               "allowance": allowance.remaining, "per_txn": allowance.per_txn}
    if amount <= 0:
        raise DomainError("invalid_amount", numbers)
    if amount > allowance.balance:
        raise Conflict("insufficient_balance", numbers)
    if amount > allowance.per_txn or amount > allowance.remaining:
        raise Conflict("allowance_exceeded", numbers)


def lease_remaining(amount: int, entries_against: int) -> int:
    """``entries_against`` is the sum of the (negative) spends drawn from the lease."""
    return max(0, amount + entries_against)


class CouponUse(NamedTuple):
    code: str
    discount_cents: int


def coupon_discount(
    coupon: Mapping[str, Any],
    template: Mapping[str, Any] | None,
    *,
    member: str | None,
    channel: str,
    store: str,
    now: str,
    subtotal_cents: int,
    unit_prices: Mapping[str, int],
) -> CouponUse:
    """Check a coupon's state and scope for this order; its discount in fen.

    ``now`` and the template's window are UTC ISO strings (they compare as text);
    ``unit_prices``: sku -> unit price of the order's lines.
    """
    code = str(coupon["code"])
    detail: dict[str, Any] = {"code": code}
    if coupon["state"] != "issued":
        raise Conflict("coupon_used" if coupon["state"] == "redeemed" else "coupon_void",
                       {**detail, "state": coupon["state"]})
    if template is None:
        raise Conflict("coupon_unknown_template", {**detail, "template_id": coupon["template_id"]})
    if coupon.get("member") and coupon["member"] != member:
        raise Conflict("coupon_not_yours", detail)
    if now < str(template["valid_from"]) or now > str(template["valid_to"]):
        raise Conflict("coupon_expired", {**detail, "valid_from": template["valid_from"],
                                          "valid_to": template["valid_to"]})
    for scope, here in (("channels", channel), ("stores", store)):
        allowed: Sequence[str] | None = template.get(scope)
        if allowed and here not in allowed:
            raise Conflict("coupon_out_of_scope", {**detail, scope: list(allowed)})
    min_spend = int(template.get("min_spend") or 0)
    if subtotal_cents < min_spend:
        raise Conflict("coupon_min_spend", {**detail, "min_spend": min_spend,
                                            "subtotal_cents": subtotal_cents})
    kind, value = str(template["kind"]), int(template["value"])
    if kind in ("amount_off", "threshold"):
        off = value
    elif kind == "percent_off":
        off = subtotal_cents * min(value, 100) // 100
    elif kind == "free_item":
        sku = template.get("sku")
        if sku not in unit_prices:
            raise Conflict("coupon_out_of_scope", {**detail, "sku": sku})
        off = unit_prices[str(sku)]
    else:
        raise Conflict("coupon_unknown_kind", {**detail, "kind": kind})
    return CouponUse(code, max(0, min(off, subtotal_cents)))


def total_discount(uses: Sequence[CouponUse], groups: Sequence[str | None],
                   subtotal_cents: int) -> int:
    """The order's discount: the coupons' sum, never more than the subtotal; two coupons of
    one ``exclusive_group`` on one order are refused."""
    seen: set[str] = set()
    for use, group in zip(uses, groups):
        if group is not None:
            if group in seen:
                raise Conflict("coupons_exclusive", {"code": use.code, "exclusive_group": group})
            seen.add(group)
    return min(subtotal_cents, sum(use.discount_cents for use in uses))


# profile field -> its check beyond the JSON schema (a field without one needs none)
PROFILE_CHECKS: Final[dict[str, Callable[[str], str]]] = {"birthday": check_birthday}


def check_profile(profile: dict[str, Any]) -> None:
    """422 on a profile value the schema lets through but the field's rule refuses."""
    for field, value in profile.items():
        if value is not None and field in PROFILE_CHECKS:
            PROFILE_CHECKS[field](value)
