"""Reservations at the store: booking, the table chosen, bad input, moves, transitions,
seating, and two staff booking the last table at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from devtools.api import Api

from .conftest import booking, tomorrow


async def _book(api: Api, body: dict[str, Any], key: str) -> tuple[int, Any]:
    return await api.post("/api/v1/reservations", body, headers={"Idempotency-Key": key})


async def _day(api: Api, at: str) -> list[dict[str, Any]]:
    status, body = await api.get(f"/api/v1/reservations?day={at[:10]}")
    assert status == 200, body
    return list(body["reservations"])


async def test_the_smallest_free_table_that_seats_the_party(cashier: Api, store_dir: Path
                                                          ) -> None:
    at = tomorrow(store_dir)
    tables = []
    for n in range(5):
        status, r = await _book(cashier, booking(at, 2), f"book-two-{n:04d}")
        assert status == 201, r
        assert r["status"] == "booked" and r["duration_min"] == 90 and r["at"] == at
        assert len(r["code"]) == 6
        tables.append(r["table"])
    assert tables == ["T2a", "T2b", "T4", "T6", "R10"]
    status, body = await _book(cashier, booking(at, 2), "book-two-0005")
    assert status == 409 and body["error"] == "no_table"
    # at 90 minutes the first window has ended: the table is free again
    later = at[:11] + "20:30"
    status, r = await _book(cashier, booking(later, 2), "book-later-0001")
    assert status == 201 and r["table"] == "T2a"
    # one minute earlier overlaps every table's hold by one minute
    status, r = await _book(cashier, booking(at[:11] + "20:29", 2), "book-later-0002")
    assert status == 409 and r["error"] == "no_table"
    assert len(await _day(cashier, at)) == 6


async def test_idempotent_and_the_same_key_with_another_body(cashier: Api, store_dir: Path
                                                             ) -> None:
    at = tomorrow(store_dir)
    status, first = await _book(cashier, booking(at, 4), "same-key-0001")
    status2, again = await _book(cashier, booking(at, 4), "same-key-0001")
    assert (status, status2) == (201, 200) and again["id"] == first["id"]
    status, body = await _book(cashier, booking(at, 3), "same-key-0001")
    assert status == 422 and body["error"] == "idempotency_key_reused"
    status, body = await cashier.post("/api/v1/reservations", booking(at, 4))
    assert status == 422 and body["error"] == "idempotency_key_required"
    assert len(await _day(cashier, at)) == 1


async def test_bad_input_is_refused_and_nothing_is_written(cashier: Api, store_dir: Path
                                                           ) -> None:
    at = tomorrow(store_dir)
    cases: list[tuple[dict[str, Any], int, str]] = [
        (booking(tomorrow(store_dir, days=-1)), 422, "in_the_past"),
        (booking(tomorrow(store_dir, days=400)), 422, "too_far_ahead"),
        (booking(at, 0), 422, "invalid_body"),
        (booking(at, 500), 422, "invalid_body"),
        (booking(at, 2.0), 422, "invalid_body"),
        (booking(at, 2, table="NOPE"), 404, "unknown_table"),
        (booking(at, 6, table="T2a"), 422, "table_too_small"),
        (booking(at, phone="12345"), 422, "invalid_phone"),
        (booking(at, phone="１３８００１３８０００"), 422, "invalid_phone"),
        (booking(at[:11] + "25:00"), 422, "invalid_time"),
        (booking(at[:8] + "31T19:00" if at[5:7] in ("02", "04", "06", "09", "11")
                 else at[:5] + "02-30T19:00"), 422, "invalid_time"),
        (booking("tomorrow 7pm"), 422, "invalid_body"),
        (booking(at, source="fax"), 422, "invalid_body"),
        (booking(at, duration_min=5), 422, "invalid_body"),
        ({**booking(at), "extra": 1}, 422, "invalid_body"),
    ]
    for n, (body, code, error) in enumerate(cases):
        status, answer = await _book(cashier, body, f"bad-input-{n:04d}")
        assert (status, answer["error"]) == (code, error), (body, answer)
    resp = await cashier.client.post("/api/v1/reservations", data=b'{"party": 2, "at": "\\ud800"}',
                                     headers={"Authorization": f"Bearer {cashier.token}",
                                              "Idempotency-Key": "bad-json-01",
                                              "Content-Type": "application/json"})
    assert resp.status == 400
    assert await _day(cashier, at) == []
    assert (await cashier.get("/api/v1/reservations?day=2026-13-45"))[0] == 400


async def test_two_staff_booking_the_last_table_at_once(cashier: Api, manager: Api,
                                                        store_dir: Path) -> None:
    at = tomorrow(store_dir)
    for n, table in enumerate(("T2a", "T2b", "T4", "T6")):
        assert (await _book(cashier, booking(at, 2, table=table), f"fill-{n:04d}"))[0] == 201
    answers = await asyncio.gather(*(
        _book(cashier if n % 2 else manager, booking(at, 8), f"race-{n:04d}")
        for n in range(12)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * 11, answers
    assert {body["error"] for status, body in answers if status == 409} == {"no_table"}
    assert len(await _day(cashier, at)) == 5


async def test_moves_never_overlap(cashier: Api, store_dir: Path) -> None:
    at = tomorrow(store_dir)
    _, a = await _book(cashier, booking(at, 2, table="T2a"), "move-a-0001")
    _, b = await _book(cashier, booking(at[:11] + "21:00", 2, table="T2b"), "move-b-0001")
    status, body = await cashier.post(f"/api/v1/reservations/{b['id']}/move",
                                      {"table": "T2a", "at": at[:11] + "20:00"})
    assert status == 409 and body["error"] == "no_table"
    _, unchanged = await cashier.get(f"/api/v1/reservations/{b['id']}")
    assert (unchanged["table"], unchanged["at"]) == ("T2b", at[:11] + "21:00")
    status, moved = await cashier.post(f"/api/v1/reservations/{b['id']}/move",
                                       {"table": "T2a", "at": at[:11] + "20:30"})
    assert status == 200 and moved["table"] == "T2a" and moved["id"] == b["id"]
    status, moved = await cashier.post(f"/api/v1/reservations/{a['id']}/move", {"party": 5})
    assert status == 200 and moved["table"] == "T6" and moved["duration_min"] == 120
    assert (await cashier.post(f"/api/v1/reservations/{a['id']}/move", {}))[0] == 422
    assert (await cashier.post("/api/v1/reservations/01ARZ3NDEKTSV4RRFFQ69G5FAV/move",
                               {"party": 2}))[0] == 404


async def test_transitions_seat_and_free_tables(cashier: Api, store_dir: Path) -> None:
    now_ish = tomorrow(store_dir, days=0, hhmm="23:59")
    at = tomorrow(store_dir)
    _, r = await _book(cashier, booking(at, 4), "seat-me-0001")
    assert r["table"] == "T4"
    status, body = await cashier.post(f"/api/v1/reservations/{r['id']}/transitions",
                                      {"to": "completed"})
    assert status == 422
    assert (await cashier.post(f"/api/v1/reservations/{r['id']}/transitions",
                               {"to": "arrived"}))[0] == 200
    status, seated = await cashier.post(f"/api/v1/reservations/{r['id']}/transitions",
                                        {"to": "seated"})
    assert status == 200 and seated["status"] == "seated" and seated["session"]
    _, tables = await cashier.get("/api/v1/tables")
    t4 = next(t for t in tables if t["id"] == "T4")
    assert t4["session"]["id"] == seated["session"] and t4["session"]["guests"] == 4
    status, body = await cashier.post(f"/api/v1/reservations/{r['id']}/transitions",
                                      {"to": "no_show"})
    assert status == 409 and body["error"] == "invalid_transition"
    status, closed = await cashier.post("/api/v1/tables/T4/close", {})
    assert status == 200
    _, done = await cashier.get(f"/api/v1/reservations/{r['id']}")
    assert done["status"] == "completed"
    # a cancelled booking frees its table
    _, c = await _book(cashier, booking(now_ish, 6), "cancel-me-0001")
    assert c["table"] == "T6"
    assert (await cashier.post(f"/api/v1/reservations/{c['id']}/transitions",
                               {"to": "cancelled"}))[0] == 200
    _, again = await _book(cashier, booking(now_ish, 6), "cancel-me-0002")
    assert again["table"] == "T6"
    # seating at a busy table: nothing changes
    await cashier.post("/api/v1/tables/R10/open", {"guests": 2})
    _, d = await _book(cashier, booking(at, 2, table="T2a"), "busy-0001")
    status, body = await cashier.post(f"/api/v1/reservations/{d['id']}/transitions",
                                      {"to": "seated", "table": "R10"})
    assert status == 409 and body["error"] == "table_busy"
    _, still = await cashier.get(f"/api/v1/reservations/{d['id']}")
    assert (still["status"], still["table"]) == ("booked", "T2a")


async def test_availability(cashier: Api, store_dir: Path) -> None:
    at = tomorrow(store_dir)
    await _book(cashier, booking(at, 2), "avail-0001")
    status, body = await cashier.get(f"/api/v1/reservations/availability?at={at}&party=2")
    assert status == 200 and [t["id"] for t in body["tables"]] == ["T2b", "T4", "T6", "R10"]
    assert (await cashier.get(f"/api/v1/reservations/availability?at={at}&party=٣"))[0] == 400
    assert (await cashier.get("/api/v1/reservations/availability?at=x&party=2"))[0] == 422


async def test_kitchen_may_read_but_not_book(kitchen: Api, store_dir: Path) -> None:
    assert (await _book(kitchen, booking(tomorrow(store_dir)), "kitchen-0001"))[0] == 403
    assert (await kitchen.get("/api/v1/reservations"))[0] == 200
