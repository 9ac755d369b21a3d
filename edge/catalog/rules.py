"""Stock pool rules: what a channel may still sell, and when to alert."""

from __future__ import annotations

from typing import Final

from common.vocabulary import MOVEMENT_REASONS

from edge.db.stockcache import StockLevel

# reasons the system writes itself
SYSTEM_REASONS: Final[tuple[str, ...]] = ("sale", "cancel", "refund")


def available_for_channel(level: StockLevel) -> int:
    """Units a channel may sell now: the pool, capped by the channel's daily quota."""
    pool = max(level.on_hand, 0)
    if level.quota_limit is None:
        return pool
    return max(0, min(pool, level.quota_limit - level.quota_used))


def shortages(
    wanted: dict[str, int], levels: dict[str, StockLevel]
) -> list[dict[str, int | str]]:
    """Lines that cannot be served, in the 409 ``out_of_stock`` detail shape."""
    short: list[dict[str, int | str]] = []
    for sku, qty in wanted.items():
        level = levels.get(sku)
        if level is None:  # stock not tracked for this item
            continue
        available = available_for_channel(level)
        if qty > available:
            short.append({"sku": sku, "requested": qty, "available": available})
    return short


def crossed_below_safety(before: int, after: int, safety: int) -> bool:
    """True when a movement takes stock from at/above the threshold to below it."""
    return safety > 0 and before >= safety > after
