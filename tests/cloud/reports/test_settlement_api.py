"""GET /api/v1/settlements/{month} on both backends: JSON, CSV and the printable page, an
analyst may read it, bad months and stores are refused."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from cloud import keys
from tests.conftest import Api

from .conftest import Orders


async def test_statement_formats(hq: TestClient, analyst: Api) -> None:  # noqa: F811
    orders = Orders(hq.server.app[keys.DB].db)
    orders.add("s1", "2026-10-05", 1000, "m1")
    orders.add("s2", "2026-10-05", 400, "m1")
    status, doc = await analyst.get("/api/v1/settlements/2026-10?a=s1&b=s2")
    assert status == 200, doc
    assert doc["shared_visitors"]["total"] == 1 and doc["tier"]["rate_bp"] == 1500
    assert doc["revenue_share_cents"] == {"s1_owes_s2": 150, "s2_owes_s1": 60}
    assert doc["net"] == {"payer": "s1", "payee": "s2", "amount_cents": 90}
    headers = {"Authorization": f"Bearer {analyst.token}"}
    resp = await hq.get("/api/v1/settlements/2026-10?a=s1&b=s2&format=csv", headers=headers)
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "net,amount_cents,90" in await resp.text()
    resp = await hq.get("/api/v1/settlements/2026-10?a=s1&b=s2&format=html", headers=headers)
    assert resp.status == 200 and resp.content_type == "text/html"
    assert "s1 pays s2 0.81" in await resp.text()  # 0.90 less a 10 % reserve of 0.09


async def test_bad_requests(hq: TestClient, admin: Api) -> None:  # noqa: F811
    cases: list[tuple[str, int, Any]] = [
        ("/api/v1/settlements/2026-13?a=s1&b=s2", 400, "bad_month"),
        ("/api/v1/settlements/2026-10?a=s1&b=s1", 400, "bad_query"),
        ("/api/v1/settlements/2026-10", 400, "bad_query"),  # no partners configured
        ("/api/v1/settlements/2026-10?a=s1&b=s2&format=pdf", 400, "bad_query"),
        ("/api/v1/settlements/2026-10?a=s1&b=nope", 404, "unknown_store")]
    for path, status, error in cases:
        got, body = await admin.get(path)
        assert (got, body["error"]) == (status, error), (path, body)
