"""Store weather through the HQ API and the CLI on SQLite and PostgreSQL: upsert and read back;
every malformed day is a 4xx with the error body and writes nothing; roles and unknown stores;
the forecast reads the weather (factors, the days ahead, the back-test with and without)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cloud import keys
from cloud.database import CloudDb
from tests.conftest import Api

from .conftest import Orders, cli_hq

URL = "/api/v1/stores/s1/weather"
DAYS = [{"day": "2026-10-01", "condition": "rain", "precip_tenths_mm": 125,
         "temp_tenths_c": -35},
        {"day": "2026-10-02", "condition": "clear"}]


def full(day: dict[str, Any]) -> dict[str, Any]:
    return {"precip_tenths_mm": None, "temp_tenths_c": None, **day}


async def put(api: Api, days: Any, url: str = URL) -> tuple[int, Any]:
    return await api.call("PUT", url, {"days": days})


async def test_put_is_an_upsert_and_get_reads_it_back(admin: Api, analyst: Api) -> None:  # noqa: F811
    assert await put(admin, DAYS) == (200, {"store": "s1", "written": 2})
    status, body = await admin.get(URL)
    assert (status, body) == (200, {"store": "s1", "days": [full(d) for d in DAYS]})
    # the same again changes nothing; a changed day is replaced, a new one added
    assert (await put(admin, DAYS))[0] == 200
    changed = [{"day": "2026-10-02", "condition": "snow", "temp_tenths_c": -20},
               {"day": "2026-10-03", "condition": "storm", "precip_tenths_mm": 0}]
    assert await put(admin, changed) == (200, {"store": "s1", "written": 2})
    status, body = await analyst.get(URL)
    assert status == 200
    assert body["days"] == [full(DAYS[0]), full(changed[0]), full(changed[1])]
    assert (await admin.get(URL + "?from=2026-10-02&to=2026-10-03"))[1]["days"] == \
        [full(changed[0])]
    assert (await admin.get(URL + "?from=2026-10-03"))[1]["days"] == [full(changed[1])]
    assert (await admin.get("/api/v1/stores/s2/weather"))[1]["days"] == []  # per store
    for bad in ("?from=yesterday", "?to=2026-02-30", "?from=2026-10-01,2026-10-02"):
        status, body = await admin.get(URL + bad)
        assert (status, body["error"]) == (400, "bad_query"), bad


async def test_bad_days_are_422_and_write_nothing(hq: TestClient, admin: Api,  # noqa: F811
                                                   analyst: Api) -> None:
    assert (await put(admin, DAYS[:1]))[0] == 200
    before = await admin.get(URL)
    good = {"day": "2026-10-05", "condition": "cloudy"}  # would be written if partial
    for bad, path in (({"day": "2026-10-06", "condition": "hail"}, "days/1/condition"),
                      ({"day": "2026-02-30", "condition": "rain"}, "days/1/day"),
                      ({"day": "2026-10-05", "condition": "rain"}, "days/1/day"),  # twice
                      ({"day": "2026-10-06", "condition": "rain", "temp_tenths_c": 999},
                       "days/1/temp_tenths_c"),
                      ({"day": "2026-10-06", "condition": "rain", "precip_tenths_mm": -5},
                       "days/1/precip_tenths_mm"),
                      ({"day": "2026-10-06", "condition": "rain", "wind": 1}, "days/1")):
        status, body = await put(admin, [good, bad])
        assert status == 422 and body["error"] == "invalid_body", (bad, body)
        assert [p["path"] for p in body["detail"]] == [path], body
    for whole in ([], [good] * 1001, "x", None):
        status, body = await put(admin, whole)
        assert (status, body["error"]) == (422, "invalid_body"), whole
    token = {"Authorization": f"Bearer {admin.token}"}
    resp = await hq.put(URL, data=b'{"days": [', headers=token)
    assert (resp.status, (await resp.json())["error"]) == (400, "malformed_json")
    huge = json.dumps({"days": [good], "pad": "x" * 300_000}).encode()
    resp = await hq.put(URL, data=huge, headers=token)
    assert (resp.status, (await resp.json())["error"]) == (413, "body_too_large")
    # roles and stores
    status, body = await put(analyst, [good])
    assert (status, body["error"]) == (403, "forbidden")
    status, body = await put(admin, [good], "/api/v1/stores/s9/weather")
    assert (status, body["error"]) == (404, "unknown_store")
    assert (await put(admin, [good], "/api/v1/stores/Bad%20Id/weather"))[0] == 404
    assert (await admin.get("/api/v1/stores/s9/weather"))[0] == 404
    assert await admin.get(URL) == before


def rainy(day: date) -> bool:
    return day.toordinal() % 3 == 0


async def test_the_forecast_reads_the_weather(hq: TestClient, admin: Api) -> None:  # noqa: F811
    orders = Orders(hq.server.app[keys.DB].db)
    day, weather = date(2026, 9, 14), []  # six weeks of lunches before Monday 2026-10-26
    while day < date(2026, 10, 29):
        weather.append({"day": day.isoformat(), "condition": "rain" if rainy(day) else "clear"})
        if day < date(2026, 10, 26):  # rainy days sell 30 % less
            qty = 7 if rainy(day) else 10
            orders.add("s1", day.isoformat(), qty * 100, hour=12, lines=[("C1", qty, 100)])
        day += timedelta(days=1)
    url = "/api/v1/stores/s1/forecast?as_of=2026-10-26T00:00Z"
    status, plain = await admin.get(url)
    assert status == 200, plain
    assert plain["weather"] == {"days_known": 0, "ahead": {}}
    (row,) = plain["skus"]
    assert row["weather_factors"] == {"dry": 1.0, "wet": 1.0}
    assert row["mape_pct"] == row["mape_without_weather_pct"] > 0

    assert (await put(admin, weather))[0] == 200
    status, body = await admin.get(url)
    assert status == 200, body
    ahead = {d["day"]: d["condition"] for d in weather[-3:]}
    # the window read: 5 weeks (the naive baseline's week) + 72 hours back, 3 days ahead
    assert body["weather"] == {"days_known": len(weather) - 4, "ahead": ahead}
    (row,) = body["skus"]
    factors = row["weather_factors"]
    assert factors["wet"] < 1 < factors["dry"]
    assert abs(factors["wet"] / factors["dry"] - 0.7) < 0.03, factors
    assert row["mape_without_weather_pct"] == plain["skus"][0]["mape_pct"]
    assert row["mape_pct"] < row["mape_without_weather_pct"] / 2, row
    by_day = {d["day"]: d["qty"] for d in row["days"]}
    wet = [by_day[d] for d, c in ahead.items() if c == "rain"]
    dry = [by_day[d] for d, c in ahead.items() if c == "clear"]
    assert wet and dry and max(wet) < 8 < 9 < min(dry), by_day


def test_the_cli_imports_shows_and_forecasts(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    def seed(db: CloudDb) -> None:
        Orders(db).add("s1", "2026-10-01", 100, hour=8, lines=[("C1", 1, 100)])

    cli = cli_hq(tmp_path / "hq", db_url, ("s1",), seed)
    text = ("day,condition,precip_tenths_mm,temp_tenths_c\n"
            "2026-10-01,rain,125,-35\n2026-10-02,clear,,\n")
    (tmp_path / "w.csv").write_text(text)
    code, out = cli("weather", "import", "--store", "s1", str(tmp_path / "w.csv"))
    assert (code, json.loads(out)) == (0, {"store": "s1", "written": 2}), out
    code, out = cli("weather", "show", "--store", "s1", "--format", "csv")
    assert (code, out) == (0, text)
    code, out = cli("weather", "show", "--store", "s1", "--from", "2026-10-02")
    assert code == 0 and json.loads(out)["days"] == [
        {"day": "2026-10-02", "condition": "clear", "precip_tenths_mm": None,
         "temp_tenths_c": None}]
    # a bad line: nothing written, the line named
    (tmp_path / "bad.csv").write_text("day,condition\n2026-10-03,snow\n2026-10-04,fog\n")
    code, out = cli("weather", "import", "--store", "s1", str(tmp_path / "bad.csv"))
    assert code == 1 and "line 3 (condition)" in out, out
    code, out = cli("weather", "import", "--store", "nope", str(tmp_path / "w.csv"))
    assert code == 1 and "UnknownStore" in out, out
    assert cli("weather", "show", "--store", "s1", "--to", "soon")[0] == 1
    code, out = cli("weather", "show", "--store", "s1", "--format", "csv")
    assert (code, out) == (0, text)
    code, out = cli("report", "forecast", "--store", "s1", "--sku", "C1")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["weather"]["days_known"] == 0  # the CLI forecasts from now: 2026-10 is gone
    assert "mape_without_weather_pct" in doc["skus"][0]
