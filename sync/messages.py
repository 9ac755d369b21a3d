"""Payloads of the sync protocol: built and validated here, on both sides.

Every payload is a JSON object with ``"v": 1``. A payload that fails validation
raises :class:`MessageError`; consumers count and drop it, never crash.
"""

from __future__ import annotations

import json
from typing import Any, Final

from common import wire

VERSION: Final = 1
MAX_PAYLOAD: Final = 4 * 1024 * 1024
ENVELOPE_FIELDS: Final[dict[str, type | tuple[type, ...]]] = {
    "event_id": str, "store": str, "seq": int, "type": str, "v": int, "at": str, "hlc": str,
    "data": dict,
}


# change types that are state, kept per key at HQ and restated by a snapshot (the tenant key
# first, items before quotas: quotas of an unknown item would be refused). A snapshot's state
# is applied whatever its cursor (an upsert to HQ's current value); every other type is a
# delta, applied once, by its cursor, however it comes (docs/sync-protocol.md)
STATE_KINDS: Final = ("tenant.key", "catalog.item", "inventory.quotas", "loyalty.rules",
                      "coupon.template", "price_rule")


class MessageError(ValueError):
    """A payload that is not a valid protocol message."""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps({"v": VERSION, **message}, ensure_ascii=False,
                      separators=(",", ":")).encode()


def decode(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD:
        raise MessageError("payload too large")
    try:
        message = wire.loads(payload)
    except ValueError as exc:  # too deep and lone surrogates too: wire.loads
        raise MessageError(str(exc)) from exc
    if not isinstance(message, dict):
        raise MessageError("payload is not an object")
    if message.get("v") != VERSION:
        raise MessageError(f"unsupported version {message.get('v')!r}")
    return message


def _int(message: dict[str, Any], key: str, minimum: int = 0) -> int:
    value = message.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise MessageError(f"{key} must be an integer >= {minimum}")
    return value


def check_event(event: Any, store: str) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise MessageError("event is not an object")
    for key, kind in ENVELOPE_FIELDS.items():
        value = event.get(key)
        if type(value) is not kind and (not isinstance(value, kind) or isinstance(value, bool)):
            raise MessageError(f"event.{key} missing or of the wrong type")
    if event["store"] != store:
        raise MessageError("event store differs from the batch store")
    if event["seq"] < 1:
        raise MessageError("event seq must be >= 1")
    return event


def up_batch(store: str, events: list[dict[str, Any]], epoch: int = 1) -> dict[str, Any]:
    return {"store": store, "epoch": epoch, "first_seq": events[0]["seq"],
            "last_seq": events[-1]["seq"], "events": events}


def up_payload(store: str, epoch: int, first_seq: int, last_seq: int, events: bytes) -> bytes:
    """The ``up`` payload of events already encoded (each event's JSON object, joined by
    commas), spliced in rather than decoded and encoded again: how a store sends its outbox,
    whose events are stored as JSON when they are committed."""
    return b'{"v":%d,"store":%s,"epoch":%d,"first_seq":%d,"last_seq":%d,"events":[%s]}' % (
        VERSION, wire.dumps(store).encode(), epoch, first_seq, last_seq, events)


def parse_up(payload: bytes, topic_store: str) -> dict[str, Any]:
    """A batch of outbox events: contiguous seqs, every event of the topic's store."""
    message = decode(payload)
    if message.get("store") != topic_store:
        raise MessageError("batch store differs from the topic")
    first, last = _int(message, "first_seq", 1), _int(message, "last_seq", 1)
    message.setdefault("epoch", 1)  # a box from before epochs: the store's first
    _int(message, "epoch", 1)
    events = message.get("events")
    if not isinstance(events, list) or not events or len(events) != last - first + 1:
        raise MessageError("events must be a non-empty list matching first_seq..last_seq")
    for offset, event in enumerate(events):
        check_event(event, topic_store)
        if event["seq"] != first + offset:
            raise MessageError("event seqs are not contiguous")
    return message


def parse_ack(payload: bytes) -> dict[str, Any]:
    """``{applied_seq}``, ``{resend_from, applied_seq}``, and either with or alone
    ``rebirth: true``: HQ asks the store to publish its birth again (HQ's own reconnect).
    ``epoch``: the box the ack is for (absent: from an HQ before epochs, the store's box);
    ``superseded: true``: that box was replaced (ARCHITECTURE §4e)."""
    message = decode(payload)
    if "epoch" in message:
        _int(message, "epoch", 1)
    if "superseded" in message and message["superseded"] is not True:
        raise MessageError("superseded must be true")
    if "resend_from" in message:
        _int(message, "resend_from", 1)
    if "applied_seq" in message:
        _int(message, "applied_seq", 0)
    if "rebirth" in message and message["rebirth"] is not True:
        raise MessageError("rebirth must be true")
    if not message.keys() & {"resend_from", "applied_seq", "rebirth", "superseded"}:
        raise MessageError("ack needs applied_seq, resend_from, rebirth or superseded")
    return message


def reconnect_ack(applied_seq: int, epoch: int = 1) -> dict[str, Any]:
    """What HQ sends every store on each of its (re)connects: resend what HQ has not applied
    (batches published while no HQ was subscribed are gone), and publish the birth again, so
    that HQ sees the store's presence confirmed instead of trusting a retained birth. For the
    store's current box (``epoch``): a superseded box that hears it knows it was replaced."""
    return {"resend_from": applied_seq + 1, "applied_seq": applied_seq, "rebirth": True,
            "epoch": epoch}


def superseded_ack(epoch: int, applied_seq: int) -> dict[str, Any]:
    """To a replaced box: what HQ applied of its events, send the rest (it drains)."""
    return {"epoch": epoch, "superseded": True, "applied_seq": applied_seq,
            "resend_from": applied_seq + 1}


def parse_down(payload: bytes) -> dict[str, Any]:
    message = decode(payload)
    _int(message, "cursor", 0)
    _int(message, "from_cursor", 0)
    changes = message.get("changes")
    if not isinstance(changes, list):
        raise MessageError("changes must be a list")
    for change in changes:
        if not isinstance(change, dict) or not isinstance(change.get("type"), str) \
                or not isinstance(change.get("data"), dict):
            raise MessageError("change needs type and data")
        _int(change, "cursor", 1)
    for flag in ("snapshot", "reset"):
        if not isinstance(message.get(flag, False), bool):
            raise MessageError(f"{flag} must be a boolean")
    if "epoch" in message:  # the store's current box (absent: an HQ before epochs)
        _int(message, "epoch", 1)
    return message


def birth(bd_seq: int, applied_down_cursor: int, version: str,
          outbox_seq: int = 0, keepalive: int | None = None, epoch: int = 1) -> dict[str, Any]:
    """``outbox_seq``: the edge's last event when it connected (HQ settles its leases once
    it has applied everything up to it). ``keepalive``: the edge's MQTT keepalive (s); a
    birth that states it comes from an edge that answers HQ's rebirth requests, and HQ
    marks it offline when it does not confirm within 1.5 x that keepalive."""
    found: dict[str, Any] = {
        "online": True, "bd_seq": bd_seq, "applied_down_cursor": applied_down_cursor,
        "version": version, "outbox_seq": outbox_seq, "epoch": epoch}
    if keepalive is not None:
        found["keepalive"] = keepalive
    return found


def death(bd_seq: int, epoch: int = 1) -> dict[str, Any]:
    return {"online": False, "bd_seq": bd_seq, "epoch": epoch}


def parse_state(payload: bytes) -> dict[str, Any]:
    message = decode(payload)
    if not isinstance(message.get("online"), bool):
        raise MessageError("online must be a boolean")
    _int(message, "bd_seq", 0)
    message.setdefault("epoch", 1)  # a box from before epochs
    _int(message, "epoch", 1)
    if message["online"]:
        _int(message, "applied_down_cursor", 0)
        message.setdefault("outbox_seq", 0)  # an edge from before settlements
        _int(message, "outbox_seq", 0)
        if "keepalive" in message:  # absent: an edge from before rebirth requests
            _int(message, "keepalive", 1)
        if "prior" in message:  # a box restored from a backup: how far the backup went
            prior = message["prior"]
            if not isinstance(prior, dict):
                raise MessageError("prior must be an object")
            _int(prior, "epoch", 1)
            _int(prior, "last_seq", 0)
    return message


# -- restoring a replacement box (ARCHITECTURE §4e): request on ``restore``, chunks on
# ``snapshot`` (both on the store's own topics)
_TOKEN_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyz-_")


def _token(message: dict[str, Any], key: str, optional: bool = False) -> str | None:
    value = message.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not set(value) <= _TOKEN_CHARS:
        raise MessageError(f"{key} must be 1-64 characters of [a-z0-9_-]")
    return value


def restore_request(request: str, epoch: int, snapshot: str | None = None,
                    from_chunk: int = 0) -> dict[str, Any]:
    """Ask HQ for the store's restore snapshot: all of it, or (``snapshot`` and
    ``from_chunk``) the rest of one an interrupted restore had begun."""
    found: dict[str, Any] = {"request": request, "epoch": epoch, "from_chunk": from_chunk}
    if snapshot is not None:
        found["snapshot"] = snapshot
    return found


def parse_restore_request(payload: bytes) -> dict[str, Any]:
    message = decode(payload)
    _token(message, "request")
    _token(message, "snapshot", optional=True)
    _int(message, "epoch", 1)
    _int(message, "from_chunk", 0)
    return message


def parse_snapshot(payload: bytes) -> dict[str, Any]:
    """One chunk ``{request, snapshot, chunk, chunks, section, rows}``, or ``{request,
    error}``: the box cannot be restored that way (``snapshot_gone``: start again)."""
    message = decode(payload)
    _token(message, "request")
    if "error" in message:
        if not isinstance(message["error"], str):
            raise MessageError("error must be a string")
        return message
    _token(message, "snapshot")
    _int(message, "chunks", 1)
    if _int(message, "chunk", 0) >= message["chunks"]:
        raise MessageError("chunk beyond chunks")
    if not isinstance(message.get("section"), str) or not isinstance(message.get("rows"), list):
        raise MessageError("a chunk needs section and rows")
    return message
