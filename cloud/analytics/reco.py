""""Often bought together": association rules a → b over the order lines of the last
``days`` days. A basket is one order's set of SKUs; for a pair of SKUs in one basket
support = baskets with both / baskets, confidence = baskets with both / baskets with a,
lift = confidence / (baskets with b / baskets). Pairs are pushed to every store of the
tenant as change ``reco.pairs``; the edge replaces its table with them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MAX_PAIRS: Final = 500  # per tenant, best lift first


@dataclass(frozen=True)
class RecoParams:
    days: int = 90
    min_support: float = 0.01
    min_confidence: float = 0.1
    limit: int = MAX_PAIRS

    def __post_init__(self) -> None:
        if not 1 <= self.days <= 3660:
            raise ValueError("days must be from 1 to 3660")
        if not 0 <= self.min_support <= 1 or not 0 <= self.min_confidence <= 1:
            raise ValueError("min_support and min_confidence must be from 0 to 1")
        if not 1 <= self.limit <= 10_000:
            raise ValueError("limit must be from 1 to 10000")
