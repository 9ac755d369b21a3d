"""Invariant 3 (convergence), as a property: any interleaving of sales, cancels, receipts,
offline periods, restarts and HQ changes (prices, stocktakes) across 3 stores ends with
edge and HQ agreeing on orders, stock per store and SKU, and prices.

Real Mosquitto (provisioned files), HQ and three edges in-process, each edge behind its own
chaos proxy so "offline" is a dead line, not a polite disconnect. Hypothesis draws the
scenario; each example gets a fresh system.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.app import create_app as create_hq
from cloud.config import load_settings as hq_settings
from cloud.database import CloudDb
from edge.app import create_app as create_edge
from edge.config import load_settings as edge_settings
from devtools.chaos import ChaosProxy
from tests.conftest import Api, login_as
from devtools.stack import Hq, edge_env, eventually, hq_login, make_edge

STORES = ("s1", "s2", "s3")
SKUS = ("C003", "C004", "S001")

store = st.integers(0, len(STORES) - 1)
sku = st.integers(0, len(SKUS) - 1)
OPS = st.one_of(
    st.tuples(st.just("order"), store, sku, st.integers(1, 3)),
    st.tuples(st.just("cancel"), store),
    st.tuples(st.just("receipt"), store, sku, st.integers(1, 20)),
    st.tuples(st.just("offline"), store),
    st.tuples(st.just("online"), store),
    st.tuples(st.just("restart"), store),
    st.tuples(st.just("hq_price"), sku, st.integers(100, 5000)),
    st.tuples(st.just("hq_stocktake"), store, sku, st.integers(50, 150)),
    st.tuples(st.just("pause"), st.sampled_from([0.0, 0.05, 0.3])),
)


class System:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.hq = Hq(work, list(STORES))
        self.proxies: dict[str, ChaosProxy] = {}
        self.edges: dict[str, TestClient] = {}
        self.apis: dict[str, Api] = {}
        self.placed: dict[str, list[str]] = {s: [] for s in STORES}
        self.prices: dict[str, int] = {}
        self.keys = 0

    async def start(self) -> None:
        self.hq.start_broker()
        self.hq_client = TestClient(TestServer(create_hq(hq_settings(self.hq.dir))))
        await self.hq_client.start_server()
        self.admin = await hq_login(self.hq_client)
        for s in STORES:
            self.proxies[s] = ChaosProxy(self.hq.broker_port).__enter__()
            await self.start_edge(s)

    async def start_edge(self, s: str) -> None:
        data = make_edge(self.work, s)
        env = edge_env(self.hq, s, broker_url=self.proxies[s].url, keepalive=2)
        client = TestClient(TestServer(create_edge(edge_settings(data, env))))
        await client.start_server()
        self.edges[s], self.apis[s] = client, await login_as(client, "manager")

    async def close(self) -> None:
        for client in [*self.edges.values(), getattr(self, "hq_client", None)]:
            if client is not None:
                await client.close()
        for proxy in self.proxies.values():
            proxy.__exit__(None, None, None)
        self.hq.stop_all()

    def key(self) -> dict[str, str]:
        self.keys += 1
        return {"Idempotency-Key": f"conv-{self.keys:08d}"}

    async def run(self, op: tuple[Any, ...]) -> None:
        kind, *args = op
        if kind == "order":
            s, k, qty = STORES[args[0]], SKUS[args[1]], args[2]
            status, body = await self.apis[s].post("/api/v1/orders", {
                "channel": "pos", "lines": [{"sku": k, "qty": qty}]}, headers=self.key())
            assert status in (201, 409), body
            if status == 201:
                self.placed[s].append(body["id"])
        elif kind == "cancel":
            s = STORES[args[0]]
            if self.placed[s]:
                order = self.placed[s][-1]
                status, body = await self.apis[s].post(f"/api/v1/orders/{order}/transitions",
                                                       {"to": "cancelled"})
                assert status in (200, 409), body
        elif kind == "receipt":
            s, k, n = STORES[args[0]], SKUS[args[1]], args[2]
            status, body = await self.apis[s].post("/api/v1/inventory/movements",
                                                   {"sku": k, "delta": n, "reason": "receipt"})
            assert status == 201, body
        elif kind == "offline":
            proxy = self.proxies[STORES[args[0]]]
            proxy.refuse = True
            proxy.cut()
        elif kind == "online":
            self.proxies[STORES[args[0]]].refuse = False
        elif kind == "restart":
            s = STORES[args[0]]
            await self.edges[s].close()
            await self.start_edge(s)
        elif kind == "hq_price":
            k, price = SKUS[args[0]], args[1]
            status, body = await self.admin.call("PUT", f"/api/v1/catalog/items/{k}", {
                "name": k, "category": "c", "station": "wok", "price_cents": price})
            assert status in (200, 201), body
            self.prices[k] = price
        elif kind == "hq_stocktake":
            s, k, counted = STORES[args[0]], SKUS[args[1]], args[2]
            status, body = await self.admin.post(
                f"/api/v1/stores/{s}/inventory/{k}/stocktake", {"counted": counted})
            assert status in (200, 201, 202), body
        elif kind == "pause":
            await asyncio.sleep(args[0])

    async def converged(self) -> bool:
        db = CloudDb.open(self.hq.database)
        try:
            hq_stores = {s: db.get_store(s) for s in STORES}
        finally:
            db.close()
        for s in STORES:
            health = await (await self.edges[s].get("/api/v1/health")).json()
            sync, row = health["sync"], hq_stores[s]
            if not sync["connected"] or sync["pending"] or row is None \
                    or row["applied_seq"] != sync["last_seq"] \
                    or sync.get("down_cursor") != row["down_cursor"]:
                return False
        return True

    async def check_agreement(self) -> None:
        for s in STORES:
            api = self.apis[s]
            _, local_orders = await api.get("/api/v1/orders?limit=1000")
            _, remote_orders = await self.admin.get(f"/api/v1/stores/{s}/orders?limit=1000")
            assert {o["id"]: o["status"] for o in local_orders} == \
                {o["id"]: o["status"] for o in remote_orders}, s
            _, local = await api.get("/api/v1/inventory")
            _, remote = await self.admin.get(f"/api/v1/stores/{s}/inventory")
            remote_stock = {r["sku"]: r["on_hand"] for r in remote}
            for row in local:
                assert remote_stock.get(row["sku"]) == row["on_hand"], (s, row, remote_stock)
            for k, price in self.prices.items():
                _, item = await api.get(f"/api/v1/catalog/items/{k}")
                assert item["price_cents"] == price, (s, k)


async def scenario(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        system = System(Path(tmp))
        try:
            await system.start()
            for op in ops:
                await system.run(op)
            for proxy in system.proxies.values():
                proxy.refuse = False
            await eventually(system.converged, timeout=45, every=0.2)
            await system.check_agreement()
        finally:
            await system.close()
            with contextlib.suppress(Exception):
                await asyncio.sleep(0)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(OPS, min_size=5, max_size=30))
def test_edges_and_hq_converge_after_any_interleaving(ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(scenario(ops))
