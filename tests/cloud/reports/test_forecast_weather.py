"""Weather as a forecast input: where rain sells 30 % less, the weather factors find it and the
back-test with weather beats the one without; too few days of a class give factor 1; holidays
are left out of the factors and a rainy holiday ahead gets both factors; the checks of a list
of weather days and the CSV reader."""

from __future__ import annotations

import random
from datetime import timedelta

from cloud.reports import forecast as fc
from cloud.reports import weather as wx

from .test_forecast import END, history, pattern

WET = ("rain", "snow", "storm")
DRY = ("clear", "cloudy")
HELD_OUT = ("2026-10-23", "2026-10-24", "2026-10-25")  # the back-test's 72 hours


def days_before(n: int, after: int = 3) -> list[str]:
    """The ``n`` UTC days before END and ``after`` days from it."""
    first = (END - timedelta(days=n)).date()
    return [(first + timedelta(days=d)).isoformat() for d in range(n + after)]


def rainy_history(seed: int, noise: float = 0.3, effect: float = 0.7,
                  share: float = 0.3) -> tuple[fc.Series, dict[str, str]]:
    """8 weeks of ``pattern`` with a random condition a day (``share`` of them wet, on which
    everything sells ``effect`` times as much), ±``noise``; the weather of the 3 days ahead
    too."""
    rng = random.Random(seed)
    weather = {d: rng.choice(WET) if rng.random() < share else rng.choice(DRY)
               for d in days_before(56)}
    series: fc.Series = {}
    moment = END - timedelta(weeks=8)
    while moment < END:
        value = pattern(moment) * (effect if weather[fc.key(moment)[:10]] in WET else 1)
        value = round(value * (1 + rng.uniform(-noise, noise)))
        if value > 0:
            series[fc.key(moment)] = value
        moment += fc.HOUR
    return series, weather


def test_rain_selling_30_percent_less_is_learnt_and_lowers_the_backtest_error() -> None:
    wins, with_weather, without = 0, [], []
    for seed in range(20):
        series, weather = rainy_history(seed)
        result = fc.backtest(series, END, weeks=4, weather=weather)
        used, plain = result["mape_pct"], result["mape_without_weather_pct"]
        assert used is not None and plain is not None
        assert used <= plain + 1.0, (seed, used, plain)  # never (much) worse
        wins += used < plain
        with_weather.append(used)
        without.append(plain)
        # the weather does not change the model without it
        assert plain == fc.backtest(series, END, weeks=4)["mape_pct"]
    assert wins >= 15, wins
    assert sum(with_weather) < 0.6 * sum(without), (sum(with_weather) / 20, sum(without) / 20)


def test_the_factors_and_the_forecast_of_rainy_days() -> None:
    series, weather = rainy_history(0, noise=0.0)
    factors = fc.weather_factors(series, END, 4, weather=weather)
    # relative to the seasonal mean (a mix of both): wet under 1, dry over, ~0.7 apart
    assert factors["wet"] < 1 < factors["dry"]
    assert abs(factors["wet"] / factors["dry"] - 0.7) < 0.05, factors
    ahead = {**weather, "2026-10-26": "rain", "2026-10-27": "clear", "2026-10-28": "cloudy"}
    plain = fc.forecast(series, END, fc.Rules())
    result = fc.forecast(series, END, fc.Rules(), ahead)
    assert result["weather_factors"] == {k: round(v, 3) for k, v in factors.items()}
    qty = [d["qty"] for d in result["days"]]
    assert qty[0] < [d["qty"] for d in plain["days"]][0] < qty[1]  # a rainy Monday sells less
    # no weather ahead: no factor on those days, only the level (weather-adjusted) may differ
    partial = fc.forecast(series, END, fc.Rules(), {d: c for d, c in weather.items()
                                                     if d < "2026-10-26"})
    ratios = {round(p["qty"] / q["qty"], 2) for p, q in zip(partial["days"], plain["days"])}
    assert len(ratios) == 1, ratios


def test_too_few_days_of_a_class_give_factor_1() -> None:
    series = history(8)
    window = days_before(28, after=0)
    for wet_days in (0, 2):
        weather = {d: "rain" if n < wet_days else "clear" for n, d in enumerate(window)}
        for d in window[:wet_days]:
            for hour in range(24):
                series.pop(f"{d}T{hour:02d}", None)  # the rainy days sold nothing
        assert fc.weather_factors(series, END, 4, weather=weather) == {"dry": 1.0, "wet": 1.0}
        result = fc.forecast(series, END, fc.Rules(), {**weather, "2026-10-26": "rain"})
        assert result["days"] == fc.forecast(series, END, fc.Rules())["days"], wet_days
    series = history(8)
    # three of each: learnt (here rain sold as much: 1), and clipped to 0.5-1.5
    weather = {d: "rain" if n < 3 else "clear" for n, d in enumerate(window)}
    assert fc.weather_factors(series, END, 4, weather=weather) == {"dry": 1.0, "wet": 1.0}
    for day in window[:3]:
        for hour in range(24):
            series.pop(f"{day}T{hour:02d}", None)  # the rainy days sold nothing
    factors = fc.weather_factors(series, END, 4, weather=weather)
    assert factors["wet"] == fc.WEATHER_CLIP[0] and factors["dry"] > 1.0
    only_three_dry = {d: "clear" if n < 3 else "snow" for n, d in enumerate(window)}
    assert fc.weather_factors(history(8), END, 4, weather=only_three_dry) == \
        {"dry": 1.0, "wet": 1.0}


def test_holidays_are_left_out_of_the_factors_and_a_rainy_holiday_gets_both() -> None:
    series, weather = rainy_history(0, noise=0.0)
    holiday = "2026-10-17"  # a Saturday in the window: sold 3x, and it rained
    weather[holiday] = "storm"
    tripled = dict(series)
    for hour in range(24):
        if f"{holiday}T{hour:02d}" in tripled:
            tripled[f"{holiday}T{hour:02d}"] *= 3
    days = frozenset({holiday})
    left_out = fc.weather_factors(tripled, END, 4, days, weather)
    assert left_out == fc.weather_factors(series, END, 4, days, weather)
    assert fc.weather_factors(tripled, END, 4, weather=weather)["wet"] > left_out["wet"]
    # Tuesday 2026-10-27: a holiday and rain ahead
    ahead = {**weather, "2026-10-27": "rain"}
    both = fc.Rules(holidays=frozenset({holiday, "2026-10-27"}))
    result = fc.forecast(tripled, END, both, ahead)
    holiday_only = fc.forecast(tripled, END, both, {**ahead, "2026-10-27": "clear"})
    ratio = result["days"][1]["qty"] / holiday_only["days"][1]["qty"]
    assert abs(ratio - left_out["wet"] / left_out["dry"]) < 0.01, ratio
    factor = fc.holiday_factor(tripled, END, 4, both.holidays, 1.0)
    assert factor > 2  # the holiday factor still applies
    assert result["days"][0]["qty"] == holiday_only["days"][0]["qty"]


def test_the_weather_days_a_forecast_reads() -> None:
    end = END + 5 * fc.HOUR  # the 72 hours touch 4 UTC days
    assert fc.weather_window(end, 4) == ("2026-09-18", "2026-10-30")
    known = {"2026-10-25": "rain", "2026-10-26": "snow", "2026-10-29": "clear",
             "2026-10-30": "rain"}
    assert fc.weather_ahead(known, end) == {"2026-10-26": "snow", "2026-10-29": "clear"}


def test_weather_days_are_checked_whole() -> None:
    good = {"day": "2026-10-01", "condition": "rain", "precip_tenths_mm": 125,
            "temp_tenths_c": -35}
    assert wx.problems([good, {"day": "2026-10-02", "condition": "clear"}]) == []
    assert wx.normalised({"day": "2026-10-02", "condition": "clear"}) == {
        "day": "2026-10-02", "condition": "clear", "precip_tenths_mm": None,
        "temp_tenths_c": None}
    cases = [
        ({**good, "condition": "hail"}, "days/1/condition"),
        ({**good, "day": "2026-02-30"}, "days/1/day"),
        ({**good, "day": "26-10-01"}, "days/1/day"),
        ({**good, "precip_tenths_mm": -1}, "days/1/precip_tenths_mm"),
        ({**good, "temp_tenths_c": 601}, "days/1/temp_tenths_c"),
        ({**good, "temp_tenths_c": 1.5}, "days/1/temp_tenths_c"),
        ({**good, "wind": 3}, "days/1"),
        ({"day": "2026-10-05"}, "days/1"),
        (good, "days/1/day"),  # given twice
    ]
    for bad, path in cases:
        found = wx.problems([good, bad])
        assert [p["path"] for p in found] == [path], (bad, found)
    assert wx.problems([])[0]["path"] == "days"
    assert wx.problems([good] * (wx.MAX_DAYS + 1))[0]["path"] == "days"


def test_csv_in_and_out() -> None:
    text = ("day,condition,precip_tenths_mm,temp_tenths_c\n"
            "2026-10-01,rain,125,-35\n2026-10-02, clear ,,\n")
    days = wx.parse_csv(text)
    assert days == [{"day": "2026-10-01", "condition": "rain", "precip_tenths_mm": 125,
                     "temp_tenths_c": -35},
                    {"day": "2026-10-02", "condition": "clear", "precip_tenths_mm": None,
                     "temp_tenths_c": None}]
    assert wx.to_csv(days) == text.replace(" clear ", "clear")
    assert wx.parse_csv("day,condition\n2026-10-01,snow\n") == [
        {"day": "2026-10-01", "condition": "snow"}]
    bad = wx.parse_csv("day,condition,temp_tenths_c\n2026-10-01,snow,x\n2026-10-01,fog,1\n")
    assert [wx.csv_problem(p) for p in wx.problems(bad)] == [
        "line 2 (temp_tenths_c): 'x' is not of type 'integer', 'null'",
        "line 3 (condition): 'fog' is not one of ['clear', 'cloudy', 'rain', 'snow', 'storm']"]
    for header in ("day,weather\n", "day,condition,wind\n", ""):
        try:
            wx.parse_csv(header)
        except ValueError as exc:
            assert "CSV header" in str(exc)
        else:
            raise AssertionError(header)
