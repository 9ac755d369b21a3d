"""Demand forecasts and purchase suggestions per store and SKU (docs/forecast.md). Pure
functions over an hourly demand history ``{"YYYY-MM-DDTHH": qty}`` (UTC hours).

Model: the **seasonal mean** — for each weekday × hour slot, the mean quantity of that slot
over the last ``weeks`` weeks — times a **level**: what the last 7 days sold over what the
seasonal mean expected of them (1 when it expected nothing; clipped to 0.5–2). Baseline: the **naive
seasonal** forecast, the same hour one week earlier. Back-test: both are fitted on the
history before the last 72 hours and compared with what was sold in them, as the MAPE of the
three daily totals (days that sold nothing are left out: their percentage error has no
meaning; no such day at all: ``None``).

Holidays (optional, UTC days): their hours are left out of the seasonal mean and the level,
and a holiday ahead is forecast as a normal day times the **holiday factor**: the mean daily
total of the holidays in the history over that of the other days, or ``holiday_factor`` when
the history has no holiday. Weather is not an input.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Final

from edge.store.clock import iso

HOUR: Final = timedelta(hours=1)
HORIZON_H: Final = 72
LEVEL_CLIP: Final = (0.5, 2.0)

Series = dict[str, int]
NO_HOLIDAYS: Final[frozenset[str]] = frozenset()


def key(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H")


def _hours(end: datetime, count: int, holidays: frozenset[str]) -> list[datetime]:
    """The ``count`` hours before ``end`` that are not on a holiday."""
    found = [end - HOUR * (i + 1) for i in range(count)]
    return [m for m in found if m.strftime("%Y-%m-%d") not in holidays]


def profile(series: Series, end: datetime, weeks: int,
            holidays: frozenset[str] = NO_HOLIDAYS) -> dict[tuple[int, int], float]:
    """Mean quantity per (weekday, hour) over the ``weeks`` weeks before ``end`` (holidays
    left out)."""
    sums: dict[tuple[int, int], float] = {}
    counts: dict[tuple[int, int], int] = {}
    for moment in _hours(end, 7 * 24 * weeks, holidays):
        slot = (moment.weekday(), moment.hour)
        sums[slot] = sums.get(slot, 0.0) + series.get(key(moment), 0)
        counts[slot] = counts.get(slot, 0) + 1
    return {slot: total / counts[slot] for slot, total in sums.items()}


def level(series: Series, end: datetime, weeks: int,
          holidays: frozenset[str] = NO_HOLIDAYS) -> float:
    """What the last 7 days sold over what the seasonal mean expected of them (holidays left
    out of both)."""
    slots = profile(series, end, weeks, holidays)
    hours = _hours(end, 7 * 24, holidays)
    expected = sum(slots.get((m.weekday(), m.hour), 0.0) for m in hours)
    if expected <= 0:
        return 1.0
    sold = sum(series.get(key(m), 0) for m in hours)
    return min(max(sold / expected, LEVEL_CLIP[0]), LEVEL_CLIP[1])


def holiday_factor(series: Series, end: datetime, weeks: int, holidays: frozenset[str],
                   default: float) -> float:
    """Mean daily total of the history's holidays over that of its other days."""
    first = (end - timedelta(weeks=weeks)).date()
    days = [(first + timedelta(days=d)).isoformat() for d in range(7 * weeks)]
    totals = {d: sum(series.get(f"{d}T{h:02d}", 0) for h in range(24)) for d in days}
    off = [t for d, t in totals.items() if d in holidays]
    normal = [t for d, t in totals.items() if d not in holidays]
    if not off or not normal or sum(normal) <= 0:
        return default
    return (sum(off) / len(off)) / (sum(normal) / len(normal))


def seasonal(series: Series, end: datetime, weeks: int, hours: int = HORIZON_H,
             holidays: frozenset[str] = NO_HOLIDAYS, default_factor: float = 1.0) -> list[float]:
    """Hourly forecast for the ``hours`` after ``end``."""
    slots, scale = profile(series, end, weeks, holidays), level(series, end, weeks, holidays)
    factor = holiday_factor(series, end, weeks, holidays, default_factor) if holidays else 1.0
    out = []
    for h in range(hours):
        moment = end + HOUR * h
        value = slots.get((moment.weekday(), moment.hour), 0.0) * scale
        out.append(value * factor if moment.strftime("%Y-%m-%d") in holidays else value)
    return out


def naive(series: Series, end: datetime, hours: int = HORIZON_H) -> list[float]:
    return [float(series.get(key(end + HOUR * h - timedelta(weeks=1)), 0)) for h in range(hours)]


def daily(hourly: list[float]) -> list[float]:
    return [sum(hourly[d * 24:(d + 1) * 24]) for d in range(len(hourly) // 24)]


def mape(predicted: list[float], actual: list[float]) -> float | None:
    """Mean absolute percentage error (%) over the days that sold something."""
    errors = [abs(p - a) / a for p, a in zip(predicted, actual, strict=True) if a > 0]
    return round(100 * sum(errors) / len(errors), 1) if errors else None


def backtest(series: Series, end: datetime, weeks: int, holidays: frozenset[str] = NO_HOLIDAYS,
             default_factor: float = 1.0) -> dict[str, float | None]:
    start = end - HOUR * HORIZON_H
    actual = daily([float(series.get(key(start + HOUR * h), 0)) for h in range(HORIZON_H)])
    model = seasonal(series, start, weeks, HORIZON_H, holidays, default_factor)
    return {"mape_pct": mape(daily(model), actual),
            "naive_mape_pct": mape(daily(naive(series, start)), actual)}


@dataclass(frozen=True)
class Rules:
    """``[forecast]`` of cloud.toml (and the request's extra holidays)."""

    weeks: int = 4
    lead_time_days: int = 2
    safety_days: int = 1
    holidays: frozenset[str] = NO_HOLIDAYS
    holiday_factor: float = 1.0      # when the history has no holiday to learn it from

    def with_holidays(self, extra: frozenset[str]) -> Rules:
        return replace(self, holidays=self.holidays | extra)


def forecast(series: Series, end: datetime, rules: Rules) -> dict[str, Any]:
    """The next 3 days (daily totals, 0.1 units) and the back-test of the model."""
    days = daily(seasonal(series, end, rules.weeks, HORIZON_H, rules.holidays,
                          rules.holiday_factor))
    return {"days": [{"day": (end + timedelta(days=d)).strftime("%Y-%m-%d"),
                      "qty": round(q, 1)} for d, q in enumerate(days)],
            **backtest(series, end, rules.weeks, rules.holidays, rules.holiday_factor)}


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
    return {"forecast": {"weeks": (int, 4), "lead_time_days": (int, 2), "safety_days": (int, 1),
                         "holidays": (str, ""), "holiday_factor_pct": (int, 100)}}


RANGES: Final = {"forecast.weeks": (1, 26), "forecast.lead_time_days": (0, 60),
                 "forecast.safety_days": (0, 60), "forecast.holiday_factor_pct": (0, 1000)}
_DAY: Final = re.compile(r"^\d{4}-\d\d-\d\d$")


def parse_days(text: str) -> frozenset[str]:
    """``"2026-10-01,2026-10-02"`` -> the days; ValueError naming a bad one."""
    days = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            if not _DAY.match(part):
                raise ValueError
            date.fromisoformat(part)
        except ValueError:
            raise ValueError(f"{part!r} is not a day YYYY-MM-DD") from None
        days.add(part)
    return frozenset(days)


def check(values: dict[str, Any]) -> list[str]:
    try:
        parse_days(values["forecast.holidays"])
    except ValueError as exc:
        return [f"forecast.holidays: {exc}"]
    return []


def from_config(values: dict[str, Any]) -> Rules:
    return Rules(weeks=values["forecast.weeks"], lead_time_days=values["forecast.lead_time_days"],
                 safety_days=values["forecast.safety_days"],
                 holidays=parse_days(values["forecast.holidays"]),
                 holiday_factor=values["forecast.holiday_factor_pct"] / 100)


def history_window(end: datetime, weeks: int) -> tuple[str, str]:
    """The stored timestamps [start, end) a forecast at ``end`` reads: its ``weeks`` weeks
    before the back-test's 72 hours, and one more week for the naive baseline."""
    start = end - HOUR * HORIZON_H - timedelta(weeks=weeks + 1)
    return iso(start), iso(end)


def store_forecasts(history: dict[str, Series], stock: dict[str, int], end: datetime,
                    rules: Rules) -> list[dict[str, Any]]:
    """Per SKU sold in the window (and every SKU with stock): forecast, back-test and the
    purchase suggestion."""
    rows = []
    for sku in sorted(set(history) | {s for s, n in stock.items() if n}):
        found = forecast(history.get(sku, {}), end, rules)
        rows.append({"sku": sku, **found,
                     "purchase": suggestion(found["days"], stock.get(sku, 0),
                                            rules.lead_time_days, rules.safety_days)})
    return rows
