"""The edge's sync coordinator against a real Mosquitto (shipped config and ACL).

The HQ side here is a small protocol peer written in the test (it applies in seq
order and acks like the spec says), so each edge rule can be provoked on purpose:
lost acks, gaps, resend_from, a down-feed gap, a replayed down message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge.app import create_app
from edge.config import load_settings
from sync import messages, topics
from sync.mqtt import MqttClient
from tests.broker import Broker
from tests.conftest import Api, login_as
from tests.helpers import make_store

USERS = {"s1": "pw-s1", "cloud": "pw-cloud"}
SKUS = ("C003", "C004", "C005", "S001", "S002")
T = {kind: topics.topic("acme", "s1", kind) for kind in topics.KINDS}


class Peer:
    """Minimal HQ: records up batches, applies in order, acks (unless told not to)."""

    def __init__(self, client: MqttClient) -> None:
        self.client = client
        self.applied = 0
        self.events: list[dict[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        self.batches = 0
        self.ack = True
        self.changed = asyncio.Event()
        client.on_message = self._message

    def _message(self, topic: str, payload: bytes) -> None:
        if topic.endswith("/state"):
            self.states.append(messages.parse_state(payload))
        elif topic.endswith("/up"):
            batch = messages.parse_up(payload, "s1")
            self.batches += 1
            if batch["first_seq"] > self.applied + 1:
                reply: dict[str, Any] = {"resend_from": self.applied + 1,
                                         "applied_seq": self.applied}
            else:
                for event in batch["events"]:
                    if event["seq"] == self.applied + 1:
                        self.events.append(event)
                        self.applied += 1
                reply = {"applied_seq": self.applied}
            if self.ack:
                self.client.publish_nowait(T["ack"], messages.encode(reply))
        self.changed.set()

    async def wait(self, predicate: Any, timeout: float = 10) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(loop(), timeout)

    def down(self, from_cursor: int, changes: list[dict[str, Any]], snapshot: bool = False) -> None:
        cursor = changes[-1]["cursor"] if changes else from_cursor
        self.client.publish_nowait(T["down"], messages.encode(
            {"from_cursor": from_cursor, "cursor": cursor, "snapshot": snapshot,
             "changes": changes}))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker", USERS)
    b.start()
    yield b
    b.kill()


@pytest.fixture
async def peer(broker: Broker) -> AsyncIterator[Peer]:
    client = MqttClient(broker.url, "cloud-test", username="cloud", password=USERS["cloud"],
                        keepalive=5, backoff=(0.1, 0.5))
    p = Peer(client)
    client.start()
    await asyncio.wait_for(client.connected.wait(), 10)
    await client.subscribe([T["up"], T["state"]])
    yield p
    await client.close()


async def edge_client(tmp_path: Path, broker: Broker, aiohttp_client: Any,
                      store_dir: Path | None = None) -> TestClient:
    data = store_dir or make_store(tmp_path / "s1", "s1")
    env = {"STORENODE_SYNC_BROKER": broker.url, "STORENODE_SYNC_USERNAME": "s1",
           "STORENODE_SYNC_PASSWORD": USERS["s1"], "STORENODE_SYNC_KEEPALIVE_S": "5",
           "STORENODE_SYNC_BATCH_MAX": "50"}
    client: TestClient = await aiohttp_client(create_app(load_settings(data, env)))
    return client


async def place(api: Api, n: int, prefix: str) -> None:
    for i in range(n):
        status, body = await api.post("/api/v1/orders", {"channel": "pos", "lines": [
            {"sku": SKUS[i % len(SKUS)], "qty": 1}]}, headers={"Idempotency-Key": f"{prefix}-{i:06d}"})
        assert status == 201, body


async def health(client: TestClient) -> dict[str, Any]:
    resp = await client.get("/api/v1/health")
    return dict((await resp.json())["sync"])


async def test_offline_backlog_is_sent_in_order_acked_and_recorded(
        tmp_path: Path, broker: Broker, peer: Peer, aiohttp_client: Any) -> None:
    data = make_store(tmp_path / "s1", "s1")
    client = await edge_client(tmp_path, broker, aiohttp_client, data)
    api = await login_as(client, "manager")
    await place(api, 120, "a")
    last = (await health(client))["last_seq"]
    await peer.wait(lambda: peer.applied >= last)
    assert [e["seq"] for e in peer.events] == list(range(1, last + 1))
    assert len({e["event_id"] for e in peer.events}) == last
    assert peer.states[0]["online"] and peer.states[0]["bd_seq"] == 1
    for _ in range(100):
        if (await health(client))["applied_seq"] == last:
            break
        await asyncio.sleep(0.05)
    sync = await health(client)
    assert sync["connected"] and sync["pending"] == 0 and sync["applied_seq"] == last
    await client.close()
    # clean shutdown published a death with the same bd_seq
    await peer.wait(lambda: not peer.states[-1]["online"])
    assert peer.states[-1]["bd_seq"] == 1


async def test_unacked_events_are_resent_after_reconnect(
        tmp_path: Path, broker: Broker, peer: Peer, aiohttp_client: Any) -> None:
    peer.ack = False
    data = make_store(tmp_path / "s1", "s1")
    client = await edge_client(tmp_path, broker, aiohttp_client, data)
    api = await login_as(client, "manager")
    await place(api, 10, "b")
    await peer.wait(lambda: peer.applied >= 10)
    await client.close()  # nothing acked: all of it must come again in the next session
    peer.ack, peer.applied, peer.events = True, 0, []
    client = await edge_client(tmp_path, broker, aiohttp_client, data)
    last = (await health(client))["last_seq"]
    await peer.wait(lambda: peer.applied >= last)
    assert [e["seq"] for e in peer.events] == list(range(1, last + 1))
    assert peer.states[-1]["bd_seq"] == 2  # a new session, a new bd_seq
    await client.close()


async def test_resend_from_rewinds_and_invalid_acks_are_ignored(
        tmp_path: Path, broker: Broker, peer: Peer, aiohttp_client: Any) -> None:
    client = await edge_client(tmp_path, broker, aiohttp_client)
    api = await login_as(client, "manager")
    await place(api, 5, "c")
    last = (await health(client))["last_seq"]
    await peer.wait(lambda: peer.applied >= last)
    for junk in (b"", b"{", b'{"v":1}', b'{"v":1,"applied_seq":-1}', b'{"v":1,"applied_seq":1e9}',
                 json.dumps({"v": 1, "applied_seq": 10**9}).encode()):
        peer.client.publish_nowait(T["ack"], junk)
    # HQ lost the tail (e.g. restored from a backup): it asks for everything after seq 2
    peer.applied, peer.events = 2, []
    peer.client.publish_nowait(T["ack"], messages.encode({"resend_from": 3, "applied_seq": 2}))
    await place(api, 1, "c2")
    last = (await health(client))["last_seq"]
    await peer.wait(lambda: peer.applied >= last)
    assert [e["seq"] for e in peer.events] == list(range(3, last + 1))
    sync = await health(client)
    assert sync["connected"]
    await client.close()


async def test_down_feed_applies_once_keeps_sold_out_and_asks_replay_on_gap(
        tmp_path: Path, broker: Broker, peer: Peer, aiohttp_client: Any) -> None:
    client = await edge_client(tmp_path, broker, aiohttp_client)
    api = await login_as(client, "manager")
    await peer.wait(lambda: peer.states)
    status, _ = await api.call("PATCH", "/api/v1/catalog/items/C001", {"available": False})
    assert status == 200
    item = {"sku": "C001", "name": "麻辣香锅(大)", "category": "hot", "station": "wok",
            "price_cents": 3100, "channel_prices": {"meituan": 3500}}
    change = [{"cursor": 1, "type": "catalog.item", "data": item},
              {"cursor": 2, "type": "stock.adjust", "data": {"sku": "C002", "delta": -5,
                                                             "reason": "stocktake"}},
              {"cursor": 3, "type": "catalog.item", "data": {"sku": "X9", "name": 5}},
              {"cursor": 4, "type": "catalog.item",
               "data": {"sku": "N1", "name": "新品", "category": "new", "station": "bar",
                        "price_cents": 900}}]
    peer.down(0, change)
    peer.down(0, change)  # the same message again: harmless
    for _ in range(100):
        if (await health(client))["down_cursor"] == 4:
            break
        await asyncio.sleep(0.05)
    _, got = await api.get("/api/v1/catalog/items/C001")
    assert got["price_cents"] == 3100 and got["channel_prices"] == {"meituan": 3500}
    assert got["available"] is False  # the store's sold-out toggle survives HQ's change
    _, new = await api.get("/api/v1/catalog/items/N1")
    assert new["available"] is True
    _, inventory = await api.get("/api/v1/inventory")
    assert {r["sku"]: r["on_hand"] for r in inventory}["C002"] == 95  # -5 once, not twice
    await peer.wait(lambda: any(e["type"] == "sync.change_rejected" for e in peer.events))
    rejected = [e["data"] for e in peer.events if e["type"] == "sync.change_rejected"]
    assert [r["cursor"] for r in rejected] == [3]
    births = len([s for s in peer.states if s["online"]])
    peer.down(7, [{"cursor": 8, "type": "inventory.quotas",
                   "data": {"sku": "C001", "quotas": {"meituan": 3}}}])
    await peer.wait(lambda: len([s for s in peer.states if s["online"]]) > births)
    assert peer.states[-1]["applied_down_cursor"] == 4  # re-birth: "replay from 4"
    for junk in (b"null", b'{"v":1,"cursor":"x"}', b'{"v":2}'):
        peer.client.publish_nowait(T["down"], junk)
    peer.down(4, [{"cursor": 5, "type": "inventory.quotas",
                   "data": {"sku": "C001", "quotas": {"meituan": 3}}}])
    for _ in range(100):
        if (await health(client))["down_cursor"] == 5:
            break
        await asyncio.sleep(0.05)
    _, inventory = await api.get("/api/v1/inventory")
    assert {r["sku"]: r for r in inventory}["C001"]["quotas"]["meituan"]["limit"] == 3
    await client.close()


async def test_snapshot_restates_catalog_but_applies_each_stock_delta_once(
        tmp_path: Path, broker: Broker, peer: Peer, aiohttp_client: Any) -> None:
    client = await edge_client(tmp_path, broker, aiohttp_client)
    api = await login_as(client, "manager")
    await peer.wait(lambda: peer.states)
    peer.down(0, [{"cursor": 1, "type": "stock.adjust",
                   "data": {"sku": "C002", "delta": -10, "reason": "stocktake"}}])
    for _ in range(100):
        if (await health(client))["down_cursor"] == 1:
            break
        await asyncio.sleep(0.05)
    item = {"sku": "C001", "name": "香锅", "category": "hot", "station": "wok",
            "price_cents": 2950}
    # the edge is "far behind": HQ sends the current state, in two pages
    peer.down(0, [{"cursor": 5, "type": "catalog.item", "data": item},
                  {"cursor": 1, "type": "stock.adjust",  # already applied: must not repeat
                   "data": {"sku": "C002", "delta": -10, "reason": "stocktake"}}], snapshot=True)
    peer.down(0, [{"cursor": 6, "type": "stock.adjust",
                   "data": {"sku": "C002", "delta": 3, "reason": "receipt"}}], snapshot=True)
    for _ in range(100):
        if (await health(client))["down_cursor"] == 6:
            break
        await asyncio.sleep(0.05)
    _, got = await api.get("/api/v1/catalog/items/C001")
    assert got["price_cents"] == 2950
    _, inventory = await api.get("/api/v1/inventory")
    assert {r["sku"]: r["on_hand"] for r in inventory}["C002"] == 100 - 10 + 3
    await client.close()
