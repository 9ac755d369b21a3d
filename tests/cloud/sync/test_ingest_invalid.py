"""Ingest on both backends: a payload nested too deep or holding a lone UTF-16 surrogate is
an invalid message (counted as rejected or ignored, nothing applied), not a database error
(which leaves the batch unacknowledged, so the edge resends it for ever)."""

from __future__ import annotations

import json

import pytest

from cloud.database import CloudDb
from cloud.sync.ingest import Ingest
from sync import messages, topics

from .sim import EdgeSim

UP, STATE = topics.topic("acme", "s1", "up"), topics.topic("acme", "s1", "state")


def bad_batches() -> dict[str, bytes]:
    sim = EdgeSim("s1")
    sim.order()
    event = sim.events[0]
    deep = messages.encode(messages.up_batch("s1", [{**event, "data": {"order": "x"}}]))
    surrogate = messages.up_batch("s1", [{**event, "data": {**event["data"], "note": "\udc00"}}])
    return {"deep": deep.replace(b'"x"', b"[" * 50_000 + b"]" * 50_000),
            "surrogate": json.dumps({"v": 1, **surrogate}).encode()}  # ASCII: "\\udc00"


async def no_publish(topic: str, payload: bytes) -> int:
    raise AssertionError(f"nothing is acknowledged: {topic} {payload[:100]!r}")


@pytest.mark.parametrize("bad", ["deep", "surrogate"])
async def test_a_batch_no_one_can_read_or_store_is_rejected_not_a_db_error(db: CloudDb,
                                                                          bad: str) -> None:
    ingest = Ingest(db, no_publish)
    try:
        ack = await ingest.handle(UP, bad_batches()[bad])
    finally:
        await ingest.close()
    assert ack is not None and ack.kind == "rejected", ack
    assert (ingest.counters["rejected"], ingest.counters["db_errors"]) == (1, 0)
    assert db.store_events_count("s1") == 0


async def test_a_state_nested_too_deep_is_ignored_not_a_db_error(db: CloudDb) -> None:
    ingest = Ingest(db, no_publish)
    birth = messages.encode(messages.birth(1, 0, "0.1"))
    deep = birth[:-1] + b',"x":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    try:
        result = await ingest.handle_state(STATE, deep)
    finally:
        await ingest.close()
    assert result is not None and not result.accepted, result
    assert (ingest.counters["states_ignored"], ingest.counters["db_errors"]) == (1, 0)
