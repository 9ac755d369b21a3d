"""The guest at the door: a ticket without login, its page and its own ticket only, the board,
abuse limits, and a called number printed on the receipt printer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from devtools.api import Api
from edge import keys
from edge.app import create_app
from edge.config import load_settings
from edge.tables.guest import PAGE_HEADERS
from edge.waitlist import rules

from tests.conftest import assert_no_tasks_left, login_as

from .conftest import outbox

GUEST = "/api/v1/guest/waitlist"


async def _take(client: TestClient, body: dict[str, Any]) -> tuple[int, Any]:
    resp = await client.post(GUEST, json=body)
    return resp.status, await resp.json()


async def _mine(client: TestClient, token: str) -> tuple[int, Any]:
    resp = await client.get(f"{GUEST}/{token}")
    return resp.status, await resp.json()


async def test_a_guest_takes_a_ticket_and_follows_it(client: TestClient, cashier: Api) -> None:
    status, first = await _take(client, {"party": 2})
    assert status == 201, first
    assert set(first) == {"id", "ticket", "queue", "ahead", "wait_min", "token", "url"}
    assert first["url"] == f"/q/{first['token']}" and rules.TOKEN.match(first["token"])
    assert len(first["token"]) >= 32  # 24 random bytes
    status, second = await _take(client, {"party": 1, "phone": "13900001111"})
    assert status == 201 and second["ticket"] == "A002" and second["ahead"] == 1
    status, mine = await _mine(client, second["token"])
    assert status == 200
    assert (mine["ticket"], mine["status"], mine["ahead"], mine["position"]) == (
        "A002", "waiting", 1, 2)
    assert "phone" not in mine and "token" not in mine and "id" not in mine
    await cashier.post(f"/api/v1/waitlist/{first['id']}/transitions", {"to": "called"})
    status, mine = await _mine(client, second["token"])
    assert mine["ahead"] == 0  # the called one is no longer ahead
    await cashier.post(f"/api/v1/waitlist/{second['id']}/transitions", {"to": "called"})
    status, mine = await _mine(client, second["token"])
    assert mine["status"] == "called" and mine["called_at"]
    issued = [e["data"] for e in await outbox(client, "waitlist.issued")]
    assert [i["source"] for i in issued] == ["guest", "guest"]


async def test_unknown_tokens_and_floods(client: TestClient) -> None:
    status, body = await _mine(client, "x" * 32)
    assert status == 404 and body["error"] == "unknown_ticket"
    assert (await _mine(client, "short"))[0] == 404
    assert (await client.get("/q/" + "y" * 32)).status == 404
    for _ in range(rules.UNKNOWN_TOKENS_PER_MIN):
        await _mine(client, "z" * 32)
    status, body = await _mine(client, "z" * 32)
    assert status == 429 and body["error"] == "slow_down"


async def test_guest_tickets_are_rate_limited_per_address(client: TestClient) -> None:
    for n in range(rules.GUEST_TICKETS_PER_MIN):
        assert (await _take(client, {"party": 1 + n % 5}))[0] == 201
    status, body = await _take(client, {"party": 2})
    assert status == 429 and body["error"] == "slow_down"
    assert body["detail"]["retry_after_s"] > 0
    count = await client.app[keys.DB].read(
        lambda conn: conn.execute("SELECT COUNT(*) FROM waitlist").fetchone()[0])
    assert count == rules.GUEST_TICKETS_PER_MIN


async def test_guest_bad_input(client: TestClient) -> None:
    assert (await _take(client, {"party": 0}))[0] == 422
    assert (await _take(client, {"party": 101}))[0] == 422
    status, body = await _take(client, {"party": 2, "phone": "555"})
    assert status == 422 and body["error"] == "invalid_phone"
    assert (await _take(client, {"party": 2, "phone": "13900001111"}))[0] == 201
    status, body = await _take(client, {"party": 3, "phone": "+86 139-0000-1111"})
    assert status == 409 and body["error"] == "phone_has_ticket"
    resp = await client.post(GUEST, data=b"not json")
    assert resp.status == 400 and (await resp.json())["error"] == "malformed_json"


async def test_pages_and_the_board(client: TestClient, cashier: Api) -> None:
    _, ticket = await _take(client, {"party": 6, "phone": "13900002222"})
    for path in ("/w", f"/q/{ticket['token']}", "/queue"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert resp.content_type == "text/html"
        for name, value in PAGE_HEADERS.items():
            assert resp.headers[name] == value
        html = await resp.text()
        assert "http://" not in html and "https://" not in html  # nothing from a CDN
    await cashier.post(f"/api/v1/waitlist/{ticket['id']}/transitions", {"to": "called"})
    await _take(client, {"party": 5})
    resp = await client.get("/api/v1/guest/queue")
    board = await resp.json()
    c = next(q for q in board["queues"] if q["queue"] == "C")
    assert c == {"queue": "C", "parties": "5+", "waiting": 1, "called": ["C001"]}
    assert "139" not in await resp.text()


async def test_a_call_prints_the_number_on_the_receipt_printer(
        store_dir: Path, aiohttp_client: Any) -> None:
    with (store_dir / "edge.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[printers.front]\ntype = "file"\npath = "prints/front.prn"\n'
                   'receipts = true\n')
    client = await aiohttp_client(create_app(load_settings(store_dir)))
    try:
        cashier = await login_as(client, "cashier")
        status, ticket = await cashier.post("/api/v1/waitlist", {"party": 2})
        status, called = await cashier.post(f"/api/v1/waitlist/{ticket['id']}/transitions",
                                            {"to": "called", "print": True})
        assert status == 200 and len(called["print_jobs"]) == 1
        status, quiet = await cashier.post(f"/api/v1/waitlist/{ticket['id']}/transitions",
                                           {"to": "called"})
        assert quiet["print_jobs"] == []
        out = store_dir / "prints" / "front.prn"

        async def jobs() -> list[tuple[Any, ...]]:
            rows = await client.app[keys.DB].read(lambda conn: conn.execute(
                "SELECT kind, state FROM print_jobs").fetchall())
            return [tuple(r) for r in rows]

        # the bytes reach the printer before the job is marked printed: wait for both
        for _ in range(100):
            if (out.exists() and b"A001" in out.read_bytes()
                    and await jobs() == [("waitlist", "printed")]):
                break
            await asyncio.sleep(0.05)
        assert b"A001" in out.read_bytes()
        assert await jobs() == [("waitlist", "printed")]
    finally:
        await client.close()
    await assert_no_tasks_left()
