"""The asyncio paho client against a real Mosquitto with the shipped config and ACL."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync import topics
from sync.mqtt import MqttClient
from tests.broker import Broker

USERS = {"s1": "pw-s1", "s2": "pw-s2", "cloud": "pw-cloud"}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker", USERS)
    b.start()
    yield b
    b.kill()


async def connected(broker: Broker, user: str, password: str | None = None) -> MqttClient:
    client = MqttClient(broker.url, f"{user}-test", username=user,
                        password=password or USERS[user], keepalive=5, backoff=(0.1, 0.5))
    client.start()
    await asyncio.wait_for(client.connected.wait(), 10)
    return client


async def test_store_talks_to_cloud_on_its_own_topics(broker: Broker) -> None:
    cloud, store = await connected(broker, "cloud"), await connected(broker, "s1")
    got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    cloud.on_message = lambda t, p: got.put_nowait((t, p))
    try:
        assert await cloud.subscribe(topics.cloud_subscriptions()) == [1, 1]
        up = topics.topic("acme", "s1", "up")
        codes = await asyncio.gather(*[store.publish(up, b"%d" % i) for i in range(200)])
        assert set(codes) == {0}  # 0: delivered to a subscriber
        received = [await asyncio.wait_for(got.get(), 5) for _ in range(200)]
        assert [p for _, p in received] == [b"%d" % i for i in range(200)]
    finally:
        await store.close()
        await cloud.close()


async def test_acl_refuses_other_stores_topics_and_wildcards(broker: Broker) -> None:
    store, cloud = await connected(broker, "s1"), await connected(broker, "cloud")
    leaked: asyncio.Queue[str] = asyncio.Queue()
    seen_by_cloud: asyncio.Queue[str] = asyncio.Queue()
    store.on_message = lambda t, p: leaked.put_nowait(t)
    cloud.on_message = lambda t, p: seen_by_cloud.put_nowait(t)
    try:
        await cloud.subscribe(["storenode/v1/+/+/up"])
        # Mosquitto 2.0 grants the SUBACK and enforces read ACLs on delivery (2.1 refuses
        # with 0x87): either way nothing of another store, of '#' or of $SYS may arrive.
        for name in ("storenode/v1/acme/s2/ack", "#", "$SYS/#", "storenode/v1/acme/+/down"):
            (code,) = await store.subscribe([name])
            assert code in (0, 1, 0x80, 0x87), (name, code)
        assert await store.subscribe([topics.topic("acme", "s1", "ack")]) == [1]
        await cloud.publish(topics.topic("acme", "s2", "ack"), b"for s2 only")
        await cloud.publish(topics.topic("acme", "s2", "down"), b"for s2 only")
        await cloud.publish(topics.topic("acme", "s1", "ack"), b"for s1")
        assert await asyncio.wait_for(leaked.get(), 5) == "storenode/v1/acme/s1/ack"
        # publishing as another store is refused by the broker (v5 PUBACK 0x87)
        code = await store.publish(topics.topic("acme", "s2", "up"), b"forged")
        assert code == 0x87
        await store.publish(topics.topic("acme", "s1", "up"), b"mine")
        assert await asyncio.wait_for(seen_by_cloud.get(), 5) == "storenode/v1/acme/s1/up"
        await asyncio.sleep(0.3)
        assert seen_by_cloud.empty()
        while not leaked.empty():  # '#' overlaps the store's own ack topic: that one may repeat
            assert leaked.get_nowait() == "storenode/v1/acme/s1/ack"
    finally:
        await store.close()
        await cloud.close()


async def test_wrong_password_is_refused(broker: Broker) -> None:
    client = MqttClient(broker.url, "intruder", username="s1", password="nope",
                        backoff=(0.1, 0.2))
    client.start()
    try:
        await asyncio.sleep(1)
        assert not client.connected.is_set()
        assert client.last_error and "refused" in client.last_error.lower()
    finally:
        await client.close()


async def test_reconnects_after_broker_sigkill(broker: Broker) -> None:
    store = await connected(broker, "s1")
    try:
        broker.kill()
        await asyncio.sleep(0.5)
        assert not store.connected.is_set()
        with pytest.raises(ConnectionError):
            await store.publish(topics.topic("acme", "s1", "up"), b"x")
        broker.start()
        await asyncio.wait_for(store.connected.wait(), 10)
        assert store.connects == 2
        assert await store.publish(topics.topic("acme", "s1", "up"), b"y") < 0x80
    finally:
        await store.close()



def test_paho_socket_callbacks_after_the_loop_closed_do_not_raise() -> None:
    """paho's ``__del__`` closes a leftover socket and calls our unregister-write callback,
    possibly after the client's loop was closed; that raised "Event loop is closed" from the
    garbage collector, failing an unrelated test through pytest's unraisable check."""
    client = MqttClient("mqtt://127.0.0.1:1", "gc-test")
    loop = asyncio.new_event_loop()
    client._loop = loop
    loop.close()
    # from another thread than the loop's, and from the loop's own thread (start() ran there)
    for loop_thread in (None, threading.get_ident()):
        client._loop_thread = loop_thread
        with socket.socket() as sock:
            client._register_write(client._client, None, sock)
            client._unregister_write(client._client, None, sock)
