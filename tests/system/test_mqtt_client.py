"""The asyncio paho client against a real Mosquitto with the shipped config and the
dynamic-security ACL the cloud provisions."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.broker import dynsec
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


def client_id(user: str) -> str:
    """A store may only connect as its edge; the cloud's workers pick their own ids."""
    return f"cloud-test-{id(object())}" if user == "cloud" else dynsec.edge_client_id(user)


async def connected(broker: Broker, user: str, password: str | None = None) -> MqttClient:
    client = MqttClient(broker.url, client_id(user), username=user,
                        password=password or USERS[user], keepalive=5, backoff=(0.1, 0.5))
    client.start()
    await asyncio.wait_for(client.connected.wait(), 10)
    return client


async def test_store_talks_to_cloud_on_its_own_topics(broker: Broker) -> None:
    cloud, store = await connected(broker, "cloud"), await connected(broker, "s1")
    got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    cloud.on_message = lambda t, p: got.put_nowait((t, p))
    try:
        assert await cloud.subscribe(topics.cloud_subscriptions()) == [1, 1, 1]
        up = topics.topic("acme", "s1", "up")
        codes = await asyncio.gather(*[store.publish(up, b"%d" % i) for i in range(200)])
        assert set(codes) == {0}  # 0: delivered to a subscriber
        received = [await asyncio.wait_for(got.get(), 5) for _ in range(200)]
        assert [p for _, p in received] == [b"%d" % i for i in range(200)]
    finally:
        await store.close()
        await cloud.close()


# what a store may never subscribe to: the cloud's shared group (it would take turns and
# swallow other stores' batches), everything, the broker's internals, other stores' topics
FORBIDDEN = ("$share/cloud/storenode/v1/+/+/up", "$share/x/storenode/v1/+/+/up", "#",
             "$SYS/#", "storenode/v1/+/+/up", "storenode/v1/acme/s2/ack",
             "storenode/v1/acme/s2/down", "storenode/v1/acme/+/down", "storenode/v1/+/+/state",
             "$CONTROL/dynamic-security/v1/response")


async def test_acl_refuses_other_stores_topics_and_wildcards_at_subscribe(
        broker: Broker) -> None:
    store, cloud = await connected(broker, "s1"), await connected(broker, "cloud")
    leaked: asyncio.Queue[str] = asyncio.Queue()
    seen_by_cloud: asyncio.Queue[str] = asyncio.Queue()
    store.on_message = lambda t, p: leaked.put_nowait(t)
    cloud.on_message = lambda t, p: seen_by_cloud.put_nowait(t)
    try:
        await cloud.subscribe(topics.cloud_subscriptions())
        # refused when asked (v5 SUBACK 0x87), not merely filtered on delivery
        assert await store.subscribe(list(FORBIDDEN)) == [0x87] * len(FORBIDDEN)
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
        assert seen_by_cloud.empty() and leaked.empty()
    finally:
        await store.close()
        await cloud.close()


async def test_a_store_cannot_take_another_clients_session(broker: Broker) -> None:
    """Store s1's credentials with s2's (or the cloud's) client id are refused at CONNECT, so
    the session they name is never taken over and its Will never fires."""
    victim, cloud = await connected(broker, "s2"), await connected(broker, "cloud")
    try:
        for stolen in (dynsec.edge_client_id("s2"), cloud._client._client_id.decode()):
            thief = MqttClient(broker.url, stolen, username="s1", password=USERS["s1"],
                               backoff=(0.1, 0.2))
            thief.start()
            try:
                await asyncio.sleep(1)
                assert not thief.connected.is_set()
                assert thief.last_error and "not authorized" in thief.last_error.lower()
            finally:
                await thief.close()
        assert victim.connected.is_set() and victim.connects == 1
        assert cloud.connected.is_set() and cloud.connects == 1
    finally:
        await victim.close()
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


@pytest.mark.parametrize("manual", [True, False])
async def test_manual_ack_lets_the_broker_hold_what_a_busy_consumer_cannot_take(
        broker: Broker, manual: bool) -> None:
    """HQ acknowledges a batch to the broker only once it applied it (``manual_ack``): the
    shipped config's ``max_inflight_messages 100`` then bounds the messages a busy HQ holds,
    the rest wait in the broker, and nothing is lost. Without it, everything published lands
    in the consumer at once (the measured failure: an HQ worker grew to 6 GB under a
    1,000-store fleet and could not stop)."""
    cloud = MqttClient(broker.url, client_id("cloud"), username="cloud",
                       password=USERS["cloud"], keepalive=5, manual_ack=manual)
    cloud.start()
    await asyncio.wait_for(cloud.connected.wait(), 10)
    store = await connected(broker, "s1")
    release = asyncio.Event()
    held: list[bytes] = []
    seen: set[bytes] = set()
    most = 0

    def busy(_topic: str, payload: bytes) -> asyncio.Task[None]:
        nonlocal most
        held.append(payload)
        seen.add(payload)
        most = max(most, len(held))

        async def work() -> None:
            await release.wait()
            held.remove(payload)
        return asyncio.get_running_loop().create_task(work())

    cloud.on_message = busy
    try:
        await cloud.subscribe(topics.cloud_subscriptions())
        up = topics.topic("acme", "s1", "up")
        await asyncio.gather(*[store.publish(up, b"%d" % i) for i in range(300)])
        await asyncio.sleep(0.5)
        assert most == (100 if manual else 300), most
        assert len(seen) == most  # the others are still in the broker
        release.set()
        async with asyncio.timeout(10):  # the rest arrive as the first ones are done
            while len(seen) < 300 or held:
                await asyncio.sleep(0.05)
        assert seen == {b"%d" % i for i in range(300)}
    finally:
        await store.close()
        await cloud.close()
