"""The channel value report on SQLite and PostgreSQL: a hand-computed period (costs from the
store's item over HQ's, a merged member, cancelled and out-of-period orders, new vs returning,
30/90-day retention, commission per platform) through the HQ API as JSON and CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from cloud import keys
from cloud.database import CloudDb
from cloud.reports import channels
from cloud.reports.channels import report
from cloud.reports.settlement import half_up
from tests.conftest import Api

from .conftest import Orders, cli_hq

AS_OF = datetime(2027, 1, 15, tzinfo=UTC).timestamp()
START, END = "2026-10-01T00:00:00.000Z", "2026-11-01T00:00:00.000Z"


def seed(db: CloudDb, a: str, b: str) -> None:
    orders = Orders(db)
    db.put_catalog_item({"sku": "C1", "name": "C1", "category": "m", "station": "k",
                         "price_cents": 1000, "cost_cents": 400}, [a])
    backend = db._db
    with backend.write():
        for store, cost in ((a, 500), (b, 300)):
            backend.execute("INSERT INTO store_items(store, sku, item, seq, updated_at) "
                            "VALUES (?, 'C1', ?, 1, '2026-01-01T00:00:00.000Z')",
                            (store, json.dumps({"sku": "C1", "cost_cents": cost})))
    orders.member("m5", merged_into="m1")
    orders.add(a, "2026-10-01", 2000, "m1", lines=[("C1", 2, 700), ("C2", 1, 600)])
    orders.add(a, "2026-09-01", 1000, "m2")
    orders.add(a, "2026-10-02", 3000, "m2", channel="meituan", lines=[("C1", 3, 1000)])
    orders.add(a, "2026-10-05", 1000, "m3", channel="meituan", lines=[("C2", 1, 1000)])
    orders.add(b, "2026-10-10", 500, "m1", lines=[("C1", 1, 500)])
    orders.add(a, "2026-10-20", 800, "m4", channel="meituan", status="cancelled")
    orders.add(a, "2026-10-21", 1200, None, channel="meituan", lines=[("C1", 1, 1200)])
    orders.add(b, "2026-11-20", 700, "m3")
    orders.add(a, "2026-12-01", 300, "m3", channel="mini_program")  # from meituan to our own
    orders.add(b, "2026-10-15", 900, "m5", channel="eleme", lines=[("C1", 2, 450)])


def rows_by_key(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["store"], r["channel"]): r for r in rows}


async def test_hand_computed_period(hq: TestClient, admin: Api) -> None:  # noqa: F811
    db = hq.server.app[keys.DB].db
    seed(db, "s1", "s2")
    groups, costs = db.channel_figures(START, END, None, AS_OF)
    rows = rows_by_key(report(groups, costs, {"meituan": 1800, "eleme": 1500}))
    assert sorted(rows) == [("s1", "meituan"), ("s1", "pos"), ("s2", "eleme"), ("s2", "pos")]
    assert rows["s1", "meituan"] == {
        "store": "s1", "channel": "meituan", "orders": 3, "revenue_cents": 5200,
        "cost_cents": 2000, "gross_margin_cents": 3200, "margin_bp": 6154,
        "avg_ticket_cents": 1733, "members": 2, "new_members": 1, "new_share_bp": 5000,
        "returning_share_bp": 5000, "cohort": 1, "eligible_30": 1, "retained_30": 0,
        "retention_30_bp": 0, "eligible_90": 1, "retained_90": 1, "retention_90_bp": 10000,
        "to_mini_program": 1, "to_mini_program_bp": 10000,
        "commission_bp": 1800, "commission_cents": 936, "after_commission_cents": 2264,
        "units_without_cost": 1}
    pos = rows["s1", "pos"]
    assert (pos["orders"], pos["revenue_cents"], pos["cost_cents"], pos["margin_bp"]) == \
        (1, 2000, 1000, 5000)
    assert (pos["members"], pos["new_members"], pos["cohort"], pos["retained_30"],
            pos["retained_90"], pos["commission_cents"]) == (1, 1, 1, 1, 1, 0)
    shop = rows["s2", "pos"]
    assert (shop["cost_cents"], shop["margin_bp"], shop["new_members"], shop["cohort"],
            shop["retention_30_bp"]) == (300, 4000, 1, 0, None)
    eleme = rows["s2", "eleme"]  # m5 is m1 (merged): new this period, not a first order here
    assert (eleme["revenue_cents"], eleme["cost_cents"], eleme["members"], eleme["cohort"],
            eleme["commission_cents"], eleme["after_commission_cents"]) == (900, 600, 1, 0,
                                                                             135, 165)
    # the API (commission from [platforms]: meituan 1800, eleme 1500 by default)
    status, body = await admin.get("/api/v1/reports/channels?from=2026-10-01&to=2026-11-01")
    assert status == 200
    # retention is judged at the time of the request (today): eligibility may differ
    timeless = {k: v for k, v in rows["s1", "meituan"].items() if "_30" not in k
                and "_90" not in k}
    assert {k: body["rows"][0][k] for k in timeless} == timeless
    assert len(body["rows"]) == 4
    status, body = await admin.get("/api/v1/reports/channels?from=2026-10-01&to=2026-11-01"
                                   "&store=s2")
    assert [(r["store"], r["channel"]) for r in body["rows"]] == [("s2", "eleme"), ("s2", "pos")]
    resp = await hq.get("/api/v1/reports/channels?from=2026-10-01&to=2026-11-01&format=csv",
                        headers={"Authorization": f"Bearer {admin.token}"})
    assert resp.status == 200 and resp.content_type == "text/csv"
    table = list(csv.DictReader(io.StringIO(await resp.text())))
    assert table[0]["commission_cents"] == "936" and table[3]["retention_30_bp"] == ""
    for path, code in (("?from=2026-10-01", 400), ("?from=2026-11-01&to=2026-10-01", 400),
                       ("?from=2026-10-01&to=2026-11-01&store=nope", 404),
                       ("?from=2026-10-01&to=2026-11-01&format=xml", 400)):
        assert (await admin.get("/api/v1/reports/channels" + path))[0] == code, path


def test_the_cli_prints_json_and_csv(tmp_path: Path, db_url: str) -> None:  # noqa: F811
    cli = cli_hq(tmp_path / "hq", db_url, ("s1", "s2"), lambda db: seed(db, "s1", "s2"))

    def run(*args: str) -> tuple[int, str]:
        return cli("report", "channels", *args)

    code, out = run("--from", "2026-10-01", "--to", "2026-11-01")
    assert code == 0, out
    assert [r["commission_cents"] for r in json.loads(out)["rows"]] == [936, 0, 135, 0]
    code, out = run("--from", "2026-10-01", "--to", "2026-11-01", "--store", "s2",
                    "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("store,channel,orders,"), out
    assert len(out.splitlines()) == 3
    assert run("--from", "2026-10-01", "--to", "2026-10-01")[0] == 1
    code, out = cli("report", "refresh-channels", "--from", "2026-09", "--to", "2026-11")
    assert code == 0 and json.loads(out)["rows"] == 6, out
    code, out = cli("report", "channel-months", "--from", "2026-10", "--to", "2026-10",
                    "--format", "csv")
    assert code == 0 and len(out.splitlines()) == 5 and out.startswith("month,store,"), out
    assert cli("report", "refresh-channels", "--from", "2026-10", "--to", "2026-1")[0] == 1
    code, out = cli("report", "refresh-channels")  # by default: last month and this month
    assert code == 0, out
    done = json.loads(out)
    now = datetime.now(UTC)
    assert (done["from"], done["to"]) == (
        (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m"), now.strftime("%Y-%m"))
    code, out = cli("report", "channel-months", "--from", done["from"], "--to", done["to"])
    assert len(json.loads(out)["rows"]) == done["rows"]


def test_the_timer_units_verify(tmp_path: Path) -> None:
    import shutil
    import subprocess

    import pytest

    from tests.helpers import ROOT

    for name in ("storenode-cloud-channels.service", "storenode-cloud-channels.timer"):
        text = (ROOT / "systemd" / name).read_text()
        assert "storenode-cloud report refresh-channels --data-dir ${STATE_DIRECTORY}" in text \
            or "OnCalendar=" in text
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not here")
    exe = shutil.which("true")
    for name in ("storenode-cloud-channels.service", "storenode-cloud-channels.timer"):
        (tmp_path / name).write_text((ROOT / "systemd" / name).read_text().replace(
            "/opt/storenode/.venv/bin/storenode-cloud", str(exe)))
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "storenode-cloud-channels.timer"),
                             str(tmp_path / "storenode-cloud-channels.service")],
                            capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines() if "storenode-cloud-channels" in line
                and "Documentation" not in line and "Failed to resolve unit" not in line]
    assert not problems, result.stderr


async def test_monthly_rows_are_stored_and_read_back(hq: TestClient, admin: Api) -> None:  # noqa: F811
    db = hq.server.app[keys.DB].db
    seed(db, "s1", "s2")
    status, body = await admin.post(
        "/api/v1/reports/channels/months/refresh?from=2026-09&to=2026-11", None)
    assert status == 200 and body["rows"] == 6, body
    status, body = await admin.get("/api/v1/reports/channels/months?from=2026-09&to=2026-11")
    assert status == 200
    months = [(r["month"], r["store"], r["channel"], r["orders"], r["revenue_cents"])
              for r in body["rows"]]
    assert months == [("2026-09", "s1", "pos", 1, 1000), ("2026-10", "s1", "meituan", 3, 5200),
                      ("2026-10", "s1", "pos", 1, 2000), ("2026-10", "s2", "eleme", 1, 900),
                      ("2026-10", "s2", "pos", 1, 500), ("2026-11", "s2", "pos", 1, 700)]
    # October's rows are the period report's for October (timeless columns)
    groups, costs = db.channel_figures(START, END, None, AS_OF)
    live = rows_by_key(report(groups, costs, {"meituan": 1800, "eleme": 1500}))
    for row in body["rows"]:
        if row["month"] == "2026-10":
            expected = live[row["store"], row["channel"]]
            assert {k: row[k] for k in expected if "_30" not in k and "_90" not in k} == \
                {k: v for k, v in expected.items() if "_30" not in k and "_90" not in k}
    nov = body["rows"][-1]  # m3's second order: returning, not in a cohort
    assert (nov["members"], nov["new_members"], nov["cohort"]) == (1, 0, 0)
    resp = await hq.get("/api/v1/reports/channels/months?from=2026-10&to=2026-10&store=s2"
                        "&format=csv", headers={"Authorization": f"Bearer {admin.token}"})
    lines = (await resp.text()).splitlines()
    assert lines[0].startswith("month,store,channel,") and len(lines) == 3
    # a refresh replaces the months it covers
    assert (await admin.post("/api/v1/reports/channels/months/refresh?from=2026-10&to=2026-10",
                             None))[1]["rows"] == 4
    assert len((await admin.get("/api/v1/reports/channels/months?from=2026-09&to=2026-11"))[1]
               ["rows"]) == 6
    for path in ("?from=2026-10", "?from=2026-11&to=2026-10", "?from=2026-10&to=2026-13"):
        assert (await admin.get("/api/v1/reports/channels/months" + path))[0] == 400, path


async def test_a_long_report_does_not_hold_up_the_api(hq: TestClient, admin: Api) -> None:  # noqa: F811
    """Reports run on a connection and thread of their own: while one is in progress (here the
    report thread is kept busy for 1.5 s), the API's other calls answer at once and the next
    report waits for its turn on the report thread."""
    reports = await hq.server.app[keys.DB].reports()
    busy = asyncio.ensure_future(reports._thread.call(time.sleep, 1.5))
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    report_call = asyncio.ensure_future(
        admin.get("/api/v1/reports/channels?from=2026-10-01&to=2026-10-31"))
    status, _ = await admin.get("/api/v1/stores")
    assert status == 200 and time.perf_counter() - started < 1.0
    assert not report_call.done()
    status, body = await report_call
    assert status == 200 and body["rows"] == []
    assert time.perf_counter() - started > 1.2
    await busy


async def test_the_scheduler_keeps_the_last_and_current_month_stored(
        hq: TestClient, admin: Api) -> None:  # noqa: F811
    """The channel_months job (every 15 minutes by default) recomputes the previous and the
    current month: an order that arrives late for last month is in the stored report after it."""
    analytics, db = hq.server.app[keys.ANALYTICS], hq.server.app[keys.DB].db
    assert analytics.scheduler.get_job("channel_months") is not None
    previous, current = channels.recent_months(datetime.now(UTC))
    orders = Orders(db)
    orders.add("s1", f"{current}-01", 1500, "m1", channel="meituan", lines=[("C1", 1, 1500)])
    analytics._scheduled_time = lambda name: "2026-01-01T00:15:00.000Z"  # type: ignore
    await analytics._job("channel_months")
    months = f"/api/v1/reports/channels/months?from={previous}&to={current}"
    status, body = await admin.get(months)
    assert status == 200
    assert [(r["month"], r["store"], r["channel"], r["orders"]) for r in body["rows"]] == [
        (current, "s1", "meituan", 1)]
    assert body["rows"][0]["commission_cents"] == half_up(
        1500 * hq.server.app[keys.SETTINGS].platforms.commission_bp()["meituan"], 10000)
    orders.add("s2", f"{previous}-28", 700, None)  # a store back from offline, late
    analytics._scheduled_time = lambda name: "2026-01-01T00:30:00.000Z"  # type: ignore
    await analytics._job("channel_months")
    status, body = await admin.get(months)
    assert [(r["month"], r["store"], r["orders"]) for r in body["rows"]] == [
        (previous, "s2", 1), (current, "s1", 1)]
    assert [name for name, _ in analytics.ran] == ["channel_months", "channel_months"]


def test_narrow_and_wide_member_queries_agree(cdb: CloudDb,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A narrow report (a store, or up to NARROW_DAYS) numbers only the orders of members who
    ordered in the period; a wide one numbers every member order. Same figures either way,
    with a merged member, for the period and by month, for every store and for one."""
    from cloud.reports import channels_sql as sql

    seed(cdb, "canteen", "shop")
    start, end = "2026-08-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"
    answers = []
    for narrow_days in (10**6, -1):
        monkeypatch.setattr(sql, "NARROW_DAYS", narrow_days)
        answers.append([sql.figures(cdb._db, start, end, None, AS_OF, monthly)
                        for monthly in (False, True)])
    assert answers[0] == answers[1]
    assert answers[0][0][0]["", "canteen", "meituan"]["members"] == 2
    monkeypatch.setattr(sql, "NARROW_DAYS", 10**6)
    one_store = sql.figures(cdb._db, start, end, "shop", AS_OF)
    assert one_store[0] == {k: v for k, v in answers[0][0][0].items() if k[1] == "shop"}
