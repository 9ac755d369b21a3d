"""SQL of the sync layer on the edge: outbox batches, acks, pruning, birth counter, down feed."""

from __future__ import annotations

import json
import logging
import sqlite3
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from common.errors import DomainError
from common.vocabulary import OLD_BOX
from sync import messages
from sync.publisher import Batch

from edge.members import feed as members_feed
from edge.catalog import sql as catalog
from edge.orders import platform_feed
from edge.tables import relay
from edge.reservations import sql as reservations
from edge.feedback import sql as feedback
from edge.members import erasure
from edge.tables.settings import TableSettings
from edge.pricing.sql import apply_hq_rule
from edge.db.stockcache import keeps_stock_cache
from edge.db.group_commit import Tx

log = logging.getLogger(__name__)
_dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def meta_int(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def sync_state(conn: sqlite3.Connection) -> dict[str, Any]:
    """Counters for `storenode sync status` and health: seqs, cursor, age of the oldest unacked."""
    last, acked = meta_int(conn, "outbox_last_seq"), meta_int(conn, "outbox_acked_seq")
    oldest = conn.execute("SELECT at FROM outbox WHERE seq = ?", (acked + 1,)).fetchone()
    return {"last_seq": last, "applied_seq": acked, "pending": last - acked,
            "bd_seq": meta_int(conn, "sync_bd_seq"), "down_cursor": meta_int(conn, "down_cursor"),
            "oldest_pending_at": oldest[0] if oldest else None}


# each event's JSON built by SQLite from the row: the payload is spliced from C-made bytes, not
# from seven decoded Python strings per event. The outbox stores the JSON up to the data with
# the event (``head``, edge/db/outbox.py), so the read is head || data || '}'; an event
# written before that column existed has its head formatted from the columns, the same bytes.
_HEAD_OF_COLUMNS = (
    "'{\"event_id\":\"' || event_id || '\",\"store\":' || ? || ',\"seq\":' || seq "
    "|| ',\"type\":' || json_quote(type) || ',\"v\":' || v || ',\"at\":\"' || at || '\",\"hlc\":\"' "
    "|| hlc || '\",\"data\":'"
)
_EVENT = f"coalesce(head, {_HEAD_OF_COLUMNS}) || data || '}}'"
# per table: the outbox, and the events a box restored from a backup keeps of its old epoch
_EVENT_JSON = {t: f"SELECT seq, CAST({_EVENT} AS BLOB) FROM {t} WHERE seq > ? ORDER BY seq "
                  "LIMIT ?" for t in ("outbox", "outbox_prior")}
# the whole batch's event list as one value, built inside sqlite3_step: the reader thread holds
# the GIL only to make one bytes object, so a catch-up drain reads while the loop publishes
# (group_concat keeps the subquery's seq order: SQLite aggregates rows in the order it reads them)
_BATCH_JSON = {t: f"SELECT count(*), max(seq), CAST(group_concat(j, ',') AS BLOB) FROM "
                  f"(SELECT seq, {_EVENT} AS j FROM {t} WHERE seq > ? ORDER BY seq LIMIT ?)"
               for t in ("outbox", "outbox_prior")}
_ENVELOPE_BYTES = 200  # counted for the batch envelope around the events


def outbox_batch(conn: sqlite3.Connection, store_id: str, after: int, limit: int,
                 max_bytes: int, epoch: int = 1, table: str = "outbox") -> Batch | None:
    """The ``up`` payload for events after ``after``: contiguous, at most limit / max_bytes.

    The event data is already JSON in the outbox: it is spliced in, not decoded and re-encoded.
    One query builds the whole batch; only a batch with a gap in ``seq`` or over the byte
    budget is built again event by event, to cut it at the gap or the budget.
    """
    store = _dump(store_id)  # as the outbox's SQL writes it into each event's JSON
    count, last, events = conn.execute(_BATCH_JSON[table], (store, after, limit)).fetchone()
    if not count:
        return None
    if last - after == count and _ENVELOPE_BYTES + len(events) <= max_bytes:
        return _batch(store_id, epoch, after, last, events)
    rows = conn.execute(_EVENT_JSON[table], (store, after, limit)).fetchall()
    if not rows or rows[0][0] != after + 1:
        if rows:
            log.error("outbox has no seq %d (first is %d): cannot publish", after + 1, rows[0][0])
        return None
    parts: list[bytes] = []
    size, last = _ENVELOPE_BYTES, after
    for seq, part in rows:
        if seq != last + 1 or (parts and size + len(part) > max_bytes):
            break
        parts.append(part)
        size += len(part) + 1
        last = seq
    return _batch(store_id, epoch, after, last, b",".join(parts))


def _batch(store: str, epoch: int, after: int, last: int, events: bytes) -> Batch:
    return Batch(after + 1, last, messages.up_payload(store, epoch, after + 1, last, events))


@keeps_stock_cache  # sync bookkeeping: meta and outbox only
def record_ack(tx: Tx, seq: int) -> int:
    """Raise ``outbox_acked_seq`` to ``seq`` (never lowers it); returns the stored value."""
    row = tx.conn.execute(
        "UPDATE meta SET value = CAST(MAX(CAST(value AS INTEGER), ?) AS TEXT) "
        "WHERE key = 'outbox_acked_seq' RETURNING value", (seq,),
    ).fetchone()
    return int(row[0])


@keeps_stock_cache
def prune_outbox(tx: Tx, older_than: str, limit: int = 5000) -> int:
    """Delete events older than ``older_than`` (UTC ISO), oldest first, that HQ has
    acknowledged and the print coordinator has turned into print jobs (``print_cursor``): an
    order whose printer was down for longer than the retention still prints."""
    acked = min(meta_int(tx.conn, "outbox_acked_seq"), meta_int(tx.conn, "print_cursor"))
    cur = tx.conn.execute(
        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE seq <= ? AND at < ? "
        "ORDER BY seq LIMIT ?)", (acked, older_than, limit),
    )
    return cur.rowcount


@keeps_stock_cache
def next_bd_seq(tx: Tx) -> int:
    """The birth/death sequence of the session about to start (stored before connecting)."""
    tx.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('sync_bd_seq', '0')")
    row = tx.conn.execute(
        "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
        "WHERE key = 'sync_bd_seq' RETURNING value"
    ).fetchone()
    return int(row[0])


# -- downstream change feed -------------------------------------------------------------
HQ_ITEM_FIELDS = ("name", "name_en", "category", "station", "price_cents", "cost_cents",
                  "channel_prices")


def _apply_item(tx: Tx, data: dict[str, Any]) -> None:
    sku = data["sku"]
    fields = {k: data[k] for k in HQ_ITEM_FIELDS if k in data}
    exists = tx.conn.execute("SELECT 1 FROM items WHERE sku = ?", (sku,)).fetchone()
    if exists:  # the store's own sold-out toggle (`available`) is never HQ's to change
        catalog.patch_item(tx, sku, fields)
    else:
        catalog.create_item(tx, {"sku": sku, **fields, "available": True, "track_stock": True})


def _apply_quotas(tx: Tx, data: dict[str, Any]) -> None:
    catalog.set_quotas(tx, data["sku"], data["quotas"])


def _apply_stock(tx: Tx, data: dict[str, Any]) -> None:
    """A stock delta from HQ, applied once by its cursor (apply_down) and by its ``ref`` (HQ's
    refs are unique): stock is the one delta a second application would not leave alone."""
    ref = data.get("ref")
    if ref is not None and not tx.conn.execute(
            "INSERT INTO hq_stock_refs(ref) VALUES (?) ON CONFLICT DO NOTHING", (ref,)).rowcount:
        return  # applied before, under another cursor
    if not data["delta"]:
        return  # the count matched: nothing moves
    if data.get("reason") == OLD_BOX:  # sales made already: not refused for going below 0
        if not _held_from_backup(tx.conn, ref):
            catalog.move_stock(tx, data["sku"], int(data["delta"]), OLD_BOX, ref)
        return
    catalog.record_movement(tx, data["sku"], int(data["delta"]), data.get("reason", "stocktake"),
                            None, ref)


def _held_from_backup(conn: sqlite3.Connection, ref: str | None) -> bool:
    """Stock an old box's events moved that this box holds from its backup (edge/syncer/
    prior.py: ``box<epoch>:<last seq>:``, within the backup's epoch and last seq)."""
    epoch = meta_int(conn, "prior_epoch")
    if not epoch or not ref or not ref.startswith(f"box{epoch}:"):
        return False
    last = ref.split(":")[1]
    return last.isdigit() and int(last) <= meta_int(conn, "prior_last_seq")


# HQ's state, restated by every snapshot: applied whatever the change's cursor (upserts)
STATE_CHANGES = frozenset(messages.STATE_KINDS)
CHANGE_HANDLERS = {"catalog.item": _apply_item, "inventory.quotas": _apply_quotas,
                   "stock.adjust": _apply_stock, "price_rule": apply_hq_rule,
                   "reservation.confirmed": reservations.apply_hq_confirmed,
                   "booking.lease_released": reservations.apply_lease_released,
                   "reservation.cancel": reservations.apply_hq_cancel,
                   "feedback.rated": feedback.apply_rated,
                   "member.erased": erasure.apply_member_erased,
                   **members_feed.HANDLERS}
# handlers that also need the store's time zone (the order's local day, the booking's time)
ZONED_HANDLERS = {"platform.order": platform_feed.apply_platform_order,
                  "reservation.request": reservations.apply_hq_request}
# handlers that also need the store's table settings (the seating's limits, self-opening)
TABLE_HANDLERS = {"guest.order": relay.apply_guest_order}


def apply_down(tx: Tx, message: dict[str, Any], tz: ZoneInfo = ZoneInfo("UTC"),
               tables: TableSettings = TableSettings()) -> dict[str, int]:
    """Apply a validated ``down`` message; the cursor moves in the same transaction.

    Changes at or below the stored cursor are skipped, so a message applied twice is harmless;
    only a snapshot's state (``STATE_CHANGES``) is applied whatever its cursor. The cursor
    never moves back, whatever a message states (a snapshot page answering a stale birth
    states a lower one), except on a snapshot HQ marks as a ``reset`` (the edge was ahead of
    HQ's feed). A change the store cannot apply (unknown SKU for a quota, stock going
    negative, a type this version does not know) is recorded as a ``sync.change_rejected``
    event, which goes up to HQ like every other event, and the cursor moves past it.
    """
    cursor = meta_int(tx.conn, "down_cursor")
    snapshot = bool(message.get("snapshot"))
    applied = rejected = 0
    for change in message["changes"]:
        # a snapshot restates HQ's state (upserts: applied again, harmlessly); a delta
        # (stock.adjust, ledger.entry, coupon.state, lease.*, ...) is applied once, by cursor,
        # in a snapshot as anywhere else
        if change["cursor"] <= cursor and not (snapshot and change["type"] in STATE_CHANGES):
            continue
        handler = CHANGE_HANDLERS.get(change["type"])
        if change["type"] in ZONED_HANDLERS:
            handler = partial(ZONED_HANDLERS[change["type"]], tz=tz)
        elif change["type"] in TABLE_HANDLERS:
            handler = partial(TABLE_HANDLERS[change["type"]], tz=tz, limits=tables)
        reason = change.get("invalid") or (None if handler else "unknown change type")
        if handler is not None and reason is None:
            reason = _guarded(tx, handler, change["data"])
        if reason is None:
            applied += 1
        else:
            rejected += 1
            tx.emit("sync.change_rejected", {"cursor": change["cursor"], "type": change["type"],
                                             "reason": reason})
    reset = snapshot and message.get("reset") is True
    new_cursor = message["cursor"] if reset else max(cursor, message["cursor"])
    tx.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('down_cursor', ?)",
                    (str(new_cursor),))
    return {"cursor": new_cursor, "applied": applied, "rejected": rejected}


def _guarded(tx: Tx, handler: Any, data: dict[str, Any]) -> str | None:
    """Run one change in its own savepoint; a refused change rolls back alone."""
    seq_before, events_before = tx.outbox.last_seq, len(tx.events)
    tx.conn.execute("SAVEPOINT change")
    try:
        handler(tx, data)
    except (DomainError, KeyError, TypeError, ValueError, sqlite3.IntegrityError) as exc:
        tx.conn.execute("ROLLBACK TO change")
        tx.conn.execute("RELEASE change")
        tx.outbox.last_seq = seq_before
        del tx.events[events_before:]
        return f"{type(exc).__name__}: {getattr(exc, 'code', exc)}"
    tx.conn.execute("RELEASE change")
    return None
