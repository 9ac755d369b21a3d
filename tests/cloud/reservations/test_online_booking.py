"""Online bookings through HQ against a real Mosquitto and HQ (SQLite and PostgreSQL): HQ
confirms within the capacity the store leased while the store is cut off, the store decides
beyond it, both sides booking the same slot during the partition never double-book, a lease
comes back only when HQ answers, and the stores' bookings and waits reach HQ's report."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cloud.app import create_app as create_hq
from cloud.broker import provision
from cloud.config import load_settings as hq_settings
from common.clock import utc_now
from devtools.chaos import ChaosProxy
from devtools.stack import Hq, edge_app, eventually, hq_login
from edge.app import create_app as create_edge
from edge.config import load_settings
from edge.syncer.restore import restore_from_hq
from tests.conftest import Api, login_as

TABLES = (("T2a", 2), ("T2b", 2), ("T4", 4))


async def _call(admin: Api, method: str, path: str, body: Any = None,
                key: str | None = None) -> tuple[int, Any]:
    return await admin.call(method, path, body, {"Idempotency-Key": key} if key else None)


def _guest(at: str, party: int = 2, **extra: Any) -> dict[str, Any]:
    return {"name": "周", "phone": "13700137000", "party": party, "at": at,
            "source": "mini_program", **extra}


async def _holds(manager: Api, day: str) -> list[tuple[str, str]]:
    """(table, status) of every booking that holds a table that day."""
    _, found = await manager.get(f"/api/v1/reservations?day={day}")
    return sorted((r["table"], r["status"]) for r in found["reservations"]
                  if r["status"] in ("booked", "arrived", "seated"))


async def test_hq_confirms_offline_within_the_lease_and_never_double_books(
        system: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    with ChaosProxy(system.broker_port) as proxy:
        hq: TestClient = await aiohttp_client(create_hq(hq_settings(system.dir)))
        admin = await hq_login(hq)
        edge = await edge_app(tmp_path, system, "s1", aiohttp_client, broker_url=proxy.url)
        manager = await login_as(edge, "manager")
        for table, seats in TABLES:
            assert (await manager.post("/api/v1/tables", {"id": table, "name": table,
                                                          "seats": seats}))[0] == 201
        tz = load_settings(tmp_path / "s1").timezone
        day = (utc_now().astimezone(tz) + timedelta(days=1)).date().isoformat()
        at = f"{day}T19:00"
        base = "/api/v1/stores/s1/reservations"

        # the store leases HQ one table of 2 at 19:00; HQ learns it from the store's event
        status, lease = await manager.post("/api/v1/reservation-leases",
                                           {"at": at, "party": 2, "tables": 1})
        assert status == 201 and lease["slots"][0]["table"] == "T2a"

        async def slot_known() -> bool:
            _, found = await admin.get(f"{base}?day={day}")
            return any(s["status"] == "open" for s in found["slots"])
        await eventually(slot_known)

        # the store is cut off; the mini-program books: one confirmed at once from the lease,
        # the next one pending; meanwhile the store's own staff book the two other tables
        proxy.refuse = True
        proxy.cut()
        status, confirmed = await _call(admin, "POST", base, _guest(at), "mini-0001")
        assert status == 201 and confirmed["status"] == "confirmed", confirmed
        assert confirmed["table"] == "T2a"
        status, again = await _call(admin, "POST", base, _guest(at), "mini-0001")
        assert status == 200 and again["id"] == confirmed["id"]
        status, body = await _call(admin, "POST", base, _guest(at, 3), "mini-0001")
        assert status == 422 and body["error"] == "idempotency_key_reused"
        status, pending = await _call(admin, "POST", base, _guest(at), "mini-0002")
        assert status == 202 and pending["status"] == "pending"
        for n in range(3):
            status, own = await manager.post("/api/v1/reservations", {
                "name": "店内", "party": 2, "at": at, "source": "phone"},
                headers={"Idempotency-Key": f"store-own-{n:04d}"})
            assert (status, own.get("table")) == ((201, "T2b"), (201, "T4"), (409, None))[n]
        assert (await _call(admin, "POST", base, _guest(at, 0), "mini-0003"))[0] == 422
        past = f"{(utc_now().astimezone(tz) - timedelta(days=1)).date()}T19:00"
        assert (await _call(admin, "POST", base, _guest(past), "mini-0004"))[1][
            "error"] == "in_the_past"

        # they meet: HQ's confirmed booking holds T2a at the store; the pending one finds no
        # table and is rejected; no table is held twice
        proxy.refuse = False

        async def decided() -> dict[str, Any] | None:
            _, found = await _call(admin, "GET", f"{base}/{pending['id']}")
            return found if found["status"] != "pending" else None
        assert (await eventually(decided))["status"] == "rejected"

        async def arrived() -> list[tuple[str, str]] | None:
            holds = await _holds(manager, day)
            return holds if len(holds) == 3 else None
        assert await eventually(arrived) == [("T2a", "booked"), ("T2b", "booked"),
                                             ("T4", "booked")]
        _, found = await _call(admin, "GET", f"{base}/{confirmed['id']}")
        assert found["status"] == "confirmed" and found["table"] == "T2a"

        # the guest cancels through HQ: the store frees T2a, and books it itself
        status, cancelled = await _call(admin, "POST", f"{base}/{confirmed['id']}/cancel")
        assert status == 200 and cancelled["status"] == "cancelled"

        async def freed() -> bool:
            return ("T2a", "booked") not in await _holds(manager, day)
        await eventually(freed)

        # a second lease, given back: the table is the store's again once HQ answered
        status, lease2 = await manager.post("/api/v1/reservation-leases",
                                            {"at": f"{day}T12:00", "party": 4, "tables": 1})
        assert status == 201
        await manager.post(f"/api/v1/reservation-leases/{lease2['lease']}/return", {})

        async def released() -> bool:
            status, _ = await manager.post("/api/v1/reservations", {
                "party": 4, "at": f"{day}T12:00", "table": "T4"},
                headers={"Idempotency-Key": "after-release-01"})
            return status == 201
        await eventually(released)

        # HQ's report: bookings of the day, by source
        async def reported() -> dict[str, Any] | None:
            _, doc = await admin.get(f"/api/v1/reports/reservations?from={day}&to={day}")
            rows = [r for r in doc["bookings"] if r["store"] == "s1"]
            return doc if rows and rows[0]["bookings"] >= 5 else None
        doc = await eventually(reported)
        assert doc["bookings"][0]["rejected"] == 1 and doc["bookings"][0]["cancelled"] == 1
        await edge.close()
        await hq.close()


async def test_a_replacement_box_holds_every_booking_and_lease(
        system: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    hq: TestClient = await aiohttp_client(create_hq(hq_settings(system.dir)))
    admin = await hq_login(hq)
    old = await edge_app(tmp_path, system, "s1", aiohttp_client)
    manager = await login_as(old, "manager")
    for table, seats in TABLES:
        await manager.post("/api/v1/tables", {"id": table, "name": table, "seats": seats})
    tz = load_settings(tmp_path / "s1").timezone
    day = (utc_now().astimezone(tz) + timedelta(days=1)).date().isoformat()
    at = f"{day}T19:00"
    _, own = await manager.post("/api/v1/reservations", {"name": "店内", "party": 4, "at": at},
                                headers={"Idempotency-Key": "store-own-0001"})
    _, lease = await manager.post("/api/v1/reservation-leases",
                                  {"at": at, "party": 2, "tables": 2})
    base = "/api/v1/stores/s1/reservations"

    async def slots_known() -> bool:
        _, found = await admin.get(f"{base}?day={day}")
        return len(found["slots"]) == 2 and len(found["reservations"]) == 1
    await eventually(slots_known)
    status, confirmed = await _call(admin, "POST", base, _guest(at), "mini-restore-1")
    assert status == 201

    async def held() -> bool:
        _, found = await manager.get(f"/api/v1/reservations?day={day}")
        return any(r.get("hq_id") == confirmed["id"] for r in found["reservations"])
    await eventually(held)

    async def code_known() -> bool:  # the store's events are applied at HQ (the code too)
        _, found = await admin.get(f"{base}?day={day}")
        return sum(1 for r in found["reservations"] if r["table"]) == 2
    await eventually(code_known)
    await old.close()

    creds = await asyncio.to_thread(provision.replace_store, system.dir, "s1")
    new_dir = tmp_path / "new-box"
    await restore_from_hq(new_dir, system.broker_url, creds["username"], creds["password"])
    new: TestClient = await aiohttp_client(create_edge(load_settings(new_dir)))
    new_manager = await login_as(new, "manager")
    _, found = await new_manager.get(f"/api/v1/reservations?day={day}")
    kept = {(r["table"], r["status"], r.get("hq_id")) for r in found["reservations"]}
    assert kept == {("T4", "booked", None), ("T2a", "booked", confirmed["id"])}
    assert [r["code"] for r in found["reservations"] if r["table"] == "T4"] == [own["code"]]
    assert [s["table"] for lease_ in found["leases"] for s in lease_["slots"]
            if s["status"] == "leased"] == ["T2b"]
    # every table is held at 19:00: the new box books none of them twice
    status, body = await new_manager.post("/api/v1/reservations", {"party": 2, "at": at},
                                          headers={"Idempotency-Key": "after-restore-1"})
    assert status == 409 and body["error"] == "no_table"
    await new.close()
    await hq.close()
