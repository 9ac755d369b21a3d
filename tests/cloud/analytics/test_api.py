"""The HQ analytics API on both backends: segments and a member's RFM, triggers run now
(hq_admin) and their runs, bundles and the reco.pairs push; bad input is 4xx; an analyst
only reads; the app's scheduler holds the analytics jobs and stops with the app."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from cloud import keys
from cloud.database import CloudDb
from tests.cloud.api.conftest import admin, analyst, db_url, hq, hq_dir  # noqa: F401
from tests.conftest import Api

from .conftest import Orders, add_member, feed, recent

A = "01JAAAAAAAAAAAAAAAAAAAAAAA"
B = "01JBBBBBBBBBBBBBBBBBBBBBBB"
C = "01JCCCCCCCCCCCCCCCCCCCCCCC"


def cloud(client: TestClient) -> CloudDb:
    return client.app[keys.DB].db


def craft(client: TestClient) -> None:
    db, orders = cloud(client), Orders(cloud(client))
    add_member(db, A, birthday=recent()[5:7] + "-01")
    add_member(db, B)
    orders.add(A, recent(1), 5000, skus=("C001", "C002"))
    orders.add(A, recent(2), 5000, skus=("C001", "C002"), store="s2")
    orders.add(B, recent(200), 800, skus=("C001",))


async def test_segments_and_member_rfm(hq: TestClient, admin: Api, analyst: Api) -> None:  # noqa: F811
    craft(hq)
    status, empty = await analyst.get("/api/v1/segments")
    assert status == 200 and empty["members"] == 0 and empty["computed_at"] is None
    assert (await analyst.post("/api/v1/analytics/rfm", {}))[0] == 403
    status, made = await admin.post("/api/v1/analytics/rfm", {})
    assert status == 200 and made["members"] == 2
    status, counts = await analyst.get("/api/v1/segments")
    assert counts["members"] == 2 and sum(counts["segments"].values()) == 2
    assert (await analyst.get("/api/v1/segments?store=s1"))[1]["members"] == 2
    assert (await analyst.get("/api/v1/segments?store=s2"))[1]["members"] == 0
    assert (await analyst.get("/api/v1/segments?tenant=acme"))[1]["members"] == 2
    assert (await analyst.get("/api/v1/segments?store=S%201"))[0] == 400
    status, row = await analyst.get(f"/api/v1/members/{A}/rfm")
    assert status == 200 and (row["frequency"], row["monetary"], row["store"]) == (2, 10000, "s1")
    for bad in (C, "nope"):
        status, body = await analyst.get(f"/api/v1/members/{bad}/rfm")
        assert status == 404, bad


async def test_triggers_run_once_and_are_listed(hq: TestClient, admin: Api,
                                                analyst: Api) -> None:  # noqa: F811
    craft(hq)
    assert (await analyst.post("/api/v1/automation/birthday/run", {}))[0] == 403
    status, body = await admin.post("/api/v1/automation/nope/run", {})
    assert status == 404 and body["error"] == "unknown_trigger"
    status, first = await admin.post("/api/v1/automation/birthday/run", {})
    assert status == 200 and [r["member"] for r in first["runs"]] == [A]
    assert first["messages_sent"] == 0
    status, again = await admin.post("/api/v1/automation/birthday/run", {})
    assert status == 200 and again["runs"] == []
    status, winback = await admin.post("/api/v1/automation/winback/run", {})
    assert [r["member"] for r in winback["runs"]] == [B]
    status, runs = await analyst.get("/api/v1/automation/runs")
    assert status == 200 and [(r["trigger"], r["member"]) for r in runs] == [
        ("winback", B), ("birthday", A)]
    assert runs[1]["outcome"] == "recorded" and runs[1]["period"] == recent()[:7]
    status, only = await analyst.get(f"/api/v1/automation/runs?trigger=birthday&member={A}")
    assert [r["trigger"] for r in only] == ["birthday"]
    for query in ("trigger=nope", "member=x", "limit=0", "limit=abc"):
        status, body = await analyst.get(f"/api/v1/automation/runs?{query}")
        assert status == 400 and body["error"] == "bad_query", query


async def test_bundles_and_push(hq: TestClient, admin: Api, analyst: Api) -> None:  # noqa: F811
    craft(hq)
    status, rules = await analyst.get("/api/v1/recommendations/bundles?min_support=0.5"
                                      "&days=365&tenant=acme")
    assert status == 200
    pairs: dict[Any, Any] = {(r["a"], r["b"]): r for r in rules}
    assert set(pairs) == {("C001", "C002"), ("C002", "C001")}
    assert pairs["C002", "C001"]["confidence"] == 1.0
    assert pairs["C001", "C002"]["support"] == round(2 / 3, 6)  # B's order: 200 days ago
    assert pairs["C001", "C002"]["confidence"] == round(2 / 3, 6)
    status, recent_only = await analyst.get("/api/v1/recommendations/bundles")
    assert status == 200 and {r["support"] for r in recent_only} == {1.0}
    for query in ("min_support=2", "min_confidence=x", "days=0", "limit=99999",
                  "tenant=A!", "min_support=nan"):
        status, body = await analyst.get(f"/api/v1/recommendations/bundles?{query}")
        assert status == 400 and body["error"] == "bad_query", query
    assert (await analyst.post("/api/v1/recommendations/push", {}))[0] == 403
    status, pushed = await admin.post("/api/v1/recommendations/push?min_support=0.5", {})
    assert status == 200 and set(pushed["stores"]) == {"s1", "s2"}
    (change,) = feed(cloud(hq), "s2", "reco.pairs")
    assert len(change["data"]["pairs"]) == 2


async def test_the_scheduler_holds_every_job(hq: TestClient) -> None:  # noqa: F811
    scheduler = hq.app[keys.ANALYTICS].scheduler
    assert scheduler.running
    assert {job.id for job in scheduler.get_jobs()} == {
        "rfm", "reco_pairs", "birthday", "winback", "viewed_not_bought", "channel_months",
        "events_retention"}
    analytics = hq.app[keys.ANALYTICS]
    assert analytics.leading  # the only process: it leads
    analytics._scheduled_time = lambda name: "2026-01-01T00:30:00.000Z"  # type: ignore
    await analytics._job("rfm")  # what the timer runs
    assert (await hq.app[keys.DB].call(CloudDb.segment_counts))["computed_at"] is not None
    # the same scheduled time is not run twice (a second leader after a handover)
    before = await hq.app[keys.DB].call(CloudDb.segment_counts)
    await analytics._job("rfm")
    assert await hq.app[keys.DB].call(CloudDb.segment_counts) == before
    assert analytics.ran == [("rfm", "2026-01-01T00:30:00.000Z")]


async def test_automation_settings_validated_stored_and_scheduled(
        hq: TestClient, admin: Api, analyst: Api) -> None:  # noqa: F811
    analytics = hq.app[keys.ANALYTICS]
    status, found = await analyst.get("/api/v1/automation/settings")
    assert status == 200 and set(found) == {"rfm", "reco_pairs", "birthday", "winback",
                                            "viewed_not_bought", "channel_months",
                                            "events_retention"}
    assert found["winback"] == {"schedule": "5 2 * * *", "template": "auto-winback",
                                "lapsed_days": 60, "overridden": []}
    assert found["rfm"] == {"schedule": "30 0 * * *", "overridden": []}
    put = "/api/v1/automation/{}/settings"
    assert (await analyst.call("PUT", put.format("winback"), {"lapsed_days": 30}))[0] == 403
    refusals = [
        ("nope", {"lapsed_days": 30}, 404, "unknown_job"),
        ("winback", {}, 422, "invalid_body"),
        ("winback", {"lapsed_days": 0}, 422, "invalid_body"),
        ("winback", {"lapsed_days": "30"}, 422, "invalid_body"),
        ("winback", {"window_h": 5}, 422, "invalid_body"),  # not a setting of winback
        ("rfm", {"template": "auto-x"}, 422, "invalid_body"),
        ("winback", {"schedule": "61 * * * *"}, 422, "invalid_body"),
        ("winback", {"schedule": "every 0s"}, 422, "invalid_body"),
        ("winback", {"schedule": "sometimes"}, 422, "invalid_body"),
        ("winback", {"template": "no such one"}, 422, "invalid_body"),
        ("winback", {"template": "missing"}, 422, "invalid_body"),  # HQ has no such template
        ("viewed_not_bought", {"window_h": 72, "lookback_days": 2}, 422, "invalid_body"),
        ("winback", {"lapsed_days": 30, "extra": 1}, 422, "invalid_body"),
    ]
    for job, body, want, code in refusals:
        status, err = await admin.call("PUT", put.format(job), body)
        assert (status, err["error"]) == (want, code), (job, body, err)
    assert (await analyst.get("/api/v1/automation/settings"))[1] == found  # nothing written
    status, malformed = await admin.call("PUT", put.format("winback"), None,
                                         headers={"Content-Type": "application/json"})
    assert status in (400, 422)
    jobs_before = {job.id for job in analytics.scheduler.get_jobs()}

    status, got = await admin.call("PUT", put.format("winback"),
                                   {"lapsed_days": 30, "schedule": "every 2h", "template": ""})
    assert status == 200 and got == {"job": "winback", "schedule": "every 2h", "template": "",
                                     "lapsed_days": 30,
                                     "overridden": ["lapsed_days", "schedule", "template"]}
    assert "interval" in str(analytics.scheduler.get_job("winback").trigger)
    status, got = await admin.call("PUT", put.format("rfm"), {"schedule": "off"})
    assert status == 200 and analytics.scheduler.get_job("rfm") is None
    assert {job.id for job in analytics.scheduler.get_jobs()} == jobs_before - {"rfm"}
    craft(hq)  # B's last order: 200 days ago
    status, run = await admin.post("/api/v1/automation/winback/run", {})
    assert [r["member"] for r in run["runs"]] == [B] and run["settings"]["lapsed_days"] == 30
    assert run["runs"][0]["outcome"] == "recorded"
    # null gives the field back to cloud.toml / the default
    status, got = await admin.call("PUT", put.format("winback"),
                                   {"schedule": None, "lapsed_days": None})
    assert (status, got["schedule"], got["lapsed_days"], got["overridden"]) == (
        200, "5 2 * * *", 60, ["template"])
    assert "cron" in str(analytics.scheduler.get_job("winback").trigger)
