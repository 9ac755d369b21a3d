"""Edge ↔ HQ end to end: real Mosquitto from the provisioned files, HQ on SQLite and on
PostgreSQL, two stores. Orders reach HQ exactly once; HQ's catalog changes reach an online
store within 2 s and an offline one on its next birth; a store's sold-out toggle survives;
a store that dies is offline at HQ within the keepalive window and back on its birth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cloud.app import create_app as create_hq
from cloud.config import load_settings as hq_settings
from devtools.chaos import ChaosProxy
from tests.conftest import Api, login_as
from tests.pg import throwaway_database
from devtools.stack import Hq, edge_app, eventually, hq_login

SKUS = ("C003", "C004", "S001", "S002")


@pytest.fixture(params=("sqlite", "postgres"))
def hq(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hq]:
    def build(database: str | None) -> Iterator[Hq]:
        system = Hq(tmp_path, ["s1", "s2"], database)
        system.start_broker()
        try:
            yield system
        finally:
            system.stop_all()

    if request.param == "sqlite":
        yield from build(None)
    else:
        with throwaway_database("storenode_test_e2e") as url:
            yield from build(url)


async def place(api: Api, n: int, prefix: str) -> list[dict[str, Any]]:
    orders = []
    for i in range(n):
        status, body = await api.post("/api/v1/orders", {"channel": "pos", "lines": [
            {"sku": SKUS[i % len(SKUS)], "qty": 1 + i % 2}]},
            headers={"Idempotency-Key": f"{prefix}-{i:06d}"})
        assert status == 201, body
        orders.append(body)
    return orders


async def synced(edge: TestClient, hq_api: Api, store: str) -> bool:
    health = await (await edge.get("/api/v1/health")).json()
    _, stores = await hq_api.get("/api/v1/stores")
    row = next((s for s in stores if s["store"] == store), None)
    return bool(row and health["sync"]["pending"] == 0
                and row["applied_seq"] == health["sync"]["last_seq"])


async def inventories_agree(edge_api: Api, hq_api: Api, store: str) -> bool:
    _, local = await edge_api.get("/api/v1/inventory")
    _, remote = await hq_api.get(f"/api/v1/stores/{store}/inventory")
    remote_by_sku = {r["sku"]: r["on_hand"] for r in remote}
    return all(remote_by_sku.get(r["sku"]) == r["on_hand"] for r in local)


async def test_two_stores_converge_and_hq_changes_reach_them(
        hq: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    hq_client: TestClient = await aiohttp_client(create_hq(hq_settings(hq.dir)))
    admin = await hq_login(hq_client)
    s1 = await edge_app(tmp_path, hq, "s1", aiohttp_client)
    s2 = await edge_app(tmp_path, hq, "s2", aiohttp_client)
    m1, m2 = await login_as(s1, "manager"), await login_as(s2, "manager")
    placed = {"s1": await place(m1, 30, "e1"), "s2": await place(m2, 20, "e2")}
    _, cancelled = await m1.post(f"/api/v1/orders/{placed['s1'][0]['id']}/transitions",
                                 {"to": "cancelled"})
    for store, edge in (("s1", s1), ("s2", s2)):
        await eventually(lambda e=edge, s=store: synced(e, admin, s))
    for store, api in (("s1", m1), ("s2", m2)):
        _, at_hq = await admin.get(f"/api/v1/stores/{store}/orders?limit=1000")
        assert sorted(o["id"] for o in at_hq) == sorted(o["id"] for o in placed[store])
        assert await inventories_agree(api, admin, store)
    _, at_hq = await admin.get("/api/v1/stores/s1/orders?limit=1000")
    assert {o["id"]: o["status"] for o in at_hq}[cancelled["id"]] == "cancelled"
    _, stores = await admin.get("/api/v1/stores")
    assert {s["store"]: s["online"] for s in stores} == {"s1": True, "s2": True}

    # s1 marks C001 sold out; s2 goes offline; HQ changes C001's price for everyone
    status, _ = await m1.call("PATCH", "/api/v1/catalog/items/C001", {"available": False})
    assert status == 200
    await s2.close()
    await eventually(lambda: _online(admin, "s2", False))
    started = time.monotonic()
    status, body = await admin.call("PUT", "/api/v1/catalog/items/C001", {
        "name": "麻辣香锅", "category": "hot", "station": "wok", "price_cents": 3300,
        "channel_prices": {"meituan": 3700}})
    assert status in (200, 201), body

    async def s1_has_price() -> bool:
        _, item = await m1.get("/api/v1/catalog/items/C001")
        return bool(item["price_cents"] == 3300)
    await eventually(s1_has_price, timeout=2.0, every=0.02)
    reached_s = time.monotonic() - started
    assert reached_s < 2.0
    _, item = await m1.get("/api/v1/catalog/items/C001")
    assert item["available"] is False and item["channel_prices"] == {"meituan": 3700}

    # s2 comes back: its birth states its cursor and HQ replays what it missed
    s2 = await edge_app(tmp_path, hq, "s2", aiohttp_client)
    m2 = await login_as(s2, "manager")

    async def s2_has_price() -> bool:
        _, item = await m2.get("/api/v1/catalog/items/C001")
        return bool(item["price_cents"] == 3300 and item["available"] is True)
    await eventually(s2_has_price, timeout=10)
    await eventually(lambda: _online(admin, "s2", True))
    for store, edge in (("s1", s1), ("s2", s2)):
        await eventually(lambda e=edge, s=store: synced(e, admin, s))
    await s1.close()
    await s2.close()
    await hq_client.close()


async def _online(api: Api, store: str, online: bool) -> bool:
    _, stores = await api.get("/api/v1/stores")
    return any(s["store"] == store and s["online"] is online for s in stores)


async def test_a_dead_store_is_offline_within_the_keepalive_window(
        hq: Hq, tmp_path: Path, aiohttp_client: Any) -> None:
    hq_client: TestClient = await aiohttp_client(create_hq(hq_settings(hq.dir)))
    admin = await hq_login(hq_client)
    with ChaosProxy(hq.broker_port) as proxy:
        s1 = await edge_app(tmp_path, hq, "s1", aiohttp_client, broker_url=proxy.url)
        await eventually(lambda: _online(admin, "s1", True))
        proxy.blackhole = True  # the line goes silent: no FIN, no RST (a pulled cable)
        proxy.refuse = True
        died = time.monotonic()
        # keepalive 3 s: the broker gives up after 1.5 x 3 s and publishes the Will
        await eventually(lambda: _online(admin, "s1", False), timeout=10)
        assert time.monotonic() - died < 3 * 1.5 + 2
        proxy.blackhole = proxy.refuse = False
        proxy.cut()
        await eventually(lambda: _online(admin, "s1", True), timeout=20)
        await s1.close()
    await hq_client.close()
