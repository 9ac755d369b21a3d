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
the history has no holiday.

Weather (optional, a condition per UTC day: observed in the history, forecast ahead): per
SKU, one **weather factor** per class of condition (``dry``: clear, cloudy; ``wet``: rain,
snow, storm) — what the class's days in the ``weeks`` sold over what the seasonal mean
expected of them (holidays left out), 1 unless the window holds at least 3 days of the class
and 3 of the other, clipped to 0.5–1.5. An hour whose day has a known condition is forecast
× its class's factor, and the level compares the last 7 days with the seasonal mean × their
factors; days without weather are forecast as before. The back-test uses the weather stored
for its held-out days (observed, standing in for the forecast the shop would have had) and
reports the MAPE with and without it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

from cloud.reports.weather import CLASS_OF, CLASSES, check_bounds
from common.clock import iso

HOUR: Final = timedelta(hours=1)
HORIZON_H: Final = 72
LEVEL_CLIP: Final = (0.5, 2.0)
WEATHER_CLIP: Final = (0.5, 1.5)
WEATHER_MIN_DAYS: Final = 3      # of a class, and of the other, before its factor is learnt

Series = dict[str, int]
Slots = dict[tuple[int, int], float]
Weather = Mapping[str, str]      # UTC day -> condition (cloud/reports/weather.py)
NO_HOLIDAYS: Final[frozenset[str]] = frozenset()
NO_WEATHER: Final[Weather] = MappingProxyType({})
NO_FACTORS: Final[Mapping[str, float]] = MappingProxyType({})
_HOUR_SUFFIX: Final = tuple(f"T{h:02d}" for h in range(24))


@lru_cache(maxsize=4096)
def _day_text(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def key(moment: datetime) -> str:
    """``YYYY-MM-DDTHH`` (the day cached: strftime was most of a forecast's time)."""
    return _day_text(moment.toordinal()) + _HOUR_SUFFIX[moment.hour]


def _day(moment: datetime) -> str:
    return _day_text(moment.toordinal())


def _hours(end: datetime, count: int, holidays: frozenset[str]) -> list[datetime]:
    """The ``count`` hours before ``end`` that are not on a holiday."""
    found = [end - HOUR * (i + 1) for i in range(count)]
    return [m for m in found if _day(m) not in holidays]


def profile(series: Series, end: datetime, weeks: int,
            holidays: frozenset[str] = NO_HOLIDAYS) -> Slots:
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
          holidays: frozenset[str] = NO_HOLIDAYS, by_day: Mapping[str, float] = NO_FACTORS,
          slots: Slots | None = None) -> float:
    """What the last 7 days sold over what the seasonal mean (× their day's weather factor in
    ``by_day``) expected of them (holidays left out of both)."""
    slots = profile(series, end, weeks, holidays) if slots is None else slots
    hours = _hours(end, 7 * 24, holidays)
    expected = sum(slots.get((m.weekday(), m.hour), 0.0) * by_day.get(_day(m), 1.0)
                   for m in hours)
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


def weather_factors(series: Series, end: datetime, weeks: int,
                    holidays: frozenset[str] = NO_HOLIDAYS, weather: Weather = NO_WEATHER,
                    slots: Slots | None = None) -> dict[str, float]:
    """Per class of weather: what its days in the ``weeks`` before ``end`` sold over what the
    seasonal mean expected of them (holidays left out); 1 unless the window holds
    ``WEATHER_MIN_DAYS`` days of the class and as many of the other; clipped."""
    factors = dict.fromkeys(CLASSES, 1.0)
    if not weather:
        return factors
    slots = profile(series, end, weeks, holidays) if slots is None else slots
    sold, expected = dict.fromkeys(CLASSES, 0.0), dict.fromkeys(CLASSES, 0.0)
    days: dict[str, set[str]] = {c: set() for c in CLASSES}
    for moment in _hours(end, 7 * 24 * weeks, holidays):
        kind = CLASS_OF.get(weather.get(_day(moment), ""))
        if kind is not None:
            sold[kind] += series.get(key(moment), 0)
            expected[kind] += slots.get((moment.weekday(), moment.hour), 0.0)
            days[kind].add(_day(moment))
    known = sum(len(d) for d in days.values())
    for kind in CLASSES:
        if min(len(days[kind]), known - len(days[kind])) >= WEATHER_MIN_DAYS \
                and expected[kind] > 0:
            factors[kind] = min(max(sold[kind] / expected[kind], WEATHER_CLIP[0]),
                                WEATHER_CLIP[1])
    return factors


def seasonal(series: Series, end: datetime, weeks: int, hours: int = HORIZON_H,
             holidays: frozenset[str] = NO_HOLIDAYS, default_factor: float = 1.0,
             weather: Weather = NO_WEATHER) -> list[float]:
    """Hourly forecast for the ``hours`` after ``end``."""
    return _seasonal(series, end, weeks, hours, holidays, default_factor, weather)[0]


def _seasonal(series: Series, end: datetime, weeks: int, hours: int, holidays: frozenset[str],
              default_factor: float, weather: Weather) -> tuple[list[float], dict[str, float]]:
    """The hourly forecast and the weather factors it used."""
    slots = profile(series, end, weeks, holidays)
    factors = weather_factors(series, end, weeks, holidays, weather, slots)
    by_day = {d: factors[CLASS_OF[c]] for d, c in weather.items() if c in CLASS_OF}
    scale = level(series, end, weeks, holidays, by_day, slots)
    factor = holiday_factor(series, end, weeks, holidays, default_factor) if holidays else 1.0
    out = []
    for h in range(hours):
        moment = end + HOUR * h
        value = slots.get((moment.weekday(), moment.hour), 0.0) * scale
        value *= by_day.get(_day(moment), 1.0)
        out.append(value * factor if _day(moment) in holidays else value)
    return out, factors


def naive(series: Series, end: datetime, hours: int = HORIZON_H) -> list[float]:
    return [float(series.get(key(end + HOUR * h - timedelta(weeks=1)), 0)) for h in range(hours)]


def daily(hourly: list[float]) -> list[float]:
    return [sum(hourly[d * 24:(d + 1) * 24]) for d in range(len(hourly) // 24)]


def mape(predicted: list[float], actual: list[float]) -> float | None:
    """Mean absolute percentage error (%) over the days that sold something."""
    errors = [abs(p - a) / a for p, a in zip(predicted, actual, strict=True) if a > 0]
    return round(100 * sum(errors) / len(errors), 1) if errors else None


def backtest(series: Series, end: datetime, weeks: int, holidays: frozenset[str] = NO_HOLIDAYS,
             default_factor: float = 1.0,
             weather: Weather = NO_WEATHER) -> dict[str, float | None]:
    """The model (with ``weather``: the stored days stand in for the forecast the shop would
    have had), the model without weather, and the naive baseline, fitted before the last 72
    hours and scored on them."""
    start = end - HOUR * HORIZON_H
    actual = daily([float(series.get(key(start + HOUR * h), 0)) for h in range(HORIZON_H)])

    def model(given: Weather) -> float | None:
        return mape(daily(seasonal(series, start, weeks, HORIZON_H, holidays, default_factor,
                                   given)), actual)

    used = model(weather)
    return {"mape_pct": used,
            "mape_without_weather_pct": model(NO_WEATHER) if weather else used,
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


def forecast(series: Series, end: datetime, rules: Rules,
             weather: Weather = NO_WEATHER) -> dict[str, Any]:
    """The next 3 days (daily totals, 0.1 units), the weather factors learnt and the
    back-test of the model."""
    hourly, factors = _seasonal(series, end, rules.weeks, HORIZON_H, rules.holidays,
                                rules.holiday_factor, weather)
    days = daily(hourly)
    return {"days": [{"day": (end + timedelta(days=d)).strftime("%Y-%m-%d"),
                      "qty": round(q, 1)} for d, q in enumerate(days)],
            "weather_factors": {k: round(v, 3) for k, v in factors.items()},
            **backtest(series, end, rules.weeks, rules.holidays, rules.holiday_factor, weather)}


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
def parse_days(text: str) -> frozenset[str]:
    """``"2026-10-01,2026-10-02"`` -> the days; ValueError naming a bad one."""
    days = frozenset(filter(None, (p.strip() for p in text.split(","))))
    check_bounds(*sorted(days))
    return days


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


def weather_window(end: datetime, weeks: int) -> tuple[str, str]:
    """The UTC days [first, after) of weather a forecast at ``end`` reads: those of its
    history window and of the 72 hours ahead."""
    last = end + HOUR * (HORIZON_H - 1)
    return history_window(end, weeks)[0][:10], _day(last + timedelta(days=1))


def weather_ahead(weather: Weather, end: datetime) -> dict[str, str]:
    """The known conditions of the UTC days the 72 hours after ``end`` touch."""
    days = sorted({_day(end + HOUR * h) for h in range(HORIZON_H)})
    return {d: weather[d] for d in days if d in weather}


def store_forecasts(history: dict[str, Series], stock: dict[str, int], end: datetime,
                    rules: Rules, weather: Weather = NO_WEATHER) -> list[dict[str, Any]]:
    """Per SKU sold in the window (and every SKU with stock): forecast, back-test and the
    purchase suggestion."""
    rows = []
    for sku in sorted(set(history) | {s for s, n in stock.items() if n}):
        found = forecast(history.get(sku, {}), end, rules, weather)
        rows.append({"sku": sku, **found,
                     "purchase": suggestion(found["days"], stock.get(sku, 0),
                                            rules.lead_time_days, rules.safety_days)})
    return rows


def report(store: str, end: datetime, rules: Rules,
           inputs: tuple[dict[str, Series], dict[str, int], Weather],
           sku: str | None) -> dict[str, Any]:
    """A store's forecast document (API and CLI) from ``ReportOps.forecast_inputs``: per SKU
    (or only ``sku``), and the weather it used."""
    history, stock, weather = inputs
    if sku is not None:
        stock, history = {sku: stock.get(sku, 0)}, {sku: history.get(sku, {})}
    return {"store": store, "as_of": end.isoformat(), "weeks": rules.weeks,
            "holidays": sorted(rules.holidays),
            "weather": {"days_known": len(weather), "ahead": weather_ahead(weather, end)},
            "skus": store_forecasts(history, stock, end, rules, weather)}
