"""Member changes made while applying a batch are pushed at once to online stores, over a real
Mosquitto (shipped config and ACL), both backends: s2's new member and ledger entry reach s1,
s2's look-up gets s2 its lease; a lease settlement at s1's birth pushes s2's shrink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cloud.database import CloudDb
from cloud.members.leases import LeasePolicy
from cloud.sync.ingest import Ingest
from cloud.sync.publisher import FeedPublisher
from sync import messages, topics
from sync.mqtt import MqttClient
from tests.broker import Broker
from tests.system.test_mqtt_client import USERS, broker, connected  # noqa: F401

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
        assert await client.subscribe(topics.cloud_subscriptions()) == [1, 1, 1]
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
        assert await asyncio.wait_for(s2.acks.get(), 10) == {"v": 1, "applied_seq": 3, "epoch": 1}
        upsert = await s1.until("member.upsert")
        assert upsert["data"]["member"]["name"] == "Zhao"
        assert (await s1.until("ledger.entry"))["data"]["amount"] == 800
        lease = (await s2.until("lease.granted"))["data"]
        assert (lease["member"], lease["points"]) == (A, 400)  # lease_share_pct: 50 %
        assert s2.changes.empty()  # s2's own entry and member are not sent back to it
    finally:
        for edge in (s1, s2):
            await edge.client.close()


async def _state(hq: CloudDb, edge: Store, message: dict[str, Any]) -> None:
    await edge.publish("state", message)
    for _ in range(200):  # the cloud handles states apart from batches: wait for this one
        found = hq.get_store(edge.store)
        if found is not None and found["bd_seq"] == message["bd_seq"] \
                and bool(found["online"]) == message["online"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"state {message} never recorded")


async def test_a_settlement_at_a_birth_pushes_the_shrink_of_another_store(
        broker: Broker, link: Ingest, hq: CloudDb, key: str) -> None:  # noqa: F811
    hq.set_lease_policy(LeasePolicy(lease_points=600, lease_share_pct=100))
    s1, s2 = await store(broker, "s1"), await store(broker, "s2")
    sims = {"s1": MemberSim("s1", key), "s2": MemberSim("s2", key)}

    async def up(edge: Store) -> None:
        sim = sims[edge.store]
        await edge.publish("up", messages.up_batch(edge.store, sim.events[sim.sent:]))
        sim.sent = len(sim.events)
        assert (await asyncio.wait_for(edge.acks.get(), 10))["applied_seq"] == sim.sent

    async def granted(edge: Store) -> dict[str, Any]:
        return (await edge.until("lease.granted"))["data"]  # type: ignore[no-any-return]

    try:
        for edge in (s1, s2):
            await _state(hq, edge, messages.birth(1, 0, "1.0.0"))
        sims["s1"].created(A, "+8613800138000")
        sims["s1"].entry(A, 1000)
        sims["s1"].emit("member.lookup", {"member": A})
        await up(s1)
        assert (await granted(s1))["points"] == 600
        sims["s2"].emit("member.lookup", {"member": A})
        await up(s2)
        shrink = await granted(s1)
        assert (shrink["points"], shrink["ack"]) == (500, True)
        sims["s1"].emit("lease.acked", {"lease_id": shrink["lease_id"], "rev": shrink["rev"]})
        await up(s1)
        assert [(await granted(s2))["points"] for _ in range(2)] == [400, 500]
        await _state(hq, s1, messages.death(1))
        sims["s1"].entry(A, -300, "redeem", lease_id=shrink["lease_id"])
        # a session that ends before its catch-up, then one with nothing more to send
        await _state(hq, s1, messages.birth(2, 0, "1.0.0", len(sims["s1"].events) + 5))
        await up(s1)
        await _state(hq, s1, messages.birth(3, 0, "1.0.0", len(sims["s1"].events)))
        pushed = await granted(s2)  # not replayed to s2: pushed because s1's birth settled
        assert (pushed["points"], pushed["ack"]) == (350, True)
    finally:
        for edge in (s1, s2):
            await edge.client.close()
