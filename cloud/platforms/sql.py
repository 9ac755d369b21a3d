"""SQL of the delivery platforms (cloud/platforms): accepting a webhook's order into the
store's change feed, following it at the store, and the queue of status callbacks.

``accept`` is one write transaction: the request id is claimed (a replay is refused), the
store's row is locked (so the same platform order sent twice at once is forwarded once: the
second sees the first's row once it holds the lock), and the ``platform.order`` change and the
``platform_orders`` row are written together; a refusal rolls all of it back, so a refused request does not use up its
request id. ``on_events`` runs inside the apply of a store's batch (exactly once per event)
and queues the callbacks, so a status is reported once however often the batch arrives.
"""

from __future__ import annotations

import json
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.db.keyset import Column, Key, Keyset, page_rows
from cloud.feed.changes import advance, chunks, record, where_in
from common.vocabulary import PLATFORM_CHANNELS

CHANGE_TYPE: Final = "platform.order"
CALLBACK_STATUSES: Final = ("accepted", "ready", "cancelled")
HOOKED: Final = frozenset({"platform.order_linked", "order.status_changed",
                           "sync.change_rejected"})


class Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def idempotency_key(platform: str, platform_order_id: str) -> str:
    """The store's Idempotency-Key for a platform order (one order per platform order id)."""
    return f"platform:{platform}:{platform_order_id}"


def accept(db: Backend, platform: str, channel: str, request_id: str, shop: str, store: str,
           order: dict[str, Any]) -> dict[str, Any]:
    """Forward ``order`` to ``store``: {outcome: forwarded|duplicate, store, cursor}."""
    now, poid = utc_now_iso(), order["platform_order_id"]
    with db.write():
        if not db.execute("INSERT INTO platform_requests(platform, request_id, received_at) "
                          "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                          (platform, request_id, now)).rowcount:
            raise Refused("replayed", f"request id {request_id!r} was seen before")
        row = db.execute("SELECT paused_channels FROM stores WHERE store = ?{FOR_UPDATE}",
                         (store,)).fetchone()
        if row is None:
            raise Refused("unknown_store", f"shop {shop!r} maps to store {store!r}, "
                                           "which HQ does not know")
        # after the store's lock: a concurrent request for the same order has committed
        seen = db.execute("SELECT store, cursor FROM platform_orders WHERE platform = ? AND "
                          "platform_order_id = ?", (platform, poid)).fetchone()
        if seen is not None:
            return {"outcome": "duplicate", "store": seen[0], "cursor": int(seen[1])}
        if channel in json.loads(row[0]):
            raise Refused("paused", f"store {store} is offline: {channel} is paused")
        missing = unknown_skus(db, store, sorted({line["sku"] for line in order["lines"]}))
        if missing:
            raise Refused("unknown_sku", f"not sold at {store}: {', '.join(missing)}")
        cursor = advance(db, [store])[store]
        record(db, [(store, cursor, CHANGE_TYPE, None, change_data(platform, channel, order))])
        db.execute("INSERT INTO platform_orders(platform, platform_order_id, store, shop, "
                   "channel, cursor, status, total_cents, data, created_at, updated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, 'forwarded', ?, ?, ?, ?)",
                   (platform, poid, store, shop, channel, cursor, order["total_cents"],
                    json.dumps(order, separators=(",", ":")), now, now))
    return {"outcome": "forwarded", "store": store, "cursor": cursor}


def change_data(platform: str, channel: str, order: dict[str, Any]) -> dict[str, Any]:
    """The ``platform.order`` change: what the edge needs to place the order itself."""
    lines = [{"sku": line["sku"], "qty": line["qty"],
              **({"note": line["note"]} if line.get("note") else {})} for line in order["lines"]]
    return {"platform": platform, "platform_order_id": order["platform_order_id"],
            "channel": channel, "lines": lines, "total_cents": order["total_cents"],
            "idempotency_key": idempotency_key(platform, order["platform_order_id"])}


def unknown_skus(db: Backend, store: str, skus: list[str]) -> list[str]:
    """SKUs neither the store reported nor HQ sent it (``catalog.item``)."""
    marks = ", ".join("?" * len(skus))
    known = {r[0] for r in db.execute(
        f"SELECT sku FROM store_items WHERE store = ? AND sku IN ({marks}) UNION "
        f"SELECT key FROM feed_state WHERE store = ? AND kind = 'catalog.item' AND key IN "
        f"({marks})", (store, *skus, store, *skus)).fetchall()}
    return [s for s in skus if s not in known]


def reject(db: Backend, platform: str, reason: str, detail: str,
           request_id: str | None) -> None:
    with db.write():
        db.execute("INSERT INTO platform_rejects(platform, reason, detail, request_id, at) "
                   "VALUES (?, ?, ?, ?, ?)",
                   (platform, reason, detail[:500], request_id, utc_now_iso()))


# -- what the store did with it (inside apply_batch's transaction) --------------------------
Links = dict[tuple[str, str], tuple[str, str]]  # (store, order id) -> (platform, its order id)


def on_events(db: Backend, store: str, events: list[dict[str, Any]], now: str,
              now_ms: int, links: Links | None = None) -> None:
    """``links``: what ``read_links`` found for these events (None: each status change
    reads its own)."""
    for event in events:
        data = event["data"]
        if event["type"] not in HOOKED or not isinstance(data, dict):
            continue
        if event["type"] == "platform.order_linked":
            _link(db, store, data, now)
        elif event["type"] == "order.status_changed":
            _status(db, store, data, now, now_ms, links)
        elif data.get("type") == CHANGE_TYPE and isinstance(data.get("cursor"), int):
            _refused_at_store(db, store, data, now, now_ms)


def read_links(db: Backend, batches: list[tuple[str, list[dict[str, Any]]]]) -> Links | None:
    """The platform orders that the platform-channel orders whose status ``batches`` (store,
    events) change are linked to, in one statement (a chunk) instead of one each: a group of
    single-event batches at the lunch peak had 60 of these reads among 200 batches. None
    when an event links an order (``platform.order_linked``): the link is made by the hook,
    so each status change after it reads its own."""
    wanted: set[tuple[str, str]] = set()
    for store, events in batches:
        for event in events:
            if event["type"] == "platform.order_linked":
                return None
            if event["type"] == "order.status_changed" \
                    and (order_id := _platform_order(event["data"])) is not None:
                wanted.add((store, order_id))
    found: Links = {}
    for chunk in chunks(sorted(wanted)):
        stores, ids = sorted({p[0] for p in chunk}), sorted({p[1] for p in chunk})
        rows = db.execute("SELECT store, order_id, platform, platform_order_id FROM "
                          f"platform_orders WHERE {where_in(stores)} "
                          f"AND {where_in(ids, 'order_id')}", (*stores, *ids)).fetchall()
        found.update({(r[0], r[1]): (r[2], r[3]) for r in rows if (r[0], r[1]) in wanted})
    return found


def _platform_order(data: Any) -> str | None:
    """The order id of an ``order.status_changed`` of a platform channel's order."""
    order = data.get("order") if isinstance(data, dict) else None
    if not isinstance(order, dict) or order.get("channel") not in PLATFORM_CHANNELS \
            or not isinstance(data.get("to"), str):
        return None
    order_id = order.get("id")
    return order_id if isinstance(order_id, str) else None


def _link(db: Backend, store: str, data: dict[str, Any], now: str) -> None:
    platform, poid, order_id = (data.get(k) for k in ("platform", "platform_order_id",
                                                      "order_id"))
    if all(isinstance(v, str) for v in (platform, poid, order_id)):
        db.execute("UPDATE platform_orders SET order_id = ?, status = 'placed', updated_at = ? "
                   "WHERE platform = ? AND platform_order_id = ? AND store = ?",
                   (order_id, now, platform, poid, store))


def _status(db: Backend, store: str, data: dict[str, Any], now: str, now_ms: int,
            links: Links | None) -> None:
    order_id, to = _platform_order(data), data.get("to")
    if order_id is None or not isinstance(to, str):
        return
    row = (links.get((store, order_id)) if links is not None else
           db.execute("SELECT platform, platform_order_id FROM platform_orders "
                      "WHERE store = ? AND order_id = ?", (store, order_id)).fetchone())
    if row is None:  # an order the store's own staff entered on a platform channel
        return
    db.execute("UPDATE platform_orders SET status = ?, updated_at = ? WHERE platform = ? AND "
               "platform_order_id = ?", (to, now, row[0], row[1]))
    if to in CALLBACK_STATUSES:
        queue_callback(db, row[0], row[1], to, "", now, now_ms)


def _refused_at_store(db: Backend, store: str, data: dict[str, Any], now: str,
                      now_ms: int) -> None:
    row = db.execute("SELECT platform, platform_order_id FROM platform_orders "
                     "WHERE store = ? AND cursor = ?", (store, data["cursor"])).fetchone()
    if row is None:
        return
    db.execute("UPDATE platform_orders SET status = 'rejected', updated_at = ? "
               "WHERE platform = ? AND platform_order_id = ?", (now, row[0], row[1]))
    reason = str(data.get("reason") or "refused by the store")[:200]
    queue_callback(db, row[0], row[1], "cancelled", reason, now, now_ms)


def queue_callback(db: Backend, platform: str, poid: str, status: str, reason: str,
                   now: str, now_ms: int) -> None:
    db.execute("INSERT INTO platform_callbacks(platform, platform_order_id, status, reason, "
               "next_at, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
               (platform, poid, status, reason, now_ms, now))


# -- the callback queue -------------------------------------------------------------------
def claim_callbacks(db: Backend, now_ms: int, lease_ms: int, limit: int) -> list[dict[str, Any]]:
    """Due callbacks, claimed until ``now_ms + lease_ms`` (another HQ process skips them)."""
    skip = " SKIP LOCKED" if db.name == "postgresql" else ""
    with db.write():
        rows = db.rows("SELECT id, platform, platform_order_id, status, reason, attempts "
                       "FROM platform_callbacks WHERE state = 'pending' AND next_at <= ? "
                       f"ORDER BY next_at, id LIMIT ?{{FOR_UPDATE}}{skip}", (now_ms, limit))
        for row in rows:
            row["attempts"] = int(row["attempts"]) + 1
            db.execute("UPDATE platform_callbacks SET next_at = ?, attempts = ? WHERE id = ?",
                       (now_ms + lease_ms, row["attempts"], row["id"]))
    return rows


def callback_sent(db: Backend, callback_id: int) -> None:
    with db.write():
        db.execute("UPDATE platform_callbacks SET state = 'sent', sent_at = ?, last_error = NULL "
                   "WHERE id = ?", (utc_now_iso(), callback_id))


def callback_failed(db: Backend, callback_id: int, error: str, retry_at_ms: int | None) -> None:
    """A failed attempt: due again at ``retry_at_ms``, or given up (state failed) on None."""
    with db.write():
        if retry_at_ms is None:
            db.execute("UPDATE platform_callbacks SET state = 'failed', last_error = ? "
                       "WHERE id = ?", (error[:500], callback_id))
        else:
            db.execute("UPDATE platform_callbacks SET next_at = ?, last_error = ? WHERE id = ?",
                       (retry_at_ms, error[:500], callback_id))


# -- reads ----------------------------------------------------------------------------------
# the sort keys of the paged lists (cloud/api/paging.py), newest first
ORDERS: Final = Keyset("platform_orders", tuple(
    Column(name, str, descending=True) for name in ("created_at", "platform", "platform_order_id")))
CALLBACKS: Final = Keyset("platform_callbacks", (Column("id", int, descending=True),))
REJECTS: Final = Keyset("platform_rejects", (Column("id", int, descending=True),))


def list_orders(db: Backend, store: str | None, limit: int,
                after: Key | None = None) -> list[dict[str, Any]]:
    return page_rows(db, ORDERS, "platform, platform_order_id, store, shop, channel, cursor, "
                     "order_id, status, total_cents, created_at, updated_at FROM platform_orders",
                     after, limit, store=store)


def list_callbacks(db: Backend, state: str | None, limit: int,
                   after: Key | None = None) -> list[dict[str, Any]]:
    return page_rows(db, CALLBACKS, "id, platform, platform_order_id, status, reason, state, "
                     "attempts, last_error, created_at, sent_at FROM platform_callbacks",
                     after, limit, state=state)


def list_rejects(db: Backend, limit: int, after: Key | None = None) -> list[dict[str, Any]]:
    return page_rows(db, REJECTS, "id, platform, reason, detail, request_id, at "
                     "FROM platform_rejects", after, limit)
