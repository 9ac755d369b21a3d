"""The edge end of the sync layer: outbox up, acks, birth/death, the HQ change feed down.

One coordinator (:class:`EdgeSync`) owns the MQTT client. Without a configured
broker the store runs offline and events wait in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from common.clock import iso, utc_now
from common.http.body import Validator
from common.price_rules import PRICE_RULE, RULE_ID
from common.schemas import CHANNEL, GUEST_ORDER, ITEM_PROPS, ORDER_LINE, QUOTAS, SKU
from common.vocabulary import CHANNELS, ID_KINDS, MAX_LINES
from sync import messages, topics
from sync.mqtt import MqttClient, Will
from sync.publisher import Batch, OutboxPublisher, retrieve

from edge import __version__, keys
from edge.api import schemas
from edge.members import rules as member_rules
from edge.catalog.rules import MOVEMENT_REASONS
from edge.syncer import sql as syncdb
from edge.tables import rules as table_rules
from edge.db.database import Database

if TYPE_CHECKING:
    from edge.config import Settings

log = logging.getLogger(__name__)

_RATE = {"type": "number", "minimum": 0, "maximum": 1000}
_CHANNEL_RATES = {"type": "object", "propertyNames": CHANNEL, "additionalProperties": _RATE}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_HQ_ITEM = {k: v for k, v in ITEM_PROPS.items() if k not in ("available", "track_stock")}
# what the edge accepts from HQ, per change type (extra fields are ignored: forward compatible)
CHANGE_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "catalog.item": {"type": "object", "required": ["sku", "name", "category", "station",
                                                    "price_cents"],
                     "properties": {"sku": SKU, **_HQ_ITEM}},
    "inventory.quotas": {"type": "object", "required": ["sku", "quotas"],
                         "properties": {"sku": SKU,
                                        "quotas": {**QUOTAS, "minProperties": 0}}},
    "stock.adjust": {"type": "object", "required": ["sku", "delta"],
                     "properties": {"sku": SKU,
                                    # 0: an HQ stocktake that found what HQ expected
                                    "delta": {"type": "integer", "minimum": -1_000_000,
                                              "maximum": 1_000_000},
                                    "reason": {"enum": list(MOVEMENT_REASONS)},
                                    "ref": {"type": ["string", "null"], "maxLength": 64}}},
}

# -- members (docs/members.md, "HQ -> edge changes") ---------------------------------------
_TIME = {"type": "string", "maxLength": 40,
         "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)(?!\n)$"}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 10**12}
_HLC = {"type": "string", "minLength": 1, "maxLength": 64}
_IDENTITY = {"type": "object", "required": ["kind", "idhash"], "properties": {
    "kind": {"enum": list(ID_KINDS)}, "idhash": schemas.IDHASH,
    "last4": {"type": ["string", "null"], "pattern": r"^[0-9]{4}(?!\n)$"}}}
# a shrink or revoke asks for ``lease.acked {lease_id, rev}`` (docs/members.md)
_LEASE_ACK = {"rev": {"type": "integer", "minimum": 1}, "ack": {"type": "boolean"}}
_PROFILE = {"name": {"type": ["string", "null"], "maxLength": 100},
            "birthday": {"type": ["string", "null"], **schemas.BIRTHDAY}}
CHANGE_SCHEMAS.update({
    "tenant.key": {"type": "object", "required": ["key"], "properties": {
        "key": {"type": "string", "pattern": r"^[A-Za-z0-9+/]{43}=(?!\n)$"}}},  # 32 bytes
    "member.upsert": {"type": "object", "required": ["member"], "properties": {
        "member": {"type": "object", "required": ["id", "hlc"], "properties": {
            "id": schemas.MEMBER_ID, "hlc": {**_HLC, "type": ["string", "null"]}, "origin": {"type": "string", "maxLength": 64},
            "created_at": _TIME, **_PROFILE}},
        "identities": {"type": "array", "maxItems": 20, "items": _IDENTITY}}},
    "member.merged": {"type": "object", "required": ["from", "into"], "properties": {
        "from": schemas.MEMBER_ID, "into": schemas.MEMBER_ID}},
    "ledger.entry": {"type": "object", "required": [
        "entry_id", "member", "account", "kind", "amount", "at", "hlc"], "properties": {
        "entry_id": schemas.REF, "member": schemas.MEMBER_ID,
        "account": {"enum": list(member_rules.ACCOUNTS)},
        "kind": {"enum": sorted({k for ks in member_rules.ENTRY_KINDS.values() for k in ks})},
        "amount": {"type": "integer", "minimum": -10**12, "maximum": 10**12},
        "store": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},  # null: HQ
        "order_id": {"type": ["string", "null"], "maxLength": 64},
        "lease_id": {"type": ["string", "null"], "maxLength": 64}, "at": _TIME, "hlc": _HLC}},
    "lease.granted": {"type": "object", "required": [
        "lease_id", "member", "points", "value", "per_txn_points", "per_txn_value",
        "expires_at"], "properties": {
        "lease_id": schemas.REF, "member": schemas.MEMBER_ID, "points": _COUNT, "value": _COUNT,
        "per_txn_points": _COUNT, "per_txn_value": _COUNT, "expires_at": _TIME,
        **_LEASE_ACK}, "dependentRequired": {"ack": ["rev"]}},
    "lease.revoked": {"type": "object", "required": ["lease_id"],
                      "properties": {"lease_id": schemas.REF, **_LEASE_ACK},
                      "dependentRequired": {"ack": ["rev"]}},
    "loyalty.rules": {"type": "object", "required": ["default"], "properties": {
        "default": _RATE, "channels": _CHANNEL_RATES,
        # the store's own entry (docs/members.md, "Earning rules"); others' are not sent
        "stores": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "multiplier": _RATE, "channels": _CHANNEL_RATES}}}}},
    "coupon.template": {"type": "object", "required": [
        "template_id", "kind", "value", "valid_from", "valid_to"], "properties": {
        "template_id": schemas.REF, "kind": {"enum": list(member_rules.COUPON_KINDS)},
        "value": _COUNT, "min_spend": {"type": ["integer", "null"], "minimum": 0},
        "sku": {"anyOf": [SKU, {"type": "null"}]},
        "channels": {"type": ["array", "null"], "items": CHANNEL},
        "stores": {"type": ["array", "null"], "items": {"type": "string", "maxLength": 64}},
        "valid_from": _TIME, "valid_to": _TIME,
        "exclusive_group": {"type": ["string", "null"], "maxLength": 64}},
        "if": {"properties": {"kind": {"const": "free_item"}}},
        "then": {"required": ["sku"], "properties": {"sku": SKU}},
        "else": {"if": {"properties": {"kind": {"const": "percent_off"}}},
                 "then": {"properties": {"value": {"maximum": 100}}}}},
    "coupon.issued": {"type": "object", "required": ["code", "template_id", "issued_at"],
                      "properties": {"code": schemas.COUPON_CODE, "template_id": schemas.REF,
                                     "member": {"anyOf": [schemas.MEMBER_ID, {"type": "null"}]},
                                     "issued_at": _TIME, "state": {"const": "issued"}}},
    "coupon.state": {"type": "object", "required": ["code", "state"], "properties": {
        "code": schemas.COUPON_CODE, "state": {"enum": list(member_rules.COUPON_STATES)},
        "redeemed_store": {"type": ["string", "null"], "maxLength": 64},
        "order_id": {"type": ["string", "null"], "maxLength": 64}}},
    "reco.pairs": {"type": "object", "required": ["pairs"], "properties": {
        "pairs": {"type": "array", "maxItems": 100_000, "items": {
            "type": "object", "required": ["a", "b", "support", "confidence", "lift"],
            "properties": {"a": SKU, "b": SKU, "support": _SHARE,
                           "confidence": _SHARE, "lift": {"type": "number", "minimum": 0}}}}}},
})
# a time-window price rule HQ set ({"id", "rule"}) or deleted ({"id", "deleted": true})
CHANGE_SCHEMAS["price_rule"] = {
    "type": "object", "required": ["id"], "properties": {
        "id": RULE_ID, "rule": PRICE_RULE, "deleted": {"const": True}},
    "oneOf": [{"required": ["rule"], "not": {"required": ["deleted"]}},
              {"required": ["deleted"], "not": {"required": ["rule"]}}]}
# a delivery-platform order HQ accepted, placed through the order center (cloud/platforms)
CHANGE_SCHEMAS["platform.order"] = {
    "type": "object", "required": ["platform", "platform_order_id", "channel", "lines",
                                   "idempotency_key"], "properties": {
        "platform": {"type": "string", "minLength": 1, "maxLength": 32},
        "platform_order_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "channel": {"enum": [c for c, kind in CHANNELS.items() if kind["platform"]]},
        "lines": {"type": "array", "minItems": 1, "maxItems": MAX_LINES,
                  "items": ORDER_LINE},
        "idempotency_key": {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{8,128}(?!\n)$"}}}
# a guest's order HQ relayed (cloud/guests): the table's token, the guest's key and body
CHANGE_SCHEMAS["guest.order"] = {
    "type": "object", "required": ["token", "idempotency_key", "body"], "properties": {
        "token": {"type": "string", "pattern": table_rules.TOKEN.pattern},
        "idempotency_key": {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{8,128}(?!\n)$"},
        "body": GUEST_ORDER}}
_VALIDATORS = {kind: Validator(schema) for kind, schema in CHANGE_SCHEMAS.items()}
PRUNE_EVERY_S: Final = 60.0
BIRTH_MIN_GAP_S: Final = 1.0


class EdgeSync:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db
        t, s = settings.tenant, settings.store_id
        self.topic = {kind: topics.topic(t, s, kind) for kind in topics.KINDS}
        self.client = MqttClient(
            settings.broker, f"edge-{s}", username=settings.broker_username or None,
            password=settings.broker_password or None, keepalive=settings.keepalive_s,
            ca_file=settings.ca_file or None,
        )
        self.client.before_connect = self._before_connect
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.publisher = OutboxPublisher(
            self, self._publish, self.topic["up"], db.acked_seq, batch_max=settings.batch_max,
            window=settings.window, ack_timeout_s=max(10.0, 2.0 * settings.keepalive_s),
        )
        self.bd_seq = 0
        self.down_cursor = 0
        self.counters = {"down_messages": 0, "down_invalid": 0, "down_gaps": 0,
                         "changes_applied": 0, "changes_rejected": 0}
        self._down: asyncio.Queue[bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._rebirths: set[asyncio.Task[None]] = set()  # answers to HQ's rebirth requests
        self._last_birth = 0.0

    # -- OutboxSource -------------------------------------------------------------
    def last_seq(self) -> int:
        return self.db.writer.outbox.last_seq

    async def batch_after(self, seq: int, limit: int, max_bytes: int) -> Batch | None:
        return await self.db.read(syncdb.outbox_batch, self.settings.store_id, seq, limit,
                                  max_bytes)

    async def record_ack(self, seq: int) -> None:
        stored = await self.db.write(syncdb.record_ack, seq)
        self.db.acked_seq = max(self.db.acked_seq, stored)

    # -- lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        state = await self.db.read(syncdb.sync_state)
        self.down_cursor = state["down_cursor"]
        self.client.start()
        self._tasks = [asyncio.create_task(self.publisher.run(), name="sync-publisher"),
                       asyncio.create_task(self._consume_down(), name="sync-down"),
                       asyncio.create_task(self._prune_loop(), name="sync-prune")]

    async def stop(self) -> None:
        if self.client.connected.is_set():  # a clean goodbye: the broker drops the Will
            death = messages.encode(messages.death(self.bd_seq))
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(2):
                    await self.client.publish(self.topic["state"], death, retain=True)
        tasks = [*self._tasks, *self._rebirths]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.publisher.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.publisher.flush_acks()
        await self.client.close()

    @property
    def connected(self) -> bool:
        return self.client.connected.is_set()

    # -- MQTT hooks ---------------------------------------------------------------
    async def _before_connect(self) -> Will:
        self.bd_seq = await self.db.write(syncdb.next_bd_seq)
        return Will(self.topic["state"], messages.encode(messages.death(self.bd_seq)))

    async def _on_connect(self) -> None:
        try:
            codes = await self.client.subscribe([self.topic["ack"], self.topic["down"]])
            if any(code >= 0x80 for code in codes):
                log.error("broker refused our ack/down subscriptions: %s", codes)
            await self._publish_birth()
        except ConnectionError as exc:
            log.warning("session set-up failed: %s", exc)
            return
        self.publisher.on_connected()

    def _on_disconnect(self) -> None:
        self.publisher.on_disconnected()

    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic == self.topic["ack"]:
            ack = self.publisher.on_ack(payload)
            if ack is not None and ack.get("rebirth"):
                self._answer_rebirth()
        elif topic == self.topic["down"]:
            self._down.put_nowait(payload)

    def _answer_rebirth(self) -> None:
        """HQ (re)connected and asks every store to confirm its presence: publish the birth
        again (same bd_seq, current cursor) at once; HQ marks a store that does not answer
        within 1.5 x its keepalive offline. Never rate-limited: a skipped answer would do so."""
        task = asyncio.get_running_loop().create_task(self._rebirth(), name="sync-rebirth")
        self._rebirths.add(task)
        task.add_done_callback(self._rebirths.discard)

    async def _rebirth(self) -> None:
        with contextlib.suppress(ConnectionError):  # the next session's birth says it all
            await self._publish_birth()

    async def _publish(self, topic: str, payload: bytes) -> int:
        future = self.client.publish_nowait(topic, payload)
        if future.done() and future.exception() is not None:
            raise ConnectionError(str(future.exception()))
        future.add_done_callback(retrieve)
        return 0

    async def _publish_birth(self) -> None:
        self._last_birth = time.monotonic()
        birth = messages.birth(self.bd_seq, self.down_cursor, __version__, self.last_seq(),
                               keepalive=self.settings.keepalive_s)
        await self.client.publish(self.topic["state"], messages.encode(birth), retain=True)

    def commit_listener(self) -> None:
        self.publisher.notify()

    # -- downstream -----------------------------------------------------------------
    async def _consume_down(self) -> None:
        while True:
            payload = await self._down.get()
            self.counters["down_messages"] += 1
            try:
                message = messages.parse_down(payload)
            except messages.MessageError as exc:
                self.counters["down_invalid"] += 1
                log.warning("invalid down message dropped: %s", exc)
                continue
            # a snapshot's from_cursor is the cursor its deltas follow (0: a reset, or an
            # older HQ): behind it, deltas were missed, as they are in a gap of the feed
            if message["from_cursor"] > self.down_cursor:
                self.counters["down_gaps"] += 1
                await self._ask_replay()
                continue
            for change in message["changes"]:
                reason = check_change(change)
                if reason:
                    change["invalid"] = reason
            try:
                result = await self.db.write(syncdb.apply_down, message,
                                             self.settings.timezone, self.settings.tables)
            except Exception:  # storage trouble: HQ replays from our cursor on the next birth
                log.exception("could not apply down message up to cursor %s", message["cursor"])
                continue
            self.down_cursor = result["cursor"]
            self.counters["changes_applied"] += result["applied"]
            self.counters["changes_rejected"] += result["rejected"]

    async def _ask_replay(self) -> None:
        """A gap in the feed: re-publish the birth with our cursor; HQ replays from it."""
        wait = self._last_birth + BIRTH_MIN_GAP_S - time.monotonic()
        if wait > 0:  # at most one replay request a second
            await asyncio.sleep(wait)
            if self._down.qsize():  # newer messages may fill the gap already
                return
        if not self.connected:
            return  # the next session's birth asks for the replay anyway
        with contextlib.suppress(ConnectionError):
            await self._publish_birth()

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_S)
            cutoff = iso(utc_now() - timedelta(hours=self.settings.retain_hours))
            try:
                while await self.db.write(syncdb.prune_outbox, cutoff) > 0:
                    await asyncio.sleep(0)
            except Exception:
                log.exception("outbox pruning failed")


def check_change(change: dict[str, Any]) -> str | None:
    """Why a change from HQ cannot be applied as it is, or None."""
    validator = _VALIDATORS.get(change["type"])
    if validator is None:
        return f"unknown change type {change['type']!r}"
    error = next(iter(validator.iter_errors(change["data"])), None)
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path)
        return f"invalid {path or 'data'}: {error.message[:160]}"
    return None


async def sync_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: run the sync coordinator when a broker is configured."""
    settings = app[keys.SETTINGS]
    if not settings.broker:
        log.info("no broker configured: running offline, events queue in the outbox")
        yield
        return
    sync = EdgeSync(settings, app[keys.DB])
    app[keys.SYNC] = sync
    app[keys.HUB].listeners.append(sync.commit_listener)
    await sync.start()
    try:
        yield
    finally:
        await sync.stop()
