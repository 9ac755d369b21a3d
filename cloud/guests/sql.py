"""SQL of the guest relay (cloud/guests).

HQ never holds a table's token, only its SHA-256 (from the store's ``table.added`` and
``table.token_rotated`` events), enough to check the token a guest brings. ``accept`` is one
write transaction: the store's row is locked, its presence checked, a key seen before is
answered from its row, and the ``guest.order`` change and the ``guest_orders`` row are
written together. ``on_events`` runs inside the apply of the store's batch (exactly once per
event): the store's ``guest.order_linked`` gives the order, ``sync.change_rejected`` of the
change its refusal.
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloud.db.backend import Backend, utc_now_iso
from cloud.feed.changes import advance, record
from common.price_book import RuleBook, unit_price
from common.price_rules import minute_of_week

CHANNEL: Final = "dine_in_qr"  # the guest at the table
DEFAULT_TZ: Final = "Asia/Shanghai"  # a store that never sent its edge.toml

CHANGE_TYPE: Final = "guest.order"
HOOKED: Final = frozenset({"table.added", "table.token_rotated", "guest.order_linked",
                           "sync.change_rejected"})


class Refused(Exception):
    def __init__(self, status: int, reason: str, detail: Any = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.detail = status, reason, detail


def table_by_token(db: Backend, store: str, token_sha256: str) -> dict[str, Any] | None:
    rows = db.rows("SELECT table_id, name FROM guest_tables WHERE store = ? AND "
                   "token_sha256 = ?", (store, token_sha256))
    return rows[0] if rows else None


def accept(db: Backend, store: str, token: str, token_sha256: str, key: str,
           body: dict[str, Any], body_sha256: str) -> dict[str, Any]:
    """{outcome: forwarded|duplicate, cursor, order?, reason?}; raises ``Refused``."""
    now = utc_now_iso()
    with db.write():
        row = db.execute("SELECT online FROM stores WHERE store = ?{FOR_UPDATE}",
                         (store,)).fetchone()
        if row is None:
            raise Refused(404, "unknown_table")
        seen = db.execute("SELECT body_sha256, cursor, order_data, reason FROM guest_orders "
                          "WHERE store = ? AND token_sha256 = ? AND idem_key = ?",
                          (store, token_sha256, key)).fetchone()
        if seen is not None:
            if seen[0] != body_sha256:
                raise Refused(422, "idempotency_key_reused", {"key": key})
            return {"outcome": "duplicate", "cursor": int(seen[1]),
                    "order": seen[2] and json.loads(seen[2]), "reason": seen[3]}
        if not row[0]:
            raise Refused(503, "store_offline", {"store": store})
        cursor = advance(db, [store])[store]
        record(db, [(store, cursor, CHANGE_TYPE, None,
                     {"token": token, "idempotency_key": key, "body": body})])
        db.execute("INSERT INTO guest_orders(store, token_sha256, idem_key, body_sha256, cursor, "
                   "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (store, token_sha256, key, body_sha256, cursor, now, now))
    return {"outcome": "forwarded", "cursor": cursor, "order": None, "reason": None}


def outcome(db: Backend, store: str, token_sha256: str, key: str) -> dict[str, Any] | None:
    """The relayed order's answer so far: {order, reason, status} (status from HQ's orders)."""
    rows = db.rows("SELECT g.order_data, g.reason, o.status FROM guest_orders g "
                   "LEFT JOIN orders o ON o.store = g.store AND o.id = g.order_id "
                   "WHERE g.store = ? AND g.token_sha256 = ? AND g.idem_key = ?",
                   (store, token_sha256, key))
    if not rows:
        return None
    row = rows[0]
    order = row["order_data"] and json.loads(row["order_data"])
    if order and row["status"]:
        order["status"] = row["status"]  # moved on at the store since it was placed
    return {"order": order, "reason": row["reason"]}


def on_events(db: Backend, store: str, events: list[dict[str, Any]], now: str) -> None:
    for event in events:
        data = event["data"]
        if event["type"] not in HOOKED or not isinstance(data, dict):
            continue
        if event["type"] in ("table.added", "table.token_rotated"):
            _table(db, store, data)
        elif event["type"] == "guest.order_linked":
            _linked(db, store, data, now)
        elif data.get("type") == CHANGE_TYPE and isinstance(data.get("cursor"), int):
            db.execute("UPDATE guest_orders SET reason = ?, updated_at = ? WHERE store = ? "
                       "AND cursor = ?", (str(data.get("reason") or "refused")[:200], now,
                                          store, data["cursor"]))


def _table(db: Backend, store: str, data: dict[str, Any]) -> None:
    table, digest = data.get("table"), data.get("token_sha256")
    if not (isinstance(table, str) and isinstance(digest, str)):
        return
    name = data.get("name")
    if isinstance(name, str):  # table.added; area and seats for a box's restore
        area, seats = data.get("area"), data.get("seats")
        db.execute("INSERT INTO guest_tables(store, table_id, name, token_sha256, area, seats) "
                   "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (store, table_id) DO UPDATE SET "
                   "name = excluded.name, token_sha256 = excluded.token_sha256, "
                   "area = excluded.area, seats = excluded.seats",
                   (store, table, name[:40], digest, area[:40] if isinstance(area, str) else None,
                    seats if isinstance(seats, int) and not isinstance(seats, bool)
                    and 0 < seats < 1_000_000 else None))
    else:
        db.execute("UPDATE guest_tables SET token_sha256 = ? WHERE store = ? AND table_id = ?",
                   (digest, store, table))


def _linked(db: Backend, store: str, data: dict[str, Any], now: str) -> None:
    digest, key, order = data.get("token_sha256"), data.get("key"), data.get("order")
    if not (isinstance(digest, str) and isinstance(key, str) and isinstance(order, dict)
            and isinstance(order.get("id"), str)):
        return
    db.execute("UPDATE guest_orders SET order_id = ?, order_data = ?, reason = NULL, "
               "updated_at = ? WHERE store = ? AND token_sha256 = ? AND idem_key = ?",
               (order["id"], json.dumps(order, ensure_ascii=False, separators=(",", ":")),
                now, store, digest, key))


def menu(db: Backend, store: str) -> list[dict[str, Any]]:
    """The store's items as HQ knows them (its catalog events) at the ``dine_in_qr`` price a
    time-window rule of the store charges now (its ``price_rule`` events, the store's local
    time), sold-out by HQ's stock projection; the order's answer carries the price charged."""
    rows = db.rows("SELECT i.item, s.on_hand FROM store_items i LEFT JOIN stock s "
                   "ON s.store = i.store AND s.sku = i.sku WHERE i.store = ? ORDER BY i.sku",
                   (store,))
    items = []
    book = RuleBook((r["id"], json.loads(r["rule"])) for r in db.rows(
        "SELECT id, rule FROM store_price_rules WHERE store = ? ORDER BY id", (store,)))
    minute = minute_of_week(datetime.now(store_timezone(db, store)))
    for row in rows:
        item = json.loads(row["item"])
        base = unit_price(item, CHANNEL)
        price, rule = book.best(item["sku"], item.get("category"), CHANNEL, minute, base) \
            if book else (base, None)
        found = {"sku": item["sku"], "name": item["name"], "name_en": item.get("name_en"),
                 "category": item["category"], "price_cents": price,
                 "available": bool(item.get("available", True)) and
                 (row["on_hand"] is None or not item.get("track_stock", True)
                  or row["on_hand"] > 0)}
        if rule is not None:  # as the store's own guest menu: the rule that prices it now
            found["price_rule"] = rule
        items.append(found)
    return sorted(items, key=lambda i: (i["category"], i["sku"]))


def store_timezone(db: Backend, store: str) -> ZoneInfo:
    """The store's time zone, from the edge.toml it sent (Asia/Shanghai without one)."""
    row = db.execute("SELECT toml FROM store_configs WHERE store = ?", (store,)).fetchone()
    try:
        name = tomllib.loads(row[0])["store"]["timezone"] if row else DEFAULT_TZ
        return ZoneInfo(name)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, ZoneInfoNotFoundError):
        return ZoneInfo(DEFAULT_TZ)
