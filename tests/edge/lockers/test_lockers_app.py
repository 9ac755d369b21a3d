"""Lockers in the running app: assignment of ready orders, pickup codes, the race for the
last compartment, expiry back to staff, the keypad, and a failing board."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from drivers.locker import BoardTimeout, FakeBoard
from edge import keys

from .conftest import events, ready_order, service, staff, wait_for

FAKE = '[lockers.main]\ntype = "fake"\ncompartments = {n}\npoll_ms = 100\nhold_s = {hold}\n'


async def assignment(store_dir: Path, order_id: str) -> dict[str, Any]:
    async def found() -> Any:
        return next((e for e in events(store_dir, "locker.")
                     if e.get("order_id") == order_id and e["type"] in
                     ("locker.assigned", "locker.unavailable")), None)
    return await wait_for(found)


async def test_ready_pickup_order_gets_a_compartment_and_code_then_is_collected(
        app_client: Any, store_dir: Path) -> None:
    client = await app_client(FAKE.format(n=2, hold=600))
    cashier, kitchen, _ = await staff(client)
    order = await ready_order(cashier, kitchen)
    assigned = await assignment(store_dir, order["id"])
    assert assigned["type"] == "locker.assigned"
    assert (assigned["bank"], assigned["compartment"]) == ("main", 1)
    code = assigned["code"]
    assert len(code) == 6 and code.isdigit()
    board: FakeBoard = service(client).banks["main"].board
    assert board.opens == [1]  # opened for loading
    conn = sqlite3.connect(store_dir / "storenode.db")
    rows = conn.execute("SELECT * FROM locker_assignments").fetchall()
    conn.close()
    assert rows and not any(code in str(value) for value in rows[0])  # only its HMAC is kept
    status, overview = await kitchen.get("/api/v1/lockers")
    assert status == 200 and overview["assignments"][0]["state"] == "active"
    assert overview["banks"]["main"]["state"] == "ok"

    wrong = "000000" if code != "000000" else "111111"
    status, body = await cashier.post("/api/v1/lockers/open", {"code": wrong})
    assert (status, body["error"]) == (404, "unknown_code")
    status, opened = await cashier.post("/api/v1/lockers/open", {"code": code})
    assert status == 200, opened
    assert opened == {"bank": "main", "compartment": 1, "by": "code",
                      "order_id": order["id"], "state": "collected"}
    assert board.opens == [1, 1]
    _, after = await cashier.get(f"/api/v1/orders/{order['id']}")
    assert after["status"] == "completed"
    status, body = await cashier.post("/api/v1/lockers/open", {"code": code})
    assert status == 404  # a code opens once


async def test_delivery_orders_go_to_the_locker_and_dine_in_does_not(
        app_client: Any, store_dir: Path) -> None:
    client = await app_client(FAKE.format(n=4, hold=600))
    cashier, kitchen, _ = await staff(client)
    meituan = await ready_order(cashier, kitchen, pickup=False, channel="meituan")
    counter = await ready_order(cashier, kitchen, pickup=False)
    assert (await assignment(store_dir, meituan["id"]))["type"] == "locker.assigned"
    await asyncio.sleep(0.3)
    assert not [e for e in events(store_dir, "locker.") if e.get("order_id") == counter["id"]]


async def test_two_orders_racing_for_the_last_compartment(app_client: Any,
                                                          store_dir: Path) -> None:
    client = await app_client(FAKE.format(n=1, hold=600))
    cashier, kitchen, _ = await staff(client)
    lockers = service(client)
    first, second = await asyncio.gather(ready_order(cashier, kitchen),
                                         ready_order(cashier, kitchen))
    await asyncio.gather(lockers.assign(first["id"]), lockers.assign(second["id"]))
    decided = [await assignment(store_dir, o["id"]) for o in (first, second)]
    kinds = sorted(e["type"] for e in decided)
    assert kinds == ["locker.assigned", "locker.unavailable"], decided
    loser = next(e for e in decided if e["type"] == "locker.unavailable")
    assert loser["reason"] == "no_free_compartment"
    _, overview = await kitchen.get("/api/v1/lockers")
    states = sorted((a["state"], a["reason"]) for a in overview["assignments"])
    assert states == [("active", None), ("with_staff", "no_free_compartment")]


async def test_unclaimed_order_expires_back_to_staff_and_staff_releases_it(
        app_client: Any, store_dir: Path) -> None:
    client = await app_client(FAKE.format(n=1, hold=1))
    cashier, kitchen, manager = await staff(client)
    order = await ready_order(cashier, kitchen)
    code = (await assignment(store_dir, order["id"]))["code"]

    def expired() -> Any:
        return [e for e in events(store_dir, "locker.expired") if e["order_id"] == order["id"]]
    await wait_for(expired, timeout=5)
    status, body = await cashier.post("/api/v1/lockers/open", {"code": code})
    assert status == 404  # an expired code no longer opens
    _, overview = await kitchen.get("/api/v1/lockers")
    assert overview["assignments"][0]["state"] == "expired"
    status, opened = await manager.post("/api/v1/lockers/main/compartments/1/open",
                                        {"release": True})
    assert status == 200 and opened["state"] == "released", opened
    _, overview = await kitchen.get("/api/v1/lockers")
    assert overview["assignments"] == []
    _, after = await cashier.get(f"/api/v1/orders/{order['id']}")
    assert after["status"] == "ready"  # with staff, to hand over at the counter


async def test_keypad_code_opens_the_compartment(app_client: Any, store_dir: Path) -> None:
    client = await app_client(FAKE.format(n=2, hold=600) + "keypad = true\n")
    cashier, kitchen, _ = await staff(client)
    order = await ready_order(cashier, kitchen)
    code = (await assignment(store_dir, order["id"]))["code"]
    board: FakeBoard = service(client).banks["main"].board
    board.type_code(code)

    def collected() -> Any:
        return [e for e in events(store_dir, "locker.opened") if e["by"] == "keypad"]
    opened = await wait_for(collected)
    assert opened[0]["order_id"] == order["id"] and opened[0]["state"] == "collected"


async def test_board_not_answering_leaves_the_order_with_staff_and_orders_keep_flowing(
        app_client: Any, store_dir: Path) -> None:
    client = await app_client(FAKE.format(n=2, hold=600))
    cashier, kitchen, _ = await staff(client)
    board: FakeBoard = service(client).banks["main"].board
    board.failure = BoardTimeout("no answer in 0.5 s")
    order = await ready_order(cashier, kitchen)
    decided = await assignment(store_dir, order["id"])
    assert decided["type"] == "locker.unavailable"
    assert decided["reason"] == "not_answering"

    def alerted() -> Any:
        return [e for e in events(store_dir, "device.state_changed")
                if e["state"] == "not_answering"]
    await wait_for(alerted)
    resp = await client.get("/api/v1/health")
    health = await resp.json()
    assert health["status"] == "ok"  # orders are still served
    assert health["devices"]["locker:main"]["state"] == "not_answering"
    again = await ready_order(cashier, kitchen)  # the daemon keeps taking orders
    _, _, manager = await staff(client)
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {manager.token}"})
    metrics = await resp.text()
    assert 'storenode_device_up{device="locker:main",state="not_answering"} 0.0' in metrics
    assert 'storenode_device_compartments{device="locker:main"} 2.0' in metrics
    _, after = await cashier.get(f"/api/v1/orders/{order['id']}")
    assert after["status"] == "ready"
    board.failure = None

    def recovered() -> Any:
        return [e for e in events(store_dir, "device.state_changed") if e["state"] == "ok"
                and e["device"] == "locker:main"]
    await wait_for(recovered)
    assert again["status"] == "ready"


async def test_serial_board_on_a_pty_assigns_then_faults_are_clear_states(
        app_client: Any, store_dir: Path) -> None:
    from tests.drivers.locker.pty_board import PtyBoard

    pty = PtyBoard(address=1, compartments=2)
    try:
        client = await app_client(
            f'[lockers.main]\ntype = "serial"\nport = "{pty.port}"\ncompartments = 2\n'
            "poll_ms = 100\ntimeout_ms = 200\nhold_s = 600\n")
        cashier, kitchen, _ = await staff(client)
        order = await ready_order(cashier, kitchen)
        assigned = await assignment(store_dir, order["id"])
        assert assigned["type"] == "locker.assigned" and pty.doors[1] == "open"
        _, overview = await kitchen.get("/api/v1/lockers")
        assert overview["banks"]["main"]["doors"]["1"] == "open"

        for mode, state in (("garbage", "garbage"), ("silent", "not_answering")):
            pty.mode = mode
            status, body = await cashier.post("/api/v1/lockers/open", {"code": assigned["code"]})
            assert (status, body["error"]) == (503, "locker_unavailable"), body
            assert body["detail"]["state"] == state
            resp = await client.get("/api/v1/health")
            assert (await resp.json())["devices"]["locker:main"]["state"] == state
        _, after = await cashier.get(f"/api/v1/orders/{order['id']}")
        assert after["status"] == "ready"  # nothing collected, the order is still there
        pty.mode = "ok"
        status, opened = await cashier.post("/api/v1/lockers/open", {"code": assigned["code"]})
        assert status == 200 and opened["state"] == "collected"
        changes = [e["state"] for e in events(store_dir, "device.state_changed")]
        assert {"garbage", "not_answering", "ok"} <= set(changes)
    finally:
        await asyncio.sleep(0)
        pty.close()


async def test_wrong_codes_are_rate_limited(app_client: Any, store_dir: Path) -> None:
    client = await app_client(FAKE.format(n=2, hold=600))
    cashier, kitchen, _ = await staff(client)
    order = await ready_order(cashier, kitchen)
    code = (await assignment(store_dir, order["id"]))["code"]
    wrong = [c for c in ("000000", "111111", "222222", "333333", "444444", "555555")
             if c != code][:5]
    for guess in wrong:
        status, body = await cashier.post("/api/v1/lockers/open", {"code": guess})
        assert status == 404, body
    status, body = await cashier.post("/api/v1/lockers/open", {"code": code})
    assert (status, body["error"]) == (429, "too_many_attempts")


async def test_a_reservation_interrupted_by_a_restart_goes_back_to_staff(
        app_client: Any, store_dir: Path) -> None:
    from edge.lockers import sql as store

    client = await app_client(FAKE.format(n=2, hold=600))
    cashier, kitchen, _ = await staff(client)
    lockers = service(client)
    await lockers.stop()  # no assignment loop: reserve by hand, as if the door never opened
    order = await ready_order(cashier, kitchen)
    db = client.server.app[keys.DB]
    reserved = await db.write(store.reserve, order["id"], [("main", 2, [])], None)
    assert reserved is not None and reserved["state"] == "loading"
    await lockers.start()  # what the daemon does at start-up
    decided = await assignment(store_dir, order["id"])
    assert (decided["type"], decided["reason"]) == ("locker.unavailable", "interrupted")
