"""Forecasts: a clean weekday × hour pattern is forecast exactly; with noise, the seasonal
mean beats the naive seasonal baseline in the back-test; the level follows a lasting change;
purchase suggestions from forecast, stock, safety stock and lead time."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from cloud.reports import forecast as fc

END = datetime(2026, 10, 26, 0, tzinfo=UTC)  # a Monday, 00:00 UTC


def pattern(moment: datetime) -> int:
    """Busy lunch and dinner, weekends double."""
    base = {11: 10, 12: 20, 13: 8, 18: 12, 19: 15}.get(moment.hour, 0)
    return base * (2 if moment.weekday() >= 5 else 1)


def history(weeks: int, noise: float = 0.0, seed: int = 7,
            scale_last_week: float = 1.0) -> fc.Series:
    rng = random.Random(seed)
    series: fc.Series = {}
    moment = END - timedelta(weeks=weeks)
    while moment < END:
        value = pattern(moment) * (scale_last_week if END - moment <= timedelta(weeks=1) else 1)
        if noise:
            value = max(0, round(value * (1 + rng.uniform(-noise, noise))))
        if value:
            series[fc.key(moment)] = int(value)
        moment += fc.HOUR
    return series


def test_a_clean_pattern_is_forecast_exactly() -> None:
    series = history(8)
    result = fc.forecast(series, END, fc.Rules(weeks=4))
    # Monday, Tuesday, Wednesday: 65 units a day
    assert result["days"] == [{"day": "2026-10-26", "qty": 65.0},
                              {"day": "2026-10-27", "qty": 65.0},
                              {"day": "2026-10-28", "qty": 65.0}]
    assert result["mape_pct"] == 0.0 and result["naive_mape_pct"] == 0.0
    slots = fc.profile(series, END, weeks=4)
    assert slots[5, 12] == 40.0 and sum(v for (wd, _), v in slots.items() if wd == 5) == 130.0


def test_the_seasonal_mean_beats_the_naive_baseline_on_noisy_demand() -> None:
    wins = 0
    for seed in range(20):
        series = history(8, noise=0.6, seed=seed)
        result = fc.backtest(series, END, weeks=4)
        assert result["mape_pct"] is not None and result["naive_mape_pct"] is not None
        wins += result["mape_pct"] < result["naive_mape_pct"]
    assert wins >= 15, wins


def test_the_level_follows_a_lasting_change() -> None:
    series = history(5, scale_last_week=1.5)
    assert abs(fc.level(series, END, weeks=4) - 1.5 / (4.5 / 4)) < 0.01  # whole units
    assert fc.level({}, END, weeks=4) == 1.0
    assert fc.level(history(5, scale_last_week=10), END, weeks=4) == 2.0  # clipped


def test_no_sales_no_mape() -> None:
    assert fc.forecast({}, END, fc.Rules()) == {
        "days": [{"day": d, "qty": 0.0} for d in ("2026-10-26", "2026-10-27", "2026-10-28")],
        "weather_factors": {"dry": 1.0, "wet": 1.0},
        "mape_pct": None, "mape_without_weather_pct": None, "naive_mape_pct": None}
    assert fc.mape([1.0, 5.0], [0.0, 4.0]) == 25.0


def test_purchase_suggestions() -> None:
    days = [{"qty": 10.0}, {"qty": 20.0}, {"qty": 30.0}]
    assert fc.suggestion(days, on_hand=5, lead_time_days=2, safety_days=1) == {
        "on_hand": 5, "lead_time_demand": 30.0, "safety_stock": 20.0, "order_qty": 45}
    # a lead time past the forecast: its daily mean for the days after
    assert fc.suggestion(days, 0, 5, 0)["lead_time_demand"] == 100.0
    assert fc.suggestion(days, on_hand=500, lead_time_days=2, safety_days=1)["order_qty"] == 0
    assert fc.suggestion([{"qty": 0.3}], 0, 1, 0)["order_qty"] == 1  # rounded up


def test_holidays_are_left_out_and_forecast_with_their_factor() -> None:
    series = history(8)
    holiday = (END - timedelta(days=9)).strftime("%Y-%m-%d")  # a Saturday: sold 3x
    for hour in range(24):
        if f"{holiday}T{hour:02d}" in series:
            series[f"{holiday}T{hour:02d}"] *= 3
    # without the holiday known, the Saturday lunch slot is pulled up
    assert fc.profile(series, END, 4)[5, 12] == 60.0
    days = frozenset({holiday, "2026-10-27"})
    assert fc.profile(series, END, 4, days)[5, 12] == 40.0
    factor = fc.holiday_factor(series, END, 4, days, 1.0)
    assert round(factor, 4) == round(3 * 130 / ((65 * 20 + 130 * 7) / 27), 4)
    result = fc.forecast(series, END, fc.Rules(holidays=days))
    assert [d["qty"] for d in result["days"]] == [65.0, round(65 * factor, 1), 65.0]
    # no holiday in the history: the configured factor
    result = fc.forecast(history(8), END, fc.Rules(holidays=frozenset({"2026-10-27"}),
                                                    holiday_factor=0.5))
    assert [d["qty"] for d in result["days"]] == [65.0, 32.5, 65.0]


def test_holiday_lists() -> None:
    assert fc.parse_days(" 2026-10-01, 2026-10-02,") == {"2026-10-01", "2026-10-02"}
    for bad in ("2026-13-01", "tomorrow", "2026-1-1"):
        try:
            fc.parse_days(bad)
        except ValueError as exc:
            assert repr(bad) in str(exc)
        else:
            raise AssertionError(bad)
