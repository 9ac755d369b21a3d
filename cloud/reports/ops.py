"""``CloudDb``'s HQ intelligence: partner settlement figures, the channel report, flows,
forecast inputs (demand history, stock, weather) (SQL in ``settlement.py``, ``channels.py``,
``flows.py``, ``weather.py``); each holds the instance's lock."""

from __future__ import annotations

import threading
from typing import Any

from cloud.db.backend import Backend
from cloud.reports import channels_sql as channels
from cloud.reports import flows_sql as flows
from cloud.reports import settlement_sql as settlement
from cloud.reports import weather_sql as weather
from cloud.stores.sql import require_store


class ReportOps:
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
        from cloud.reports.channels import report

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

    def forecast_inputs(self, store: str, hours: tuple[str, str], days: tuple[str, str],
                        sku: str | None) -> tuple[dict[str, dict[str, int]], dict[str, int],
                                                  dict[str, str]]:
        """What a forecast of ``store`` reads: ({sku: {"YYYY-MM-DDTHH": qty}} of the
        timestamps [hours), {sku: on_hand}, {day: weather condition} of the days [days))."""
        with self._lock:
            require_store(self._db, store)
            return (flows.hourly_demand(self._db, store, *hours, sku),
                    flows.on_hand(self._db, store),
                    {d["day"]: d["condition"] for d in weather.read(self._db, store, *days)})

    def probe_conversions(self, first_day: str, after_day: str,
                          store: str | None) -> list[dict[str, Any]]:
        with self._lock:
            if store is not None:
                require_store(self._db, store)
            return flows.probe_conversions(self._db, first_day, after_day, store)

    def put_weather(self, store: str, days: list[dict[str, Any]]) -> int:
        """Insert or replace checked days (``cloud.reports.weather.problems``), all or none."""
        with self._lock:
            return weather.put(self._db, store, days)

    def weather(self, store: str, first_day: str | None = None,
                after_day: str | None = None) -> list[dict[str, Any]]:
        """The store's weather days in [first_day, after_day), in order."""
        with self._lock:
            return weather.read(self._db, store, first_day, after_day)
