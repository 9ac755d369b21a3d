"""Ingest and FeedPublisher on a real Mosquitto (shipped config and ACL), both backends.

An edge-like client ``s1`` publishes ``up`` batches and its birth; the cloud, wired as its
service will be (``client.on_message = ingest.dispatch``), applies, acks and replays.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from cloud.database import CloudDb
from cloud.sync.ingest import Ingest
from cloud.sync.publisher import FeedPublisher
from sync import messages, topics
from sync.mqtt import MqttClient, Will
from tests.broker import Broker
from tests.system.test_mqtt_client import broker, connected  # noqa: F401 (fixture)

from .sim import EdgeSim

T, S = "acme", "s1"


@dataclass
class Cloud:
    client: MqttClient
    ingest: Ingest
    feed: FeedPublisher


class Edge:
    """The store's side: its client and what arrives on its ack and down topics."""

    def __init__(self, client: MqttClient) -> None:
        self.client = client
        self.acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.downs: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        client.on_message = self._message

    def _message(self, topic: str, payload: bytes) -> None:
        if topic.endswith("/ack"):
            self.acks.put_nowait(messages.parse_ack(payload))
        else:
            self.downs.put_nowait(messages.parse_down(payload))

    async def up(self, payload: bytes, tenant: str = T) -> None:
        assert await self.client.publish(topics.topic(tenant, S, "up"), payload) < 0x80

    async def state(self, message: dict[str, Any]) -> None:
        name = topics.topic(T, S, "state")
        assert await self.client.publish(name, messages.encode(message), retain=True) < 0x80

    async def ack(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.acks.get(), 10)

    async def down(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.downs.get(), 10)


@pytest.fixture
async def cloud(broker: Broker, db: CloudDb) -> AsyncIterator[Cloud]:  # noqa: F811
    client = await connected(broker, "cloud")
    feed = FeedPublisher(db, client.publish, page_size=2)
    ingest = Ingest(db, client.publish, feed=feed, gap_wait_s=0.01)
    client.on_message = ingest.dispatch
    try:
        assert await client.subscribe(topics.cloud_subscriptions()) == [1, 1, 1]
        yield Cloud(client, ingest, feed)
    finally:
        await client.close()
        await ingest.close()
        await feed.close()


async def edge_client(broker: Broker, will_bd_seq: int | None = None) -> Edge:  # noqa: F811
    client = MqttClient(broker.url, "edge-s1", username=S, password="pw-s1", keepalive=1,
                        backoff=(0.1, 0.5))
    if will_bd_seq is not None:
        client.set_will(Will(topics.topic(T, S, "state"), messages.encode(
            messages.death(will_bd_seq))))
    edge = Edge(client)
    client.start()
    await asyncio.wait_for(client.connected.wait(), 10)
    assert await client.subscribe([topics.topic(T, S, "ack"), topics.topic(T, S, "down")]) \
        == [1, 1]
    return edge


async def test_batches_are_acked_after_commit_with_duplicates_and_gaps(
        broker: Broker, cloud: Cloud, db: CloudDb) -> None:  # noqa: F811
    edge = await edge_client(broker)
    sim = EdgeSim(S)
    sim.fill(60)
    try:
        for first in range(1, 41, 10):
            await edge.up(sim.payload(first, first + 9))
        assert [(await edge.ack())["applied_seq"] for _ in range(4)] == [10, 20, 30, 40]
        assert db.get_store(S)["applied_seq"] == 40  # type: ignore[index]
        await edge.up(sim.payload(21, 30))                      # a resend: duplicate
        assert await edge.ack() == {"v": 1, "applied_seq": 40, "epoch": 1}
        await edge.up(sim.payload(51, 60))                      # 41..50 lost: gap
        assert await edge.ack() == {"v": 1, "resend_from": 41, "applied_seq": 40, "epoch": 1}
        await edge.up(b"{not json")                             # dropped, counted, no ack
        await edge.up(sim.payload(41, 50), tenant="other")      # tenant mismatch: no ack
        await edge.up(sim.payload(41, 60))
        assert await edge.ack() == {"v": 1, "applied_seq": 60, "epoch": 1}
        counters = cloud.ingest.counters
        assert counters["events_applied"] == 60 and counters["batches_applied"] == 5
        assert (counters["duplicates"], counters["gaps"], counters["rejected"]) == (1, 1, 2)
        assert counters["gap_retries"] == cloud.ingest.gap_retries
        assert edge.acks.empty()
        stock = {r["sku"]: r["on_hand"] for r in db.store_inventory(S)}
        assert stock == sim.expected_stock
    finally:
        await edge.client.close()


async def test_birth_replays_the_feed_push_sends_new_changes_will_marks_offline(
        broker: Broker, cloud: Cloud, db: CloudDb) -> None:  # noqa: F811
    for sku in ("A", "B", "C"):
        db.put_catalog_item({"sku": sku, "name": sku, "price_cents": 100})
    edge = await edge_client(broker, will_bd_seq=1)
    await edge.state(messages.birth(1, 2, "1.0.0"))   # applied: the tenant key (1) and A
    replay = await edge.down()
    assert (replay["from_cursor"], replay["cursor"], replay["snapshot"]) == (2, 4, False)
    assert [c["data"]["sku"] for c in replay["changes"]] == ["B", "C"]
    assert db.get_store(S)["online"]  # type: ignore[index]

    cursors = db.put_catalog_item({"sku": "D", "name": "D", "price_cents": 100}, [S])
    assert cursors == {S: 5} and await cloud.feed.push(cursors) == 1
    pushed = await edge.down()
    assert (pushed["from_cursor"], pushed["cursor"]) == (4, 5)
    assert [c["data"]["sku"] for c in pushed["changes"]] == ["D"]

    await edge.state(messages.birth(1, 0, "1.0.0"))   # same session, asks from 0 again
    pages = [await edge.down() for _ in range(3)]     # page_size 2
    assert [(p["from_cursor"], p["cursor"]) for p in pages] == [(0, 2), (2, 4), (4, 5)]
    assert edge.downs.empty() and cloud.feed.counters["messages"] == 5

    await edge.client.close(graceful=False)           # connection lost: the broker sends the Will
    for _ in range(300):  # the broker notices after 1.5 keepalives (and its own timer)
        if cloud.ingest.counters["deaths"]:
            break
        await asyncio.sleep(0.05)
    info = db.get_store(S)
    assert info is not None and not info["online"] and info["paused_channels"]
    assert cloud.ingest.counters["births"] == 2 and cloud.ingest.counters["deaths"] == 1
    assert await cloud.feed.push(db.put_catalog_item({"sku": "E", "name": "E"})) == 0


async def test_snapshot_replay_validates_and_bad_topics_are_counted(
        broker: Broker, cloud: Cloud, db: CloudDb) -> None:  # noqa: F811
    for n in range(5):
        db.put_catalog_item({"sku": f"I{n}", "name": "x", "price_cents": n})
    db.put_quotas("I0", {"meituan": 2})
    edge = await edge_client(broker)
    try:
        assert await cloud.feed.replay(T, S, 7 + 1) == 4  # the edge is ahead: snapshot
        pages = [await edge.down() for _ in range(4)]      # the tenant key, 5 items, quotas
        assert [(p["snapshot"], p["from_cursor"], p["cursor"]) for p in pages] == [
            (True, 0, 8), (True, 0, 8), (True, 0, 8), (True, 0, 7)]
        assert [c["type"] for p in pages for c in p["changes"]][-1] == "inventory.quotas"
        cloud.ingest.dispatch("storenode/v1/acme/s1/ack", b"{}")
        cloud.ingest.dispatch("not/a/topic", b"{}")
        assert await cloud.ingest.handle("storenode/v1/acme/s1/state", b"{}") is None
        assert cloud.ingest.counters["invalid_topic"] == 3
        assert await cloud.ingest.handle_state(topics.topic(T, S, "state"), b"[]") is not None
        assert cloud.ingest.counters["states_ignored"] == 1
        assert await cloud.feed.replay(T, "nobody", 0) == 0
        assert cloud.feed.counters["unknown_store"] == 1
    finally:
        await edge.client.close()


async def test_a_failing_database_is_counted_and_nothing_is_acked(
        broker: Broker, cloud: Cloud, db: CloudDb) -> None:  # noqa: F811
    edge = await edge_client(broker)
    sim = EdgeSim(S)
    sim.fill(5)
    db.close()  # every call fails from now on
    try:
        await edge.up(sim.payload(1, 5))
        await edge.state(messages.birth(1, 0, "1.0.0"))
        for _ in range(200):
            if cloud.ingest.counters["db_errors"] == 2:
                break
            await asyncio.sleep(0.02)
        assert cloud.ingest.counters["db_errors"] == 2
        await asyncio.sleep(0.2)
        assert edge.acks.empty() and edge.downs.empty()
    finally:
        await edge.client.close()


async def test_another_store_can_neither_join_the_clouds_group_nor_take_a_session(
        broker: Broker, cloud: Cloud, db: CloudDb) -> None:  # noqa: F811
    """ARCHITECTURE §3 inv. 6: store s2, with its own real credentials, keeps asking for the
    cloud's shared group (which would route every other batch of s1 to it, to be dropped),
    '#' and '$SYS/#', and tries to connect as s1's edge. Every SUBSCRIBE is refused when it is
    asked, the takeover is refused at CONNECT, and all 100 batches of s1 are applied in order
    with no resend, while s1 stays connected and online."""
    victim = await edge_client(broker, will_bd_seq=1)
    await victim.state(messages.birth(1, 0, "1.0.0"))
    thief = await connected(broker, "s2")
    wanted = ["$share/cloud/storenode/v1/+/+/up", "#", "$SYS/#"]

    async def attack() -> None:
        while True:
            assert await thief.subscribe(wanted) == [0x87] * len(wanted)
            await asyncio.sleep(0.005)

    attacker = asyncio.create_task(attack())
    sim = EdgeSim(S)
    sim.fill(100)
    try:
        for first in range(1, 101):
            await victim.up(sim.payload(first, first))
        acks = [await victim.ack() for _ in range(100)]
        assert [a["applied_seq"] for a in acks] == list(range(1, 101))
        assert not any("resend_from" in a for a in acks)
        assert not attacker.done()  # still refused on every try, not crashed
        takeover = MqttClient(broker.url, "edge-s1", username="s2", password="pw-s2",
                              backoff=(0.1, 0.2))
        takeover.start()
        await asyncio.sleep(1.5)  # a fired Will would have reached HQ well within this
        assert not takeover.connected.is_set() and takeover.last_error
        await takeover.close()
        assert victim.client.connected.is_set() and victim.client.connects == 1
        assert db.get_store(S)["online"]  # type: ignore[index]
        assert cloud.ingest.counters["events_applied"] == 100
    finally:
        attacker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await attacker
        await thief.close()
        await victim.client.close()
