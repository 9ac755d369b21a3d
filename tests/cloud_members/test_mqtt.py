"""Member changes made while applying a batch are pushed at once to online stores, over a real
Mosquitto (shipped config and ACL), both backends: s2's new member and ledger entry reach s1,
s2's look-up gets s2 its lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cloud.db import CloudDb
from cloud.feed import FeedPublisher
from cloud.ingest import Ingest
from sync import messages, topics
from sync.mqtt import MqttClient
from tests.broker import Broker
from tests.integration.test_mqtt_client import USERS, broker, connected  # noqa: F401

from .conftest import MemberSim

A = "01JAAAAAAAAAAAAAAAAAAAAAAA"


class Store:
    def __init__(self, client: MqttClient, store: str) -> None:
        self.client, self.store = client, store
        self.acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.changes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        client.on_message = self._message

    def _message(self, topic: str, payload: bytes) -> None:
        if topic.endswith("/ack"):
            self.acks.put_nowait(messages.parse_ack(payload))
        else:
            for change in messages.parse_down(payload)["changes"]:
                self.changes.put_nowait(change)

    async def until(self, type_: str) -> dict[str, Any]:
        while True:
            change = await asyncio.wait_for(self.changes.get(), 10)
            if change["type"] == type_:
                return change

    async def publish(self, kind: str, message: dict[str, Any]) -> None:
        code = await self.client.publish(topics.topic("acme", self.store, kind),
                                         messages.encode(message), retain=kind == "state")
        assert code < 0x80


@pytest.fixture
async def link(broker: Broker, hq: CloudDb) -> AsyncIterator[Ingest]:  # noqa: F811
    client = await connected(broker, "cloud")
    feed = FeedPublisher(hq, client.publish)
    ingest = Ingest(hq, client.publish, feed=feed)
    client.on_message = ingest.dispatch
    try:
        assert await client.subscribe(topics.cloud_subscriptions()) == [1, 1]
        yield ingest
    finally:
        client.on_message = None
        await ingest.close()
        await client.close()
        await feed.close()


async def store(broker: Broker, name: str) -> Store:  # noqa: F811
    client = await connected(broker, name)
    found = Store(client, name)
    assert await client.subscribe([topics.topic("acme", name, k) for k in ("ack", "down")]) \
        == [1, 1]
    return found


async def test_member_changes_are_pushed_to_online_stores(
        broker: Broker, link: Ingest, hq: CloudDb, key: str) -> None:  # noqa: F811
    s1, s2 = await store(broker, "s1"), await store(broker, "s2")
    try:
        for edge in (s1, s2):
            await edge.publish("state", messages.birth(1, 0, "1.0.0"))
            assert (await edge.until("tenant.key"))["data"]["key"] == key
        sim = MemberSim("s2", key)
        sim.created(A, "+8613800138000", name="Zhao")
        sim.entry(A, 800)
        sim.emit("member.lookup", {"member": A})
        await s2.publish("up", messages.up_batch("s2", sim.events))
        assert await asyncio.wait_for(s2.acks.get(), 10) == {"v": 1, "applied_seq": 3}
        upsert = await s1.until("member.upsert")
        assert upsert["data"]["member"]["name"] == "Zhao"
        assert (await s1.until("ledger.entry"))["data"]["amount"] == 800
        lease = (await s2.until("lease.granted"))["data"]
        assert (lease["member"], lease["points"]) == (A, 400)  # lease_share_pct: 50 %
        assert s2.changes.empty()  # s2's own entry and member are not sent back to it
    finally:
        for edge in (s1, s2):
            await edge.client.close()
