"""Issue 3 target: catch-up after an offline period of 100k events drains at >= 50 % of a bare
paho QoS 1 publish loop through the same broker with the same payloads, measured in one run.

- Store: 25k orders made offline by bulk SQL (4 outbox events each: 100k events).
- Bare (the baseline): a paho client publishes exactly the up payloads the edge will send
  (same 200-event batches, same bytes) in a QoS 1 publish loop (publish, wait for the PUBACK,
  next) to a paho subscriber on the same broker; time until the subscriber has every message.
  Also reported: the same payloads published all at once (the broker's ceiling).
- Edge drain (the target): the edge daemon starts with an "HQ" that acks every batch at
  once; time from the first up batch to the last ack.
- Drain with HQ (reported): the edge daemon starts with HQ (`storenode-cloud run`, SQLite) and the broker up;
  time from the edge serving until HQ has acknowledged every event (edge `sync.pending == 0`),
  i.e. read from SQLite, framed, published, applied at HQ in order, exactly once, acked.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.syncer import sql as syncdb
from edge.db.connection import open_reader
from sync import topics
from tests.helpers import request
from devtools.stack import TENANT, Hq, edge_daemon

from .bulkdb import build
from .plumbing import report

STORE = "bench-store"
ORDERS = 25_000
TARGET_RATIO = 0.50


def _payloads(db: Path, batch_max: int = 200) -> list[bytes]:
    conn = open_reader(db)
    try:
        out, after = [], 0
        while (batch := syncdb.outbox_batch(conn, STORE, after, batch_max, 256 * 1024)):
            out.append(batch.payload)
            after = batch.last_seq
        return out
    finally:
        conn.close()


def _bare_paho(hq: Hq, payloads: list[bytes], pipelined: bool) -> float:
    """Seconds to publish every payload QoS 1 and have a subscriber receive all of them.

    ``pipelined=False`` is the plain publish loop (publish, wait for its PUBACK, next);
    ``pipelined=True`` publishes everything at once and then waits (the broker's ceiling).
    """
    topic = topics.topic(TENANT, STORE, "up")
    got = threading.Event()
    received = 0

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        nonlocal received
        received += 1
        if received == len(payloads):
            got.set()

    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="bare-sub",
                      protocol=MQTTProtocolVersion.MQTTv5)
    sub.username_pw_set("cloud", hq.cloud_password())
    sub.on_message = on_message
    sub.connect("127.0.0.1", hq.broker_port)
    sub.loop_start()
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="bare-pub",
                      protocol=MQTTProtocolVersion.MQTTv5)
    pub.username_pw_set(STORE, hq.creds[STORE]["password"])
    pub.max_inflight_messages_set(100)
    pub.connect("127.0.0.1", hq.broker_port)
    pub.loop_start()
    try:
        sub.subscribe(topic, qos=1)[1]
        time.sleep(0.5)  # SUBACK
        started = time.perf_counter()
        if pipelined:
            infos = [pub.publish(topic, p, qos=1) for p in payloads]
            for info in infos:
                info.wait_for_publish(60)
        else:
            for p in payloads:
                pub.publish(topic, p, qos=1).wait_for_publish(60)
        assert got.wait(120), f"subscriber got {received} of {len(payloads)}"
        return time.perf_counter() - started
    finally:
        for client in (pub, sub):
            client.disconnect()
            client.loop_stop()


class Acker:
    """A bare paho "HQ" that acks each up batch at once (reads only its last_seq), so the
    edge's own drain (outbox read, framing, window, acks) is measured without HQ's apply."""

    LAST = re.compile(rb'"last_seq":(\d+)')

    def __init__(self, hq: Hq, events: int) -> None:
        self.events, self.done = events, threading.Event()
        self.first_at = self.last_at = 0.0
        self.ack_topic = topics.topic(TENANT, STORE, "ack")
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="acker",
                                  protocol=MQTTProtocolVersion.MQTTv5)
        self.client.username_pw_set("cloud", hq.cloud_password())
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", hq.broker_port)
        # acks are tiny packets: no Nagle delay (as sync.mqtt.MqttClient does for HQ)
        self.client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.loop_start()
        self.client.subscribe(topics.topic(TENANT, STORE, "up"), qos=1)

    def _message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        match = self.LAST.search(msg.payload[:200])
        assert match is not None
        last = int(match.group(1))
        if not self.first_at:
            self.first_at = time.perf_counter()
        client.publish(self.ack_topic, b'{"v":1,"applied_seq":%d}' % last, qos=0)  # as HQ
        if last == self.events:
            self.last_at = time.perf_counter()
            self.done.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_catch_up_drain_rate(tmp_path: Path) -> None:
    hq = Hq(tmp_path, [STORE])
    edge = edge_daemon(tmp_path, hq, STORE)
    counts = build(edge.data_dir, ORDERS)
    events = counts["outbox_last_seq"]
    payloads = _payloads(edge.data_dir / "storenode.db")
    mb = sum(map(len, payloads)) / 1e6
    hq.start_broker()
    try:
        bare_s = min(_bare_paho(hq, payloads, pipelined=False) for _ in range(3))
        burst_s = min(_bare_paho(hq, payloads, pipelined=True) for _ in range(3))
        acker = Acker(hq, events)
        try:
            edge.start()
            assert acker.done.wait(120), "the edge did not drain to the acker"
        finally:
            acker.close()
            edge.stop()
        publisher_s = acker.last_at - acker.first_at
        edge = edge_daemon(tmp_path, hq, STORE)  # the same store, its acked seq reset below
        _reset_acks(edge.data_dir)
        hq.start()
        edge.start()
        started = time.perf_counter()
        while True:
            _, health = request("GET", f"{edge.url}/api/v1/health")
            if health["sync"]["pending"] == 0 and health["sync"]["applied_seq"] == events:
                break
            assert time.perf_counter() - started < 600, health
            time.sleep(0.05)
        drain_s = time.perf_counter() - started
        _, stores = request("GET", f"{hq.url}/api/v1/stores", token=hq.token())
        assert stores[0]["applied_seq"] == events
    finally:
        edge.stop()
        hq.stop_all()
    ratio = bare_s / publisher_s
    report(f"catch-up of {events} events ({len(payloads)} batches, {mb:.1f} MB)", [
        ("bare paho QoS1 publish loop", f"{bare_s:6.2f} s  {events / bare_s:8.0f} ev/s"
                                         "  (publish, PUBACK, next; to a subscriber)"),
        ("bare paho QoS1 burst", f"{burst_s:6.2f} s  {events / burst_s:8.0f} ev/s"
                                  "  (all published at once: the broker's ceiling)"),
        ("edge drain to an instant acker", f"{publisher_s:6.2f} s  "
                                           f"{events / publisher_s:8.0f} ev/s"),
        ("edge drain, applied + acked by HQ", f"{drain_s:6.2f} s  {events / drain_s:8.0f} ev/s"
                                              "  (HQ on SQLite, one process)"),
        ("RATIO edge drain/bare", f"{ratio:.3f}  (target >= {TARGET_RATIO:.2f})"),
        ("ratio edge drain/burst", f"{burst_s / publisher_s:.3f}"),
        ("ratio with HQ apply/bare loop", f"{bare_s / drain_s:.3f}"),
    ])
    assert ratio >= TARGET_RATIO


def _reset_acks(data_dir: Path) -> None:
    """Forget the acker's acks so the real HQ gets the whole backlog."""
    conn = sqlite3.connect(data_dir / "storenode.db")
    try:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'outbox_acked_seq'")
        conn.commit()
    finally:
        conn.close()
