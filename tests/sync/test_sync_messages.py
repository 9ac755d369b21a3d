"""Sync protocol payloads and topics: built and validated the same way on both sides."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync import messages, topics
from sync.messages import MessageError


def event(seq: int, store: str = "s1") -> dict[str, object]:
    return {"event_id": f"01J{seq:023d}", "store": store, "seq": seq, "type": "order.placed",
            "v": 1, "at": "2026-11-23T00:00:00.000Z", "hlc": "0000000000001.00000", "data": {}}


def test_topics_round_trip_and_reject_foreign_names() -> None:
    name = topics.topic("acme", "canteen-01", "up")
    assert name == "storenode/v1/acme/canteen-01/up"
    parsed = topics.parse(name)
    assert parsed is not None and (parsed.tenant, parsed.store, parsed.kind) == (
        "acme", "canteen-01", "up")
    for bad in ("storenode/v1/acme/s1/other", "storenode/v2/acme/s1/up", "$SYS/broker",
                "storenode/v1/acme/+/up", "storenode/v1/acme/s1/up/extra"):
        assert topics.parse(bad) is None, bad
    with pytest.raises(ValueError):
        topics.topic("acme", "#", "up")
    assert topics.cloud_subscriptions()[0] == "$share/cloud/storenode/v1/+/+/up"


def test_up_batch_round_trip() -> None:
    batch = messages.up_batch("s1", [event(5), event(6)])
    parsed = messages.parse_up(messages.encode(batch), "s1")
    assert (parsed["first_seq"], parsed["last_seq"]) == (5, 6)


def test_a_spliced_up_payload_is_the_encoded_batch() -> None:
    """``up_payload`` (events encoded when committed, spliced) reads back as ``encode`` of
    the same batch, a store id that JSON escapes and an epoch included."""
    events = [{**event(n, 'st"\\1'), "data": {"name": "麻辣烫 \"x\"", "n": n}} for n in (7, 8)]
    spliced = messages.up_payload('st"\\1', 3, 7, 8,
                                  b",".join(json.dumps(e).encode() for e in events))
    assert json.loads(spliced) == json.loads(messages.encode(
        messages.up_batch('st"\\1', events, epoch=3)))
    parsed = messages.parse_up(spliced, 'st"\\1')
    assert (parsed["epoch"], parsed["first_seq"], parsed["last_seq"]) == (3, 7, 8)
    assert parsed["events"] == events


@pytest.mark.parametrize("payload", [
    b"not json", b"[]", b'{"v": 2}', json.dumps({"v": 1, "store": "s2"}).encode(),
    messages.encode({"store": "s1", "first_seq": 1, "last_seq": 2, "events": [event(1)]}),
    messages.encode({"store": "s1", "first_seq": 1, "last_seq": 2, "events": [event(1), event(3)]}),
    messages.encode({"store": "s1", "first_seq": 1, "last_seq": 1, "events": [event(1, "s2")]}),
    messages.encode({"store": "s1", "first_seq": 1, "last_seq": 1,
                     "events": [{**event(1), "data": "x"}]}),
    messages.encode({"store": "s1", "first_seq": True, "last_seq": 1, "events": [event(1)]}),
    # an envelope field of the wrong type: a bool is not an integer, nor a float
    *[messages.encode({"store": "s1", "first_seq": 1, "last_seq": 1,
                       "events": [{**event(1), field: value}]})
      for field, value in (("seq", True), ("seq", 1.0), ("v", False), ("v", 1.0),
                           ("event_id", 1), ("type", None), ("at", ["x"]), ("hlc", {}))],
])
def test_invalid_up_batches_are_rejected(payload: bytes) -> None:
    with pytest.raises(MessageError):
        messages.parse_up(payload, "s1")


def test_ack_down_and_state_validation() -> None:
    assert messages.parse_ack(messages.encode({"applied_seq": 9}))["applied_seq"] == 9
    assert messages.parse_ack(messages.encode({"resend_from": 3}))["resend_from"] == 3
    for bad in ({}, {"applied_seq": -1}, {"resend_from": 0}):
        with pytest.raises(MessageError):
            messages.parse_ack(messages.encode(bad))
    down = {"cursor": 2, "from_cursor": 1, "changes": [{"cursor": 2, "type": "catalog.item",
                                                        "data": {}}]}
    assert messages.parse_down(messages.encode(down))["cursor"] == 2
    with pytest.raises(MessageError):
        messages.parse_down(messages.encode({**down, "changes": [{"type": "x"}]}))
    assert messages.parse_state(messages.encode(messages.birth(3, 7, "0.1")))["online"]
    assert not messages.parse_state(messages.encode(messages.death(3)))["online"]
    with pytest.raises(MessageError):
        messages.parse_state(messages.encode({"online": "yes", "bd_seq": 1}))
    with pytest.raises(MessageError):
        messages.decode(b"x" * (messages.MAX_PAYLOAD + 1))


VALID: dict[str, tuple[Any, dict[str, Any]]] = {  # parser, a message it accepts
    "up": (lambda p: messages.parse_up(p, "s1"), messages.up_batch("s1", [event(1)])),
    "ack": (messages.parse_ack, {"applied_seq": 1}),
    "down": (messages.parse_down, {"cursor": 0, "from_cursor": 0, "changes": []}),
    "state": (messages.parse_state, messages.birth(1, 0, "0.1")),
}
EXTRA = {"deep": b"[" * 100_000 + b"]" * 100_000,  # the stdlib's RecursionError
         "nested": b"[" * 100 + b"]" * 100,        # orjson reads it; json.dumps would not at 1000
         "surrogate": b'{"note": "\\udc00"}'}      # no database stores it


@pytest.mark.parametrize("extra", list(EXTRA))
@pytest.mark.parametrize("kind", list(VALID))
def test_deep_nesting_and_lone_surrogates_are_invalid_messages(kind: str, extra: str) -> None:
    """Not a RecursionError (HQ logged it as a database error) nor a string no database
    stores: a MessageError, counted and dropped like any other invalid message."""
    parse, message = VALID[kind]
    payload = messages.encode(message)
    assert parse(payload) is not None
    with pytest.raises(MessageError):
        parse(payload[:-1] + b', "x": ' + EXTRA[extra] + b"}")


def test_down_changes_take_integers_only_as_ints() -> None:
    """A change from HQ with 5.0 or true where an integer belongs is refused like any invalid
    change (JSON Schema's own 'integer' accepts 5.0; the float would reach stock arithmetic)."""
    from sync.changes import check_change

    good = {"type": "stock.adjust", "data": {"sku": "A1", "delta": 5, "ref": "r1"}}
    assert check_change(good) is None
    for bad in (5.0, True, "5"):
        change = {"type": "stock.adjust", "data": {"sku": "A1", "delta": bad, "ref": "r1"}}
        assert (check_change(change) or "").startswith("invalid delta"), bad
