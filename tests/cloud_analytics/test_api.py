"""The HQ analytics API on both backends: segments and a member's RFM, triggers run now
(hq_admin) and their runs, bundles and the reco.pairs push; bad input is 4xx; an analyst
only reads; the app's scheduler holds the analytics jobs and stops with the app."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from cloud import keys
from cloud.db import CloudDb
from tests.cloud_api.conftest import admin, analyst, db_url, hq, hq_dir  # noqa: F401
from tests.conftest import Api

from .conftest import Orders, add_member, recent, feed

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
        "rfm", "reco_pairs", "automation:birthday", "automation:winback",
        "automation:viewed_not_bought"}
    await hq.app[keys.ANALYTICS]._job("rfm")  # what the timer runs
    assert (await hq.app[keys.DB].call("segment_counts"))["computed_at"] is not None
