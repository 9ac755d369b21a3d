"""Staff's waitlist over the LAN API: issue, estimates from measured turn times, call / seat /
skip / cancel, seating opens the table, statistics of the estimate's error, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from devtools.api import Api
from edge import keys

from .conftest import outbox

TICKET_KEYS = {"id", "ticket", "queue", "ahead", "wait_min", "token", "party", "status",
               "issued_at"}


async def _issue(api: Api, party: int, **extra: Any) -> dict[str, Any]:
    status, ticket = await api.post("/api/v1/waitlist", {"party": party, **extra})
    assert status == 201, ticket
    return dict(ticket)


async def _move(api: Api, ticket: dict[str, Any], to: str, **extra: Any) -> tuple[int, Any]:
    return await api.post(f"/api/v1/waitlist/{ticket['id']}/transitions", {"to": to, **extra})


async def _count(client: TestClient) -> int:
    return int(await client.app[keys.DB].read(
        lambda conn: conn.execute("SELECT COUNT(*) FROM waitlist").fetchone()[0]))


async def test_tickets_by_queue_and_estimates_from_measured_turns(cashier: Api) -> None:
    first = await _issue(cashier, 2)
    assert set(first) == TICKET_KEYS
    assert (first["ticket"], first["queue"], first["ahead"], first["wait_min"]) == (
        "A001", "A", 0, 0)  # A1 and A2 are free: seated at once
    for table in ("A1", "A2"):
        assert (await cashier.post(f"/api/v1/tables/{table}/open", {"guests": 2}))[0] == 201
    # queue A: 2 fitting tables (A1, A2), both busy, measured turn 30 min (median of six)
    waits = [(t["ticket"], t["ahead"], t["wait_min"]) for t in
             [await _issue(cashier, n) for n in (1, 2, 2)]]
    assert waits == [("A002", 1, 30), ("A003", 2, 60), ("A004", 3, 60)]
    b = await _issue(cashier, 4)  # queue B: only A1 fits and is busy; 3 seatings: default 60
    assert (b["ticket"], b["ahead"], b["wait_min"]) == ("B001", 0, 60)
    c = await _issue(cashier, 7)  # queue C: R1 is free
    assert (c["ticket"], c["wait_min"]) == ("C001", 0)
    status, listing = await cashier.get("/api/v1/waitlist")
    assert status == 200
    queues = {q["queue"]: q for q in listing["queues"]}
    assert [t["ticket"] for t in queues["A"]["waiting"]] == ["A001", "A002", "A003", "A004"]
    assert [t["ahead"] for t in queues["A"]["waiting"]] == [0, 1, 2, 3]
    assert (queues["A"]["turn_min"], queues["B"]["turn_min"], queues["C"]["turn_min"]) == (
        30, 60, 90)


async def test_call_seat_skip_cancel_and_the_events(client: TestClient, cashier: Api) -> None:
    a1, a2, a3 = [await _issue(cashier, 2) for _ in range(3)]
    status, called = await _move(cashier, a1, "called")
    assert status == 200 and called["status"] == "called" and called["calls"] == 1
    status, again = await _move(cashier, a1, "called")
    assert status == 200 and again["calls"] == 2
    status, seated = await _move(cashier, a1, "seated", table="A2")
    assert status == 200 and seated["table_id"] == "A2" and seated["session"]
    assert (await _move(cashier, a2, "skipped"))[0] == 200
    assert (await _move(cashier, a3, "cancelled"))[0] == 200
    status, listing = await cashier.get("/api/v1/waitlist")
    assert all(not q["waiting"] and not q["called"] for q in listing["queues"])
    assert [t["ticket"] for t in listing["recent"]] == ["A001"]
    events = await outbox(client)
    issued = [e["data"] for e in events if e["type"] == "waitlist.issued"]
    assert set(issued[0]) == {"id", "ticket", "queue", "party", "day", "issued_at", "wait_min",
                              "source"} and issued[0]["source"] == "staff"
    changes = [e["data"] for e in events if e["type"] == "waitlist.changed"]
    assert [(c["ticket"], c["from"], c["to"]) for c in changes] == [
        ("A001", "waiting", "called"), ("A001", "called", "called"),
        ("A001", "called", "seated"), ("A002", "waiting", "skipped"),
        ("A003", "waiting", "cancelled")]
    assert "waited_s" in changes[0] and "waited_s" not in changes[3]
    assert changes[2]["table"] == "A2" and changes[2]["wait_min"] == a1["wait_min"]
    assert all("phone" not in e["data"] for e in events)
    opened = [e["data"] for e in await outbox(client, "table.opened")]
    assert opened[-1]["table"] == "A2" and opened[-1]["guests"] == 2


async def test_bad_transitions_write_nothing(client: TestClient, cashier: Api) -> None:
    ticket = await _issue(cashier, 3)
    await _move(cashier, ticket, "cancelled")
    status, body = await _move(cashier, ticket, "called")
    assert status == 409 and body["error"] == "invalid_transition"
    assert body["detail"] == {"from": "cancelled", "to": "called", "allowed": []}
    status, body = await cashier.post("/api/v1/waitlist/01JZZZZZZZZZZZZZZZZZZZZZZZ/transitions",
                                      {"to": "called"})
    assert status == 404 and body["error"] == "unknown_ticket"
    status, body = await cashier.post("/api/v1/waitlist/nope/transitions", {"to": "called"})
    assert status == 404 and body["error"] == "unknown_ticket"
    status, body = await _move(cashier, ticket, "waiting")
    assert status == 422
    other = await _issue(cashier, 2)
    status, body = await _move(cashier, other, "called", table="A1")
    assert status == 422 and body["error"] == "table_only_when_seated"
    before = len(await outbox(client))
    assert (await cashier.post("/api/v1/tables/A1/open", {"guests": 2}))[0] == 201
    status, body = await _move(cashier, other, "seated", table="A1")
    assert status == 409 and body["error"] == "table_busy"
    status, body = await _move(cashier, other, "seated", table="ZZ")
    assert status == 404 and body["error"] == "unknown_table"
    assert len(await outbox(client)) == before  # nothing written by the refused seatings
    status, listing = await cashier.get("/api/v1/waitlist")
    assert [t["ticket"] for q in listing["queues"] for t in q["waiting"]] == ["A001"]


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"party": 0}, 422, "invalid_body"), ({"party": 500}, 422, "invalid_body"),
    ({"party": "2"}, 422, "invalid_body"), ({}, 422, "invalid_body"),
    ({"party": 2, "phone": "12ab"}, 422, "invalid_phone"),
    ({"party": 2, "extra": 1}, 422, "invalid_body")])
async def test_bad_tickets_write_nothing(client: TestClient, cashier: Api, body: dict[str, Any],
                                         status: int, error: str) -> None:
    got, answer = await cashier.post("/api/v1/waitlist", body)
    assert (got, answer["error"]) == (status, error) and "detail" in answer
    assert await _count(client) == 0


async def test_malformed_json_and_roles(client: TestClient, kitchen: Api) -> None:
    resp = await client.post("/api/v1/waitlist", data=b"{", headers={
        "Authorization": f"Bearer {kitchen.token}"})
    assert resp.status in (400, 403)
    status, body = await kitchen.post("/api/v1/waitlist", {"party": 2})
    assert status == 403 and body["error"] == "forbidden"
    assert (await kitchen.get("/api/v1/waitlist"))[0] == 200  # everyone may read
    assert (await client.get("/api/v1/waitlist")).status == 401
    assert await _count(client) == 0


async def test_one_open_ticket_per_phone(cashier: Api) -> None:
    first = await _issue(cashier, 2, phone="138 1234 5678")
    status, body = await cashier.post("/api/v1/waitlist", {"party": 4, "phone": "+8613812345678"})
    assert status == 409 and body["error"] == "phone_has_ticket"
    assert body["detail"] == {"tickets": ["A001"]}
    await _move(cashier, first, "seated")
    assert (await cashier.post("/api/v1/waitlist", {"party": 4, "phone": "13812345678"}))[0] == 201
    _, listing = await cashier.get("/api/v1/waitlist")
    assert listing["queues"][1]["waiting"][0]["phone"] == "+8613812345678"


async def _backdate(client: TestClient, ticket: dict[str, Any], seconds: int) -> None:
    def shift(tx: Any) -> None:
        tx.cur.execute("UPDATE waitlist SET issued_at = strftime('%Y-%m-%dT%H:%M:%fZ', "
                       "issued_at, ?) WHERE id = ?", (f"-{seconds} seconds", ticket["id"]))
    await client.app[keys.DB].write(shift)


async def test_stats_show_the_wait_and_the_estimates_error(client: TestClient,
                                                           cashier: Api) -> None:
    for table in ("A1", "A2"):
        await cashier.post(f"/api/v1/tables/{table}/open", {"guests": 2})
    a1, a2, a3 = [await _issue(cashier, 2) for _ in range(3)]  # told 30, 30, 60 min
    await _backdate(client, a1, 20 * 60)  # called after 20 min: 10 min early
    await _backdate(client, a2, 50 * 60)  # seated (never called) after 50 min: 20 min late
    await _move(cashier, a1, "called")
    await _backdate(client, a1, 100 * 60)  # its wait is the first call's: not moved by this
    await _move(cashier, a1, "seated")
    await _move(cashier, a2, "seated")
    await _move(cashier, a3, "cancelled")
    status, stats = await cashier.get("/api/v1/waitlist/stats")
    assert status == 200
    a = stats["queues"][0]
    assert (a["queue"], a["tickets"], a["seated"], a["cancelled"], a["waited"]) == (
        "A", 3, 2, 1, 2)
    assert a["mean_wait_min"] == pytest.approx(35, abs=0.1)  # (20 + 50) / 2
    assert a["mae_min"] == pytest.approx(15, abs=0.1)  # (10 + 20) / 2
    assert a["mean_error_min"] == pytest.approx(5, abs=0.1)  # (-10 + 20) / 2
    assert a["turn_min_used"] == 30 and a["turn_now"] == {"minutes": 30, "samples": 6,
                                                         "source": "measured"}
    assert stats["queues"][1]["turn_now"] == {"minutes": 60, "samples": 3, "source": "default"}
    status, other_day = await cashier.get("/api/v1/waitlist/stats?day=2020-01-01")
    assert status == 200 and other_day["queues"][0]["tickets"] == 0
    status, body = await cashier.get("/api/v1/waitlist/stats?day=2020-13-01")
    assert status == 400 and body["error"] == "invalid_query"


async def test_a_closed_seating_becomes_a_turn_sample(client: TestClient, cashier: Api) -> None:
    def close_old(tx: Any) -> None:  # two more four-guest seatings of 40 min: B is measured
        for n in range(2):
            tx.cur.execute("INSERT INTO table_sessions(id, table_id, guests, opened_at, "
                           "opened_by, closed_at) VALUES (?, 'A1', 4, "
                           "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-3 hours'), 'seed', "
                           "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-140 minutes'))",
                           (f"MORE{n:022d}",))
    await client.app[keys.DB].write(close_old)
    await cashier.post("/api/v1/tables/A1/open", {"guests": 4})
    b = await _issue(cashier, 3)
    assert b["wait_min"] == 50  # median of 50, 50, 50, 40, 40
    rows = await client.app[keys.DB].read(
        lambda conn: conn.execute("SELECT turn_min FROM waitlist").fetchall())
    assert [r[0] for r in rows] == [50]



async def test_yesterdays_open_ticket_does_not_count_today(client: TestClient,
                                                          cashier: Api) -> None:
    old = await _issue(cashier, 2, phone="13812345678")

    def to_yesterday(tx: Any) -> None:
        tx.cur.execute("UPDATE waitlist SET day = '2020-01-01' WHERE id = ?", (old["id"],))
    await client.app[keys.DB].write(to_yesterday)
    fresh = await _issue(cashier, 2, phone="13812345678")
    assert (fresh["ticket"], fresh["ahead"]) == ("A001", 0)
    resp = await client.get("/api/v1/guest/queue")
    assert (await resp.json())["queues"][0]["waiting"] == 1
