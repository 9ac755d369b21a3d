"""Demand forecasts and purchase suggestions per store and SKU (docs/forecast.md). Pure
functions over an hourly demand history ``{"YYYY-MM-DDTHH": qty}`` (UTC hours).

Model: the **seasonal mean** — for each weekday × hour slot, the mean quantity of that slot
over the last ``weeks`` weeks — times a **level**: the last 7 days' total over the mean
weekly total of those weeks (1 when that is 0; clipped to 0.5–2). Baseline: the **naive
seasonal** forecast, the same hour one week earlier. Back-test: both are fitted on the
history before the last 72 hours and compared with what was sold in them, as the MAPE of the
three daily totals (days that sold nothing are left out: their percentage error has no
meaning; no such day at all: ``None``).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Final

from edge.store.clock import iso

HOUR: Final = timedelta(hours=1)
HORIZON_H: Final = 72
LEVEL_CLIP: Final = (0.5, 2.0)

Series = dict[str, int]


def key(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H")


def profile(series: Series, end: datetime, weeks: int) -> dict[tuple[int, int], float]:
    """Mean quantity per (weekday, hour) over the ``weeks`` weeks before ``end``."""
    sums: dict[tuple[int, int], float] = {}
    moment = end - timedelta(weeks=weeks)
    while moment < end:
        slot = (moment.weekday(), moment.hour)
        sums[slot] = sums.get(slot, 0.0) + series.get(key(moment), 0)
        moment += HOUR
    return {slot: total / weeks for slot, total in sums.items()}


def level(series: Series, end: datetime, weeks: int) -> float:
    weekly = sum(series.get(key(end - HOUR * (i + 1)), 0) for i in range(7 * 24 * weeks)) / weeks
    last = sum(series.get(key(end - HOUR * (i + 1)), 0) for i in range(7 * 24))
    if weekly <= 0:
        return 1.0
    return min(max(last / weekly, LEVEL_CLIP[0]), LEVEL_CLIP[1])


def seasonal(series: Series, end: datetime, weeks: int, hours: int = HORIZON_H) -> list[float]:
    """Hourly forecast for the ``hours`` after ``end``."""
    slots, scale = profile(series, end, weeks), level(series, end, weeks)
    return [slots.get(((end + HOUR * h).weekday(), (end + HOUR * h).hour), 0.0) * scale
            for h in range(hours)]


def naive(series: Series, end: datetime, hours: int = HORIZON_H) -> list[float]:
    return [float(series.get(key(end + HOUR * h - timedelta(weeks=1)), 0)) for h in range(hours)]


def daily(hourly: list[float]) -> list[float]:
    return [sum(hourly[d * 24:(d + 1) * 24]) for d in range(len(hourly) // 24)]


def mape(predicted: list[float], actual: list[float]) -> float | None:
    """Mean absolute percentage error (%) over the days that sold something."""
    errors = [abs(p - a) / a for p, a in zip(predicted, actual, strict=True) if a > 0]
    return round(100 * sum(errors) / len(errors), 1) if errors else None


def backtest(series: Series, end: datetime, weeks: int) -> dict[str, float | None]:
    start = end - HOUR * HORIZON_H
    actual = daily([float(series.get(key(start + HOUR * h), 0)) for h in range(HORIZON_H)])
    return {"mape_pct": mape(daily(seasonal(series, start, weeks)), actual),
            "naive_mape_pct": mape(daily(naive(series, start)), actual)}


def forecast(series: Series, end: datetime, weeks: int) -> dict[str, Any]:
    """The next 3 days (daily totals, 0.1 units) and the back-test of the model."""
    days = daily(seasonal(series, end, weeks))
    return {"days": [{"day": (end + timedelta(days=d)).strftime("%Y-%m-%d"),
                      "qty": round(q, 1)} for d, q in enumerate(days)],
            **backtest(series, end, weeks)}


def suggestion(days: list[dict[str, Any]], on_hand: int, lead_time_days: int,
               safety_days: float) -> dict[str, Any]:
    """What to order now: demand over the lead time (the forecast's days; past them, its
    daily mean) + safety stock (``safety_days`` of that mean) − stock on hand, rounded up."""
    per_day = [float(d["qty"]) for d in days]
    mean = sum(per_day) / len(per_day) if per_day else 0.0
    lead = sum(per_day[:lead_time_days]) + mean * max(0, lead_time_days - len(per_day))
    safety = mean * safety_days
    need = math.ceil(round(lead + safety - on_hand, 6))
    return {"on_hand": on_hand, "lead_time_demand": round(lead, 1),
            "safety_stock": round(safety, 1), "order_qty": max(0, need)}


def config_schema() -> dict[str, dict[str, tuple[type, Any]]]:
    return {"forecast": {"weeks": (int, 4), "lead_time_days": (int, 2), "safety_days": (int, 1)}}


RANGES: Final = {"forecast.weeks": (1, 26), "forecast.lead_time_days": (0, 60),
                 "forecast.safety_days": (0, 60)}


def history_window(end: datetime, weeks: int) -> tuple[str, str]:
    """The stored timestamps [start, end) a forecast at ``end`` reads: its ``weeks`` weeks
    before the back-test's 72 hours, and one more week for the naive baseline."""
    start = end - HOUR * HORIZON_H - timedelta(weeks=weeks + 1)
    return iso(start), iso(end)


def store_forecasts(history: dict[str, Series], stock: dict[str, int], end: datetime,
                    weeks: int, lead_time_days: int, safety_days: float) -> list[dict[str, Any]]:
    """Per SKU sold in the window (and every SKU with stock): forecast, back-test and the
    purchase suggestion."""
    rows = []
    for sku in sorted(set(history) | {s for s, n in stock.items() if n}):
        found = forecast(history.get(sku, {}), end, weeks)
        rows.append({"sku": sku, **found,
                     "purchase": suggestion(found["days"], stock.get(sku, 0), lead_time_days,
                                            safety_days)})
    return rows
