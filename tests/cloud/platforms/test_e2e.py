"""Webhook -> store end to end: a real Mosquitto from the provisioned files, HQ (SQLite and
PostgreSQL) with the three platforms configured, an edge in-process. A signed platform order
becomes an order at the store through its order center (channel, idempotency key); the
store's accepted/ready/refusal go back to the platform (a real local HTTP server) as signed
callbacks; a store that goes away pauses its platform channels until it is back."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cloud.app import create_app as create_hq
from cloud.config import load_settings as hq_settings
from devtools.stack import Hq, edge_app, eventually, hq_login
from tests.conftest import Api, login_as

from . import signed
from .conftest import PlatformStub
from .test_webhooks import post


async def platform_orders(edge: Api) -> list[dict[str, Any]]:
    status, orders = await edge.get("/api/v1/orders?channel=meituan")
    assert status == 200
    return list(orders)


async def test_platform_orders_reach_the_store_and_its_answers_the_platform(
        system: Hq, tmp_path: Path, aiohttp_client: Any,
        stub: tuple[PlatformStub, str]) -> None:
    calls, url = stub
    settings = hq_settings(system.dir, env={**os.environ, **signed.platform_env(url)})
    hq: TestClient = await aiohttp_client(create_hq(settings))
    admin = await hq_login(hq)
    status, _ = await admin.call("PUT", "/api/v1/catalog/items/C003", {
        "name": "Kung pao chicken", "category": "mains", "station": "wok", "price_cents": 2800})
    assert status == 200
    edge = await edge_app(tmp_path, system, "s1", aiohttp_client)
    manager = await login_as(edge, "manager")
    await eventually(lambda: _online(admin))

    # a signed order reaches the store's order center on its channel, once
    unified = signed.order(lines=[("C003", 2, 2600)])
    started = time.perf_counter()
    status, body = await post(hq, "meituan", *signed.request("meituan", unified))
    assert status == 200 and signed.is_ok("meituan", body), body
    (order,) = await eventually(lambda: platform_orders(manager), timeout=10, every=0.01)
    forwarded_s = time.perf_counter() - started
    assert forwarded_s < 2, forwarded_s
    assert [(ln["sku"], ln["qty"]) for ln in order["lines"]] == [("C003", 2)]
    assert order["status"] == "placed" and order["total_cents"] == 2 * 2800  # store's prices
    status, body = await post(hq, "meituan", *signed.request("meituan", unified))  # resent
    assert status == 200
    generic = signed.order(lines=[("C003", 1, 2600)])  # generic platform: meituan channel
    assert (await post(hq, "generic", *signed.request("generic", generic)))[0] == 200
    await eventually(lambda: _count(manager, 2))

    # the store's status changes go back to the platform (first attempt 500: retried)
    for to in ("accepted", "preparing", "ready"):
        status, _ = await manager.post(f"/api/v1/orders/{order['id']}/transitions", {"to": to})
        assert status == 200
    wanted = {("meituan", unified["platform_order_id"], "accepted"),
              ("meituan", unified["platform_order_id"], "ready")}
    await eventually(lambda: wanted <= _received(calls), timeout=20)

    # an order the store cannot fill: refused there, cancelled at the platform
    too_many = signed.order(lines=[("C003", 900, 2600)])
    assert (await post(hq, "eleme", *signed.request("eleme", too_many)))[0] == 200
    await eventually(lambda: ("eleme", too_many["platform_order_id"], "cancelled")
                     in _received(calls), timeout=20)
    reason = next(c["reason"] for c in calls.received
                  if c["order_id"] == too_many["platform_order_id"])
    assert "out_of_stock" in reason
    assert len(await platform_orders(manager)) == 2
    _, eleme = await manager.get("/api/v1/orders?channel=eleme")
    assert eleme == []

    # the store goes away: its platform channels pause; back on its birth
    await edge.close()
    await eventually(lambda: _paused(admin, True))
    status, body = await post(hq, "meituan", *signed.request("meituan", signed.order(
        lines=[("C003", 1, 2600)])))
    assert status == 503 and signed.error_reason("meituan", body) == "paused"
    edge = await edge_app(tmp_path, system, "s1", aiohttp_client)
    manager = await login_as(edge, "manager")
    await eventually(lambda: _paused(admin, False))
    later = signed.order(lines=[("C003", 1, 2600)])
    assert (await post(hq, "meituan", *signed.request("meituan", later)))[0] == 200
    await eventually(lambda: _count(manager, 3))
    _, rows = await admin.get("/api/v1/platforms/orders?store=s1")
    by_id = {r["platform_order_id"]: r for r in rows}
    assert by_id[unified["platform_order_id"]]["status"] == "ready"
    assert by_id[unified["platform_order_id"]]["order_id"] == order["id"]
    assert by_id[too_many["platform_order_id"]]["status"] == "rejected"
    assert calls.bad_signatures == 0


def _received(calls: PlatformStub) -> set[tuple[str, str, str]]:
    return {(c["platform"], c["order_id"], c["status"]) for c in calls.received}


async def _count(manager: Api, n: int) -> bool:
    return len(await platform_orders(manager)) == n


async def _online(admin: Api) -> bool:
    _, stores = await admin.get("/api/v1/stores")
    return any(s["store"] == "s1" and s["online"] for s in stores)


async def _paused(admin: Api, paused: bool) -> bool:
    _, rows = await admin.get("/api/v1/stores")
    row = next(s for s in rows if s["store"] == "s1")
    return bool(row["online"]) is not paused
