"""``CloudDb``'s HQ intelligence reads: partner settlement figures and the channel report
(SQL in ``settlement.py`` and ``channels.py``); each holds the instance's lock."""

from __future__ import annotations

import threading
from typing import Any

from . import channels, flows, settlement
from .backend import Backend
from .reads import require_store


class IntelOps:
    _db: Backend
    _lock: threading.RLock

    def settlement_figures(self, a: str, b: str, first: str, after: str,
                           skus: list[str]) -> dict[str, Any]:
        """Figures of stores ``a`` and ``b`` for days ``first`` <= day < ``after``."""
        with self._lock:
            for store in (a, b):
                require_store(self._db, store)
            return settlement.figures(self._db, a, b, first, after, skus)


    def channel_figures(self, start: str, end: str, store: str | None, as_of_epoch: float,
                        monthly: bool = False) -> tuple[channels.Groups,
                                                        dict[tuple[str, str], int]]:
        """Per (bucket, store, channel) figures for ``start`` <= created_at < ``end``, and
        the item costs (``channels.figures``)."""
        with self._lock:
            if store is not None:
                require_store(self._db, store)
            return channels.figures(self._db, start, end, store, as_of_epoch, monthly)

    def refresh_channel_months(self, start: str, end: str, as_of_epoch: float,
                               commission_bp: dict[str, int]) -> int:
        """Recompute ``channel_months`` for the months in [start, end); rows stored."""
        from cloud.analytics.channels import report

        with self._lock:
            groups, costs = channels.figures(self._db, start, end, None, as_of_epoch, True)
            return channels.store_months(self._db, start, end,
                                         report(groups, costs, commission_bp))

    def channel_months(self, first: str, last: str, store: str | None) -> list[dict[str, Any]]:
        """Stored monthly rows of months ``first``..``last`` (YYYY-MM, inclusive)."""
        with self._lock:
            if store is not None:
                require_store(self._db, store)
            return channels.read_months(self._db, first, last, store)

    def cross_store_flows(self, start: str, end: str) -> list[dict[str, Any]]:
        with self._lock:
            return flows.flows(self._db, start, end)

    def demand_history(self, store: str, start: str, end: str,
                       sku: str | None) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
        """({sku: {"YYYY-MM-DDTHH": qty}}, {sku: on_hand}) of ``store``."""
        with self._lock:
            require_store(self._db, store)
            return flows.hourly_demand(self._db, store, start, end, sku), \
                flows.on_hand(self._db, store)

    def probe_conversions(self, first_day: str, after_day: str,
                          store: str | None) -> list[dict[str, Any]]:
        with self._lock:
            if store is not None:
                require_store(self._db, store)
            return flows.probe_conversions(self._db, first_day, after_day, store)
