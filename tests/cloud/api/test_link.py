"""The HQ app on a real broker (started from the provisioned files): births mark stores online
and replay their feed, batches are applied and acked, HQ changes reach online stores."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cloud.app import create_app
from cloud.config import load_settings
from sync import messages, topics
from sync.mqtt import MqttClient, Will
from tests.cloud.sync.sim import EdgeSim
from tests.helpers import free_port

from .conftest import login, make_hq, mosquitto
from .test_api import ITEM


class Edge:
    """A store's side of the protocol, by hand: birth, up batches, and what comes down."""

    def __init__(self, url: str, store: str, password: str) -> None:
        self.store = store
        self.client = MqttClient(url, f"edge-{store}", username=store, password=password,
                                 keepalive=5, backoff=(0.1, 0.5))
        self.client.set_will(Will(self.topic("state"), messages.encode(messages.death(1))))
        self.got: dict[str, asyncio.Queue[dict[str, Any]]] = {
            "ack": asyncio.Queue(), "down": asyncio.Queue()}
        self.client.on_message = lambda t, p: self.got[t.rsplit("/", 1)[1]].put_nowait(
            json.loads(p))

    def topic(self, kind: str) -> str:
        return topics.topic("acme", self.store, kind)

    async def start(self) -> None:
        self.client.start()
        await asyncio.wait_for(self.client.connected.wait(), 10)
        assert await self.client.subscribe([self.topic("ack"), self.topic("down")]) == [1, 1]

    async def state(self, message: dict[str, Any]) -> None:
        await self.client.publish(self.topic("state"), messages.encode(message), retain=True)

    async def next(self, kind: str) -> dict[str, Any]:
        return await asyncio.wait_for(self.got[kind].get(), 10)


@pytest.fixture
async def setup(tmp_path: Path, db_url: str,
                aiohttp_client: Any) -> AsyncIterator[tuple[TestClient, Edge]]:
    hq_dir, url = tmp_path / "hq", f"mqtt://127.0.0.1:{free_port()}"
    creds = make_hq(hq_dir, db_url, broker=url)
    with mosquitto(hq_dir):
        client = await aiohttp_client(create_app(load_settings(hq_dir)))
        edge = Edge(url, "s1", creds["s1"]["password"])
        try:
            await until(lambda: health(client), lambda h: h["broker"]["connected"])
            await edge.start()
            yield client, edge
        finally:
            await edge.client.close()
            await client.close()


async def health(client: TestClient) -> dict[str, Any]:
    return dict(await (await client.get("/api/v1/health")).json())


async def until(read: Any, ok: Any, timeout: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await read()
        if ok(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, value
        await asyncio.sleep(0.05)


async def test_birth_batches_acks_and_the_down_feed(setup: tuple[TestClient, Edge]) -> None:
    client, edge = setup
    admin = await login(client, "admin")
    status, body = await admin.call("PUT", "/api/v1/catalog/items/N-01", ITEM)
    assert status == 200 and body["messages_sent"] == 0  # every store is offline

    async def stores() -> dict[str, Any]:
        return {s["store"]: s for s in (await admin.get("/api/v1/stores"))[1]}

    await edge.state(messages.birth(1, 0, "0.1.0"))  # replays the feed from cursor 0
    down = await edge.next("down")
    assert (down["from_cursor"], down["cursor"]) == (0, 2)
    assert down["changes"][0]["type"] == "tenant.key"
    assert down["changes"][1]["data"] == {"sku": "N-01", **ITEM}
    await until(stores, lambda s: s["s1"]["online"] and not s["s2"]["online"])

    sim = EdgeSim("s1")
    sim.fill(10)
    n = len(sim.events)
    await edge.client.publish(edge.topic("up"), sim.payload(1, n))
    assert await edge.next("ack") == {"v": 1, "applied_seq": n, "epoch": 1}
    await edge.client.publish(edge.topic("up"), sim.payload(1, n))  # a resend: duplicate
    assert await edge.next("ack") == {"v": 1, "applied_seq": n, "epoch": 1}

    status, body = await admin.call("PUT", "/api/v1/catalog/items/N-01?stores=s1",
                                    {**ITEM, "price_cents": 3000})
    assert status == 200 and body["messages_sent"] == 1
    down = await edge.next("down")
    assert (down["from_cursor"], down["cursor"]) == (2, 3)
    assert down["changes"][0]["data"]["price_cents"] == 3000

    await edge.state(messages.death(1))
    await until(stores, lambda s: not s["s1"]["online"])
    metrics = await (await client.get(
        "/metrics", headers={"Authorization": f"Bearer {admin.token}"})).text()
    for line in (f"storenode_cloud_ingest_events_applied_total {float(n)}",
                 "storenode_cloud_ingest_duplicates_total 1.0",
                 "storenode_cloud_ingest_births_total 1.0",
                 "storenode_cloud_ingest_ack_seconds_count 2.0",  # the batch and its resend
                 "storenode_cloud_broker_connected 1.0"):
        assert line in metrics, line
