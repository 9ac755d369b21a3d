"""The up payload built from the outbox: valid JSON, contiguous, within its byte budget."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from edge.syncer import sql as syncdb
from edge.db.group_commit import DbWriter, Tx

DISH = "\u9ebb\u8fa3\u9999\u9505\u52a0\u8fa3"  # 6 characters, 18 bytes of UTF-8


def _note(tx: Tx, n: int) -> None:
    tx.emit("test.noted", {"n": n, "name": DISH * 10, "quote": 'a "quoted" \\ name'})


async def test_batches_are_json_contiguous_and_within_max_bytes(writer: Any) -> None:
    first = writer.outbox.last_seq + 1
    for i in range(30):
        await writer.submit(_note, i)
    conn = sqlite3.connect(writer.path)
    try:
        after, seen = first - 1, []
        while (batch := syncdb.outbox_batch(conn, "test-store", after, 200, 2000)) is not None:
            body = json.loads(batch.payload)
            events = body["events"]
            assert body["first_seq"] == after + 1 and body["last_seq"] == batch.last_seq
            assert [e["seq"] for e in events] == list(range(after + 1, batch.last_seq + 1))
            # the budget is in bytes of UTF-8, not characters (one event is ~650 bytes here)
            assert len(events) == 1 or len(batch.payload) <= 2000, len(batch.payload)
            seen += events
            after = batch.last_seq
        assert [e["data"]["n"] for e in seen if e["type"] == "test.noted"] == list(range(30))
        assert all(e["data"]["name"] == DISH * 10 and e["store"] == "test-store" for e in seen)
        assert seen[-1]["data"]["quote"] == 'a "quoted" \\ name'
    finally:
        conn.close()


async def test_a_gap_in_the_outbox_stops_the_batch_before_it(writer: DbWriter) -> None:
    first = writer.outbox.last_seq + 1
    for i in range(5):
        await writer.submit(_note, i)
    conn = sqlite3.connect(writer.path)
    try:
        conn.execute("DELETE FROM outbox WHERE seq = ?", (first + 2,))
        conn.commit()
        batch = syncdb.outbox_batch(conn, "test-store", first - 1, 200, 256 * 1024)
        assert batch is not None and batch.last_seq == first + 1  # stops before the hole
        assert syncdb.outbox_batch(conn, "test-store", first + 1, 200, 256 * 1024) is None
    finally:
        conn.close()


async def test_the_one_query_batch_equals_the_event_by_event_batch(writer: DbWriter) -> None:
    """The fast path (one group_concat) and the per-event path give the same bytes, in seq
    order: the per-event path is what a batch over budget or with a gap is built from."""
    first = writer.outbox.last_seq + 1
    for i in range(250):
        await writer.submit(_note, i)
    conn = sqlite3.connect(writer.path)
    try:
        batch = syncdb.outbox_batch(conn, "test-store", first - 1, 200, 10**9)
        assert batch is not None and batch.last_seq == first + 199
        rows = conn.execute(syncdb._EVENT_JSON["outbox"], ('"test-store"', first - 1, 200)).fetchall()
        assert [r[0] for r in rows] == list(range(first, first + 200))
        head = b'{"v":1,"store":"test-store","epoch":1,"first_seq":%d,"last_seq":%d,"events":[' % (
            first, first + 199)
        assert batch.payload == head + b",".join(r[1] for r in rows) + b"]}"
        assert [e["seq"] for e in json.loads(batch.payload)["events"]] == [r[0] for r in rows]
    finally:
        conn.close()


async def test_events_without_a_stored_head_give_the_same_bytes(writer: DbWriter) -> None:
    """Events written before migration 0008 have no ``head``: the reader formats it from the
    columns, byte for byte what the outbox stores for a new event (and mixed batches too)."""
    first = writer.outbox.last_seq + 1
    for i in range(40):
        await writer.submit(_note, i)
    conn = sqlite3.connect(writer.path, isolation_level=None)
    try:
        heads = conn.execute("SELECT count(*) FROM outbox WHERE seq >= ? AND head IS NOT NULL",
                             (first,)).fetchone()[0]
        assert heads == 40
        stored = syncdb.outbox_batch(conn, "test-store", first - 1, 200, 10**9)
        conn.execute("UPDATE outbox SET head = NULL WHERE seq >= ? AND seq % 3 = 0", (first,))
        mixed = syncdb.outbox_batch(conn, "test-store", first - 1, 200, 10**9)
        small = syncdb.outbox_batch(conn, "test-store", first - 1, 200, 3000)  # per event
        conn.execute("UPDATE outbox SET head = NULL WHERE seq >= ?", (first,))
        formatted = syncdb.outbox_batch(conn, "test-store", first - 1, 200, 10**9)
        assert stored is not None and mixed is not None and formatted is not None
        assert stored.payload == mixed.payload == formatted.payload
        assert small is not None and small.last_seq < stored.last_seq

        def events(payload: bytes) -> bytes:
            return payload.split(b'"events":[', 1)[1][:-2]
        assert events(stored.payload).startswith(events(small.payload) + b",")
        assert json.loads(stored.payload)["events"][0]["seq"] == first
    finally:
        conn.close()
