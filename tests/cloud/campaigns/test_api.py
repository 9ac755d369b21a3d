"""The campaign routes of the HQ API on both backends: bad bodies are 4xx, never 500; the
tracked link and its QR; the public visit route (404 unknown, 409 not running, 422 bad
body, 429 after a flood from one address); the report; an analyst only reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from cloud.campaigns.routes import PER_ADDRESS_PER_MIN
from tests.cloud.api.conftest import admin, analyst, db_url, hq, hq_dir  # noqa: F401
from devtools.api import Api

from .conftest import BODY

TODAY = datetime.now(UTC).date()
RUNNING = {**BODY, "starts": str(TODAY - timedelta(days=2)),
           "ends": str(TODAY + timedelta(days=2))}


async def _public(client: TestClient, body: Any) -> tuple[int, Any, Any]:
    resp = await client.post("/api/v1/track/visit", json=body)
    return resp.status, await resp.json(), resp.headers


async def test_put_validates_everything(admin: Api, analyst: Api) -> None:  # noqa: F811
    bad: list[tuple[dict[str, Any], str]] = [
        ({"starts": "2026-02-30"}, "invalid_date"),
        ({"starts": "2026-6-1"}, "invalid_body"),
        ({"starts": "2026-07-01"}, "ends_before_starts"),  # ends 2026-06-30
        ({"cost_cents": -1}, "invalid_body"),
        ({"cost_cents": 100.0}, "invalid_body"),
        ({"cost_cents": 99.5}, "invalid_body"),
        ({"cost_cents": "100"}, "invalid_body"),
        ({"window_days": 0}, "invalid_body"),
        ({"window_days": 91}, "invalid_body"),
        ({"window_days": 1000}, "invalid_body"),
        ({"source": "tiktok"}, "invalid_body"),
        ({"name": ""}, "invalid_body"),
        ({"timezone": "Mars/Olympus"}, "unknown_timezone"),
        ({"landing": "javascript:alert(1)"}, "invalid_body"),
        ({"extra": 1}, "invalid_body"),
    ]
    for change, error in bad:
        status, body = await admin.call("PUT", "/api/v1/campaigns/spring", {**BODY, **change})
        assert (status, body["error"]) == (422, error), (change, body)
    for cid in ("Spring", "-x", "a" * 49, "cross-store"):
        status, body = await admin.call("PUT", f"/api/v1/campaigns/{cid}", BODY)
        assert (status, body["error"]) == (422, "invalid_id"), cid
    resp = await admin.client.put("/api/v1/campaigns/spring", data=b"{not json",
                                  headers={"Authorization": f"Bearer {admin.token}"})
    assert resp.status == 400
    assert (await analyst.call("PUT", "/api/v1/campaigns/spring", BODY))[0] == 403
    status, _ = await admin.get("/api/v1/campaigns")
    assert status == 200 and (await admin.get("/api/v1/campaigns"))[1]["campaigns"] == []


async def test_campaign_link_qr_and_list(admin: Api, analyst: Api) -> None:  # noqa: F811
    body = {**BODY, "source": "partner", "window_days": 1, "cost_cents": 0,
            "landing": "https://example.com/menu?from=canteen"}
    status, made = await admin.call("PUT", "/api/v1/campaigns/canteen-x", body)
    assert status == 200, made
    assert made["link"].endswith("/visit?c=canteen-x") and made["link"].startswith("http")
    assert (made["starts_at"], made["ends_at"]) == ("2026-05-31T16:00:00.000Z",
                                                    "2026-06-30T16:00:00.000Z")
    status, again = await admin.call("PUT", "/api/v1/campaigns/canteen-x",
                                     {**body, "cost_cents": 900})
    assert status == 200 and again["cost_cents"] == 900
    assert again["created_at"] == made["created_at"]
    status, listed = await analyst.get("/api/v1/campaigns")
    assert [c["id"] for c in listed["campaigns"]] == ["canteen-x"]
    assert listed["sources"]["partner"]["en"] and "douyin" in listed["sources"]
    resp = await admin.client.get(made["qr"], headers={"Authorization": f"Bearer {admin.token}"})
    png = await resp.read()
    assert resp.status == 200 and resp.content_type == "image/png"
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 200
    assert (await analyst.get("/api/v1/campaigns/nope/qr.png"))[0] == 404
    assert (await analyst.get("/api/v1/campaigns/canteen-x"))[1]["source"] == "partner"
    assert (await admin.client.get(made["qr"])).status == 401  # the QR needs a login
    page = await admin.client.get("/visit?c=canteen-x")
    assert page.status == 200 and "track/visit" in await page.text()


async def test_track_visit_and_report(admin: Api, hq: TestClient) -> None:  # noqa: F811
    assert (await admin.call("PUT", "/api/v1/campaigns/live", RUNNING))[0] == 200
    past = {**BODY, "starts": "2020-01-01", "ends": "2020-01-31"}
    assert (await admin.call("PUT", "/api/v1/campaigns/old", past))[0] == 200
    status, body, _ = await _public(hq, {"campaign": "live", "visitor": "v" * 24})
    assert status == 202 and body["status"] == "recorded" and body["name"] == BODY["name"]
    status, body, _ = await _public(hq, {"campaign": "live", "member": "01JNOBODY"})
    assert status == 202  # an unknown member: recorded anonymously, nothing told
    for wrong, code, error in [
            ({"campaign": "nope", "visitor": "v" * 24}, 404, "unknown_campaign"),
            ({"campaign": "old", "visitor": "v" * 24}, 409, "campaign_not_running"),
            ({"campaign": "live"}, 422, "invalid_body"),
            ({"campaign": "live", "visitor": "short"}, 422, "invalid_body"),
            ({"campaign": "live", "visitor": "v" * 24, "at": "2020"}, 422, "invalid_body"),
            ({"campaign": "Live!", "visitor": "v" * 24}, 422, "invalid_body")]:
        status, body, _ = await _public(hq, wrong)
        assert (status, body["error"]) == (code, error), wrong
    status, doc = await admin.get("/api/v1/reports/campaigns/live")
    assert status == 200
    assert (doc["visits"], doc["visitors"], doc["members"], doc["orders"]) == (2, 1, 0, 0)
    assert (doc["cost_cents"], doc["roi"]) == (50_000, -1.0)
    assert doc["by_store"] == {} and doc["by_channel"] == {}
    day = str(TODAY)
    assert (await admin.get(f"/api/v1/reports/campaigns/live?from={day}&to={day}"))[0] == 200
    for query in ("?from=2026-13-01&to=2026-01-01", "?from=2026-02-01&to=2026-01-01",
                  "?from=2026-01-01"):
        assert (await admin.get(f"/api/v1/reports/campaigns/live{query}"))[0] == 400, query
    assert (await admin.get("/api/v1/reports/campaigns/nope"))[0] == 404
    assert (await admin.get("/api/v1/reports/campaigns/NOPE"))[0] == 404


async def test_a_visit_flood_from_one_address_is_slowed(admin: Api,  # noqa: F811
                                                        hq: TestClient) -> None:  # noqa: F811
    assert (await admin.call("PUT", "/api/v1/campaigns/live", RUNNING))[0] == 200
    for n in range(PER_ADDRESS_PER_MIN):
        status, _, _ = await _public(hq, {"campaign": "live", "visitor": f"{n:020d}"})
        assert status == 202, n
    status, body, headers = await _public(hq, {"campaign": "live", "visitor": "x" * 20})
    assert (status, body["error"]) == (429, "slow_down")
    assert int(headers["Retry-After"]) >= 1
    status, doc = await admin.get("/api/v1/reports/campaigns/live")
    assert doc["visits"] == PER_ADDRESS_PER_MIN  # the refused one was not recorded
