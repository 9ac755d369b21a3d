"""Consent changed at a store's till reaches HQ through a real Mosquitto (SQLite and
PostgreSQL) with its time and source; HQ's automation skips the member from its next run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cloud.app import create_app as create_hq
from cloud.config import load_settings as hq_settings
from devtools.stack import Hq, edge_app, eventually, hq_login
from tests.conftest import login_as


async def test_consent_from_the_till_reaches_hq(system: Hq, tmp_path: Path,
                                                aiohttp_client: Any) -> None:
    hq: TestClient = await aiohttp_client(create_hq(hq_settings(system.dir)))
    admin = await hq_login(hq)
    edge = await edge_app(tmp_path, system, "s1", aiohttp_client)
    cashier = await login_as(edge, "cashier")

    async def created() -> dict[str, Any] | None:
        status, member = await cashier.post("/api/v1/members", {"phone": "13900002222", "name": "Wu"},
                                            headers={"Idempotency-Key": "consent-member-1"})
        return member if status in (200, 201) else None
    member = await eventually(created)
    path = f"/api/v1/members/{member['id']}/consents"
    for bad in ({}, {"marketing": "yes"}, {"ads": True}, {"marketing": 1}):
        status, body = await cashier.call("PUT", path, bad)
        assert status == 422, (bad, body)
    assert (await cashier.call("PUT", "/api/v1/members/01ARZ3NDEKTSV4RRFFQ69G5FAV/consents",
                               {"marketing": True}))[0] == 404
    status, sent = await cashier.call("PUT", path, {"marketing": True, "profiling": False})
    assert status == 202 and sent["source"] == "till"

    async def granted() -> dict[str, Any] | None:
        status, found = await admin.get(path)
        return found if status == 200 and found["consents"]["marketing"]["granted"] else None
    found = await eventually(granted)
    assert found["consents"]["marketing"]["source"] == "till"
    assert found["consents"]["profiling"]["granted"] is False
    assert [(h["purpose"], h["store"]) for h in found["history"]] == [("marketing", "s1")]

    assert (await cashier.call("PUT", path, {"marketing": False}))[0] == 202

    async def withdrawn() -> bool:
        _, found = await admin.get(path)
        return found["consents"]["marketing"]["granted"] is False
    await eventually(withdrawn)
    status, body = await admin.call("PUT", path, {"profiling": True})
    assert status == 200 and body["consents"]["profiling"]["source"] == "hq"
    await edge.close()
    await hq.close()
