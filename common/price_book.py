"""Time-window prices (docs/pricing.md): which rule prices an item now, and at what. Pure: no
I/O, the caller passes the shop-local time.

Precedence, when several rules apply to one item on one channel at one moment:

1. a rule naming the item's SKU beats a rule naming its category;
2. among rules of the same rank, the lowest resulting unit price wins (the guest is never
   charged more because two rules overlap);
3. a tie on price goes to the smallest rule id (plain string order).

``percent_off`` takes ``value`` percent off the channel price and rounds to whole fen half
up (``1999`` fen 15 % off is ``1699.15`` -> ``1699``; ``1990`` 25 % off is ``1492.5`` ->
``1493``). ``price`` sets the unit price to ``value`` fen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from common.price_rules import active, minute_of_week, weekly_spans


def unit_price(item: Mapping[str, Any], channel: str) -> int:
    """The channel's override price if the item has one, else its base price."""
    overrides: Mapping[str, int] = item.get("channel_prices") or {}
    return int(overrides.get(channel, item["price_cents"]))


def percent_off(cents: int, percent: int) -> int:
    """``percent`` off ``cents``, rounded half up to whole fen."""
    return (cents * (100 - percent) + 50) // 100


class PriceRule(NamedTuple):
    id: str
    channels: frozenset[str] | None  # None: every channel
    spans: tuple[tuple[int, int], ...]  # minutes of the week (common.price_rules)
    kind: str
    value: int

    def applies(self, channel: str, minute: int) -> bool:
        return (self.channels is None or channel in self.channels) and active(self.spans, minute)

    def price(self, base: int) -> int:
        return percent_off(base, self.value) if self.kind == "percent_off" else self.value


def parse(rule_id: str, rule: Mapping[str, Any]) -> PriceRule:
    """A validated rule body (common.price_rules.PRICE_RULE) as a PriceRule."""
    channels = rule.get("channels")
    return PriceRule(rule_id, None if channels is None else frozenset(channels),
                     weekly_spans(rule), rule["kind"], int(rule["value"]))


class RuleBook:
    """The rules of a store, indexed by SKU and by category: pricing a line looks only at
    the rules that name its SKU or its category."""

    __slots__ = ("by_sku", "by_category")

    def __init__(self, rules: Iterable[tuple[str, Mapping[str, Any]]] = ()) -> None:
        self.by_sku: dict[str, list[PriceRule]] = {}
        self.by_category: dict[str, list[PriceRule]] = {}
        for rule_id, body in rules:
            parsed = parse(rule_id, body)
            for sku in body.get("skus") or ():
                self.by_sku.setdefault(sku, []).append(parsed)
            for category in body.get("categories") or ():
                self.by_category.setdefault(category, []).append(parsed)

    def __bool__(self) -> bool:
        return bool(self.by_sku or self.by_category)

    def best(self, sku: str, category: str | None, channel: str, minute: int,
             base: int) -> tuple[int, str | None]:
        """The unit price and the rule that set it (None: no rule applies)."""
        for ranked in (self.by_sku.get(sku), self.by_category.get(category or "")):
            if not ranked:
                continue
            found = min(((r.price(base), r.id) for r in ranked if r.applies(channel, minute)),
                        default=None)
            if found is not None:
                return found
        return base, None


def price_now(item: Mapping[str, Any], channel: str, book: RuleBook,
              local: datetime) -> tuple[int, str | None]:
    """``item`` ({sku, category, price_cents, channel_prices}) on ``channel`` at the
    shop-local moment ``local``: ``(unit_cents, rule_id or None)``."""
    base = unit_price(item, channel)
    if not book:
        return base, None
    return book.best(item["sku"], item.get("category"), channel, minute_of_week(local), base)
