"""Time-window price rules as both services read them (docs/pricing.md): the JSON Schema of a
rule, and its window as spans of the week. Pure: no I/O, no clock of its own.

A rule's window is ``from`` (included) to ``to`` (excluded), shop-local. ``from`` > ``to``
crosses midnight, and ``days`` (ISO weekdays, 1 = Monday) name the day the window *starts*:
``{"days": [5], "from": "22:00", "to": "02:00"}`` is Friday 22:00 to Saturday 02:00. ``to`` may
be ``24:00`` (the end of the day); ``from`` = ``to`` is refused (``empty_window``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from common.errors import DomainError
from common.schemas import CHANNEL, MAX_CENTS, SKU

DAY: Final = 24 * 60
WEEK: Final = 7 * DAY
DAYS: Final = (1, 2, 3, 4, 5, 6, 7)
KINDS: Final = ("percent_off", "price")

RULE_ID = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}(?!\n)$"}
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9](?!\n)$"
# the body of PUT /api/v1/price-rules/{id}, at the store and at HQ (HQ adds ?stores=)
PRICE_RULE: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["from", "to", "kind", "value"],
    "additionalProperties": False,
    "properties": {
        "skus": {"type": "array", "minItems": 1, "maxItems": 500, "uniqueItems": True,
                 "items": SKU},
        "categories": {"type": "array", "minItems": 1, "maxItems": 100, "uniqueItems": True,
                       "items": {"type": "string", "minLength": 1, "maxLength": 50}},
        "channels": {"type": "array", "minItems": 1, "uniqueItems": True, "items": CHANNEL},
        "days": {"type": "array", "minItems": 1, "uniqueItems": True,
                 "items": {"type": "integer", "minimum": 1, "maximum": 7}},
        "from": {"type": "string", "pattern": _HHMM},
        "to": {"type": "string", "pattern": r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)(?!\n)$"},
        "kind": {"enum": list(KINDS)},
        "value": {"type": "integer", "minimum": 0, "maximum": MAX_CENTS},
    },
    # a rule names what it prices: a rule over the whole menu is a typo, not a promotion
    "anyOf": [{"required": ["skus"]}, {"required": ["categories"]}],
    "if": {"properties": {"kind": {"const": "percent_off"}}},
    "then": {"properties": {"value": {"maximum": 100}}},
}


def minutes(hhmm: str) -> int:
    """``"HH:MM"`` as minutes after midnight (``"24:00"`` is 1440)."""
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def check_window(rule: Mapping[str, Any]) -> None:
    """What the schema cannot say: ``from`` and ``to`` differ (422 ``empty_window``)."""
    if minutes(rule["from"]) == minutes(rule["to"]):
        raise DomainError("empty_window", {"from": rule["from"], "to": rule["to"],
                                           "hint": "a whole day is 00:00 to 24:00"})


def weekly_spans(rule: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    """The rule's window as half-open spans of minutes of the week (0 = Monday 00:00), sorted;
    a window that runs past Sunday midnight wraps to Monday."""
    start, end = minutes(rule["from"]), minutes(rule["to"])
    if end <= start:
        end += DAY  # crosses midnight: it belongs to the day it starts on
    spans: list[tuple[int, int]] = []
    for day in rule.get("days") or DAYS:
        lo, hi = (day - 1) * DAY + start, (day - 1) * DAY + end
        if hi <= WEEK:
            spans.append((lo, hi))
        else:
            spans += [(lo, WEEK), (0, hi - WEEK)]
    return tuple(sorted(spans))


def minute_of_week(local: datetime) -> int:
    """The shop-local moment as minutes after Monday 00:00."""
    return (local.isoweekday() - 1) * DAY + local.hour * 60 + local.minute


def active(spans: Sequence[tuple[int, int]], minute: int) -> bool:
    return any(lo <= minute < hi for lo, hi in spans)


def overlap(a: Iterable[tuple[int, int]],
            b: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans of the week both sets of spans cover, merged and sorted."""
    found = sorted((max(lo1, lo2), min(hi1, hi2)) for lo1, hi1 in a for lo2, hi2 in b
                   if max(lo1, lo2) < min(hi1, hi2))
    merged: list[tuple[int, int]] = []
    for lo, hi in found:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def describe(span: tuple[int, int]) -> dict[str, Any]:
    """A span of the week as ``{"day", "from", "to"}`` (``to`` past midnight: next day)."""
    lo, hi = span
    length = hi - lo
    start = lo % DAY
    end = (start + length) % DAY
    return {"day": lo // DAY + 1, "from": _hhmm(start),
            "to": "24:00" if end == 0 and length else _hhmm(end)}


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
