"""Cross-store flows by hour and store forecasts with purchase suggestions, through the HQ API
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient

from cloud import keys
from cloud.database import CloudDb
from tests.cloud.sync.sim import EdgeSim
from tests.conftest import Api

from .conftest import Orders, cli_hq


async def test_flows_between_stores_by_hour(hq: TestClient, admin: Api) -> None:  # noqa: F811
    orders = Orders(hq.server.app[keys.DB].db)
    orders.member("m5", merged_into="m1")
    d1, d2 = "2026-10-01", "2026-10-02"
    orders.add("s1", d1, 100, "m1", hour=8)
    orders.add("s2", d1, 100, "m1", hour=12)
    orders.add("s1", d1, 100, "m1", hour=18)
    orders.add("s2", d1, 100, "m2", hour=9)
    orders.add("s2", d1, 100, "m2", hour=10)   # same store: no flow
    orders.add("s1", d2, 100, "m2", hour=9)    # next day: no flow
    orders.add("s1", d2, 100, "m5", hour=7)    # m5 is m1
    orders.add("s2", d2, 100, "m1", hour=12)
    orders.add("s1", d1, 100, "m3", hour=8, status="cancelled")
    orders.add("s2", d1, 100, "m3", hour=9)
    orders.add("s1", d1, 100, None, hour=8)
    orders.add("s2", d1, 100, None, hour=9)
    status, body = await admin.get("/api/v1/reports/flows?from=2026-10-01&to=2026-10-03")
    assert status == 200, body
    assert [(f["from_store"], f["to_store"], f["hour"], f["visits"]) for f in body["flows"]] == \
        [("s1", "s2", 12, 2), ("s2", "s1", 18, 1)]
    status, body = await admin.get("/api/v1/reports/flows?from=2026-10-02&to=2026-10-03")
    assert [(f["from_store"], f["visits"]) for f in body["flows"]] == [("s1", 1)]
    assert (await admin.get("/api/v1/reports/flows?from=2026-10-02"))[0] == 400


async def test_store_forecast_and_purchase_suggestion(hq: TestClient, admin: Api) -> None:  # noqa: F811
    db = hq.server.app[keys.DB].db
    orders = Orders(db)
    day = date(2026, 9, 14)  # six weeks of lunches before Monday 2026-10-26
    while day < date(2026, 10, 26):
        qty = 10 if day.weekday() >= 5 else 5
        orders.add("s1", day.isoformat(), qty * 100, hour=12, lines=[("C1", qty, 100)])
        orders.add("s1", day.isoformat(), 100, hour=13, lines=[("C2", 1, 100)],
                   status="cancelled")
        day += timedelta(days=1)
    orders.add("s2", "2026-10-20", 100, hour=12, lines=[("C1", 50, 100)])  # another store
    backend = db._db
    with backend.write():
        backend.execute("INSERT INTO stock(store, sku, on_hand, updated_at) VALUES "
                        "('s1', 'C1', 3, 'x'), ('s1', 'C9', 4, 'x')")
    status, body = await admin.get("/api/v1/stores/s1/forecast?as_of=2026-10-26T00:30:00Z")
    assert status == 200, body
    assert body["as_of"] == "2026-10-26T00:00:00+00:00" and body["weeks"] == 4
    rows = {r["sku"]: r for r in body["skus"]}
    assert sorted(rows) == ["C1", "C9"]  # C2 only in cancelled orders; C9 in stock
    c1 = rows["C1"]
    assert [d["qty"] for d in c1["days"]] == [5.0, 5.0, 5.0]
    assert (c1["mape_pct"], c1["naive_mape_pct"]) == (0.0, 0.0)
    # 2 days of lead time (10) + 1 day of safety stock (5) - 3 on hand
    assert c1["purchase"] == {"on_hand": 3, "lead_time_demand": 10.0, "safety_stock": 5.0,
                              "order_qty": 12}
    assert rows["C9"]["purchase"]["order_qty"] == 0 and rows["C9"]["mape_pct"] is None
    status, body = await admin.get("/api/v1/stores/s1/forecast?sku=C1&as_of=2026-10-26T00:00Z")
    assert [r["sku"] for r in body["skus"]] == ["C1"]
    assert (await admin.get("/api/v1/stores/nope/forecast"))[0] == 404
    assert (await admin.get("/api/v1/stores/s1/forecast?as_of=yesterday"))[0] == 400


def test_the_cli(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    def seed(db: CloudDb) -> None:
        orders = Orders(db)
        orders.add("s1", "2026-10-01", 100, "m1", hour=8, lines=[("C1", 1, 100)])
        orders.add("s2", "2026-10-01", 100, "m1", hour=12)

    cli = cli_hq(tmp_path / "hq", db_url, ("s1", "s2"), seed)
    code, out = cli("report", "flows", "--from", "2026-10-01", "--to", "2026-10-02")
    assert code == 0, out
    assert json.loads(out)["flows"] == [{"from_store": "s1", "to_store": "s2", "hour": 12,
                                         "visits": 1}]
    code, out = cli("report", "forecast", "--store", "s1", "--sku", "C1")
    assert code == 0, out
    assert [r["sku"] for r in json.loads(out)["skus"]] == ["C1"]
    assert cli("report", "forecast", "--store", "nope")[0] == 1
    code, out = cli("report", "footfall", "--from", "2026-10-01", "--to", "2026-10-02")
    assert code == 0 and json.loads(out)["days"] == [], out


async def test_pickup_to_store_conversion_from_probe_events(hq: TestClient, admin: Api) -> None:
    db = hq.server.app[keys.DB].db
    sim = EdgeSim("s1", day="2026-10-02")  # events sent on the 2nd
    for day, decided, converted in (("2026-10-01", 4, 1), ("2026-10-01", 10, 3),
                                    ("2026-10-02", 3, 2)):
        sim.emit("probe.conversion", {"day": day, "window_s": 1800, "pickup_visitors": decided,
                                      "converted": converted,
                                      "share": round(converted / decided, 4)})
    sim.emit("probe.conversion", {"day": "2026-10-03", "pickup_visitors": "x"})  # bad data
    assert db.apply_batch("acme", "s1", sim.payload(1, len(sim.events))).kind == "applied"
    status, body = await admin.get("/api/v1/reports/footfall?from=2026-10-01&to=2026-10-04")
    assert status == 200, body
    assert body["days"] == [
        {"store": "s1", "day": "2026-10-01", "pickup_visitors": 10, "converted": 3,
         "share_bp": 3000, "window_s": 1800},
        {"store": "s1", "day": "2026-10-02", "pickup_visitors": 3, "converted": 2,
         "share_bp": 6667, "window_s": 1800}]
    status, body = await admin.get("/api/v1/reports/footfall?from=2026-10-02&to=2026-10-03"
                                   "&store=s2")
    assert (status, body["days"]) == (200, [])
    assert (await admin.get("/api/v1/reports/footfall?from=2026-10-02"))[0] == 400
