"""Booking capacity leased to HQ: held from the store's own bookings, turned into HQ's
bookings by the change feed (applied once), given back only when HQ answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from common.ids import new_ulid
from edge import keys
from edge.syncer.sql import apply_down

from devtools.api import Api

from .conftest import booking, tomorrow


async def _down(client: TestClient, cursor: int, *changes: tuple[str, dict[str, Any]]
                ) -> dict[str, Any]:
    app = client.app
    message = {"cursor": cursor + len(changes) - 1, "changes": [
        {"cursor": cursor + n, "type": kind, "data": data}
        for n, (kind, data) in enumerate(changes)]}
    result: dict[str, Any] = await app[keys.DB].write(apply_down, message,
                                                      app[keys.SETTINGS].timezone)
    return result


async def _events(client: TestClient, *types: str) -> list[dict[str, Any]]:
    rows = await client.app[keys.DB].read(
        lambda conn: conn.execute("SELECT type, data FROM outbox ORDER BY seq").fetchall())
    return [{"type": r[0], **json.loads(r[1])} for r in rows if r[0] in types]


async def test_a_lease_is_held_used_by_hq_and_given_back(client: TestClient, manager: Api,
                                                         cashier: Api, store_dir: Path) -> None:
    at = tomorrow(store_dir)
    status, lease = await manager.post("/api/v1/reservation-leases",
                                       {"at": at, "party": 2, "tables": 2})
    assert status == 201, lease
    assert [s["table"] for s in lease["slots"]] == ["T2a", "T2b"]
    assert (await cashier.post("/api/v1/reservation-leases",
                               {"at": at, "party": 2, "tables": 1}))[0] == 403
    # the store's own party of 2 cannot take the leased tables: it gets the 4
    status, own = await cashier.post("/api/v1/reservations", booking(at, 2),
                                     headers={"Idempotency-Key": "own-booking-01"})
    assert status == 201 and own["table"] == "T4"
    [leased] = await _events(client, "booking.lease")
    assert leased["lease"] == lease["lease"] and len(leased["slots"]) == 2

    # HQ confirmed a guest on the first slot while the store was offline; the change
    # arrives twice (a replay): one booking
    hq_id = new_ulid()
    confirmed = {"id": hq_id, "slot": lease["slots"][0]["id"], "name": "李女士",
                 "phone": "13900139000", "party": 2, "at": at, "duration_min": 90,
                 "source": "mini_program"}
    await _down(client, 1, ("reservation.confirmed", confirmed))
    await _down(client, 1, ("reservation.confirmed", confirmed))
    _, day = await cashier.get(f"/api/v1/reservations?day={at[:10]}")
    hq = [r for r in day["reservations"] if r.get("hq_id") == hq_id]
    assert len(hq) == 1 and hq[0]["table"] == "T2a" and hq[0]["status"] == "booked"
    assert [e["hq_id"] for e in await _events(client, "reservation.booked")
            if e["hq_id"]] == [hq_id]

    # the store asks for the lease back: the unused slot stays held until HQ answers
    status, asked = await manager.post(f"/api/v1/reservation-leases/{lease['lease']}/return",
                                       {})
    assert status == 202 and asked["status"] == "returning"
    status, body = await cashier.post("/api/v1/reservations", booking(at, 2, table="T2b"),
                                      headers={"Idempotency-Key": "own-booking-02"})
    assert status == 409 and body["error"] == "no_table"
    await _down(client, 2, ("booking.lease_released",
                            {"lease": lease["lease"], "slots": [lease["slots"][1]["id"]]}))
    status, mine = await cashier.post("/api/v1/reservations", booking(at, 2, table="T2b"),
                                      headers={"Idempotency-Key": "own-booking-02"})
    assert status == 201 and mine["table"] == "T2b"
    assert (await manager.post("/api/v1/reservation-leases/01ARZ3NDEKTSV4RRFFQ69G5FAV/return",
                               {}))[0] == 404


async def test_a_lease_is_all_or_nothing(client: TestClient, manager: Api, store_dir: Path
                                         ) -> None:
    at = tomorrow(store_dir)
    status, body = await manager.post("/api/v1/reservation-leases",
                                      {"at": at, "party": 6, "tables": 3})
    assert status == 409 and body["error"] == "no_table"
    assert await _events(client, "booking.lease") == []
    _, day = await manager.get(f"/api/v1/reservations?day={at[:10]}")
    assert day["leases"] == []


async def test_hq_requests_beyond_its_lease_are_decided_by_the_store(
        client: TestClient, cashier: Api, store_dir: Path) -> None:
    at = tomorrow(store_dir)
    for n, table in enumerate(("T2a", "T2b", "T4", "T6")):
        await cashier.post("/api/v1/reservations", booking(at, 2, table=table),
                           headers={"Idempotency-Key": f"fill-table-{n}"})
    fits, too_big, past = new_ulid(), new_ulid(), new_ulid()
    await _down(client, 1,
                ("reservation.request", {"id": fits, "party": 8, "at": at, "name": "赵",
                                         "source": "mini_program"}),
                ("reservation.request", {"id": too_big, "party": 8, "at": at,
                                         "source": "mini_program"}),
                ("reservation.request", {"id": past, "party": 2,
                                         "at": tomorrow(store_dir, days=-2),
                                         "source": "mini_program"}))
    booked = [e for e in await _events(client, "reservation.booked") if e["hq_id"]]
    assert [(e["hq_id"], e["table"]) for e in booked] == [(fits, "R10")]
    rejected = await _events(client, "reservation.rejected")
    assert [(e["hq_id"], e["reason"]) for e in rejected] == [(too_big, "no_table"),
                                                              (past, "in_the_past")]
    # the guest cancels through HQ: the room is free again
    await _down(client, 4, ("reservation.cancel", {"id": fits}))
    status, again = await cashier.post("/api/v1/reservations", booking(at, 8),
                                       headers={"Idempotency-Key": "after-cancel-1"})
    assert status == 201 and again["table"] == "R10"
