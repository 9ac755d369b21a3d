"""Reads for the HQ API: stores, orders with lines, inventory, conflicts, users."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from cloud.db.backend import Backend
from cloud.db.keyset import Column, Key, Keyset, page_rows, where
from cloud.errors import UnknownStore
from common.clock import age_s
from common.http.body import Validator
from common.price_rules import PRICE_RULE, RULE_ID, check_window

ORDER_FIELDS = ("id, number, day, channel, status, total_cents, member, table_no, pickup, "
                "created_at, updated_at")
LINE_FIELDS = ("order_id, line_no, sku, name, qty, unit_cents, total_cents, station, note, "
               "price_rule")
# the sort keys of the paged lists (cloud/api/paging.py)
STORES: Final = Keyset("stores", (Column("store", str),), default=1000)
ORDERS: Final = Keyset("orders", (Column("created_at", str, descending=True),
                                  Column("id", str, descending=True)))
STOCK_ALERTS: Final = Keyset("stock_alerts", (Column("seq", int), Column("id", int)),
                             hidden=("id",), default=1000)
CONFLICTS: Final = Keyset("conflicts", (Column("id", int),), default=1000)


def _store_dict(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    lag_s = age_s(row.pop("last_event_at"), now)
    return {**row, "online": bool(row["online"]), "lag_s": lag_s,
            "backup_age_s": age_s(row.get("last_backup_at"), now)}


def list_stores(db: Backend, after: Key | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
    """The stores after ``after`` in ``STORES`` order, at most ``limit`` (None: all)."""
    now = datetime.now(UTC)
    rows = page_rows(db, STORES, "store, tenant, epoch, online, last_seen, applied_seq, "
                     "last_event_at, last_backup_at FROM stores", after, limit)
    return [_store_dict(row, now) for row in rows]


def get_store(db: Backend, store: str) -> dict[str, Any] | None:
    rows = db.rows("SELECT store, tenant, created_at, applied_seq, last_event_at, last_seen, "
                   "online, bd_seq, last_birth, version, paused_channels, down_cursor, "
                   "edge_cursor, feed_floor, epoch FROM stores WHERE store = ?", (store,))
    if not rows:
        return None
    found = _store_dict(rows[0], datetime.now(UTC))
    found["paused_channels"] = json.loads(found["paused_channels"])
    return found


def require_store(db: Backend, store: str) -> None:
    if db.execute("SELECT 1 FROM stores WHERE store = ?", (store,)).fetchone() is None:
        raise UnknownStore(store)


def store_orders(db: Backend, store: str, since: str | None, limit: int,
                 after: Key | None = None) -> list[dict[str, Any]]:
    """The store's orders created at or after ``since``, newest first, with their lines
    (after ``after`` in ``ORDERS`` order: the index orders_by_store_created walked backwards)."""
    with db.read():
        require_store(db, store)
        conditions, params = ORDERS.after(after)
        conditions, params = ["store = ?", *conditions], [store, *params]
        if since is not None:
            conditions.append("created_at >= ?")
            params.append(since)
        orders = db.rows(f"SELECT {ORDER_FIELDS} FROM orders{where(conditions)} "
                         f"ORDER BY {ORDERS.order_by} LIMIT ?", [*params, limit])
        if not orders:
            return []
        ids = [o["id"] for o in orders]
        lines = db.rows(f"SELECT {LINE_FIELDS} FROM order_lines WHERE store = ? AND order_id "
                        f"IN ({', '.join('?' * len(ids))}) ORDER BY order_id, line_no",
                        [store, *ids])
    by_order: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for line in lines:
        if line["price_rule"] is None:  # as the store's order: named only when a rule priced it
            del line["price_rule"]
        by_order[line.pop("order_id")].append(line)
    for order in orders:
        order["table"] = order.pop("table_no")
        order["pickup"] = bool(order["pickup"])
        order["lines"] = by_order[order["id"]]
        order["stations"] = sorted({ln["station"] for ln in order["lines"] if ln["station"]})
    return orders


def store_inventory(db: Backend, store: str) -> list[dict[str, Any]]:
    with db.read():
        require_store(db, store)
        return db.rows("SELECT sku, on_hand FROM stock WHERE store = ? ORDER BY sku", (store,))


def store_items(db: Backend, store: str) -> list[dict[str, Any]]:
    """The store's own view of its catalog (from its ``catalog.item_changed`` events)."""
    rows = db.rows("SELECT item FROM store_items WHERE store = ? ORDER BY sku", (store,))
    return [json.loads(r["item"]) for r in rows]


def store_quotas(db: Backend, store: str) -> dict[str, dict[str, Any]]:
    rows = db.rows("SELECT sku, quotas FROM store_quotas WHERE store = ? ORDER BY sku", (store,))
    return {r["sku"]: json.loads(r["quotas"]) for r in rows}


def stock_alerts(db: Backend, store: str, after: Key | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
    return page_rows(db, STOCK_ALERTS, "seq, id, sku, on_hand, safety_stock, at FROM stock_alerts",
                     after, limit, store=store)


def conflicts(db: Backend, resolved: bool | None, after: Key | None = None,
              limit: int | None = None) -> list[dict[str, Any]]:
    rows = page_rows(db, CONFLICTS, "id, store, kind, detail, created_at, resolved FROM conflicts",
                     after, limit, resolved=None if resolved is None else int(resolved))
    for row in rows:
        row["detail"], row["resolved"] = json.loads(row["detail"]), bool(row["resolved"])
    return rows


def open_conflicts(db: Backend) -> int:
    """Conflicts not resolved yet (an index-only count: conflicts_by_resolved)."""
    (n,) = db.execute("SELECT COUNT(*) FROM conflicts WHERE resolved = 0").fetchone()
    return int(n)


def count(db: Backend, table: str, store: str) -> int:
    assert table in ("events", "orders", "changes")
    (n,) = db.execute(f"SELECT COUNT(*) FROM {table} WHERE store = ?", (store,)).fetchone()
    return int(n)


def order_count_by_store(db: Backend) -> dict[str, int]:
    rows = db.execute("SELECT store, COUNT(*) FROM orders GROUP BY store ORDER BY store")
    return {store: int(n) for store, n in rows.fetchall()}


HOOKED: Final = frozenset({"backup.done", "staff.changed", "config.changed", "price_rule.set",
                           "price_rule.deleted"})
_RULES, _RULE_IDS = Validator(PRICE_RULE), Validator(RULE_ID)
UPSERT_RULE: Final = ("INSERT INTO store_price_rules(store, id, rule) VALUES (?, ?, ?) "
                      "ON CONFLICT (store, id) DO UPDATE SET rule = excluded.rule")
UPSERT_STAFF: Final = ("INSERT INTO store_staff(store, staff, role, pin_hash, active) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (store, staff) DO UPDATE SET "
                       "role = excluded.role, pin_hash = excluded.pin_hash, "
                       "active = excluded.active")
UPSERT_CONFIG: Final = ("INSERT INTO store_configs(store, toml, updated_at) VALUES (?, ?, ?) "
                        "ON CONFLICT (store) DO UPDATE SET toml = excluded.toml, "
                        "updated_at = excluded.updated_at")
MAX_CONFIG: Final = 64 * 1024


def on_events(db: Backend, store: str, events: list[dict[str, Any]]) -> None:
    """What HQ keeps of a store for its backups and a replacement box: when it last made a
    local backup (its store list row), its staff and its configuration (cloud/stores/boxes.py).
    Data of the wrong shape is left out (the event is kept in ``events``)."""
    for event in events:
        data = event["data"] if isinstance(event["data"], dict) else {}
        kind = event["type"]
        at = data.get("at")
        if kind == "backup.done" and isinstance(at, str) and len(at) <= 40 \
                and age_s(at, datetime.now(UTC)) is not None:
            db.execute("UPDATE stores SET last_backup_at = ? WHERE store = ?", (at, store))
        elif kind == "staff.changed" and all(
                isinstance(data.get(k), str) and 0 < len(data[k]) <= 200
                for k in ("staff", "role", "pin_hash")) and isinstance(data.get("active"), bool):
            db.execute(UPSERT_STAFF, (store, data["staff"], data["role"], data["pin_hash"],
                                      int(data["active"])))
        elif kind == "config.changed" and isinstance(data.get("toml"), str) \
                and len(data["toml"]) <= MAX_CONFIG:
            db.execute(UPSERT_CONFIG, (store, data["toml"], event["at"]))
        elif kind == "price_rule.set" and isinstance(data.get("rule"), dict):
            _keep_rule(db, store, data["rule"])
        elif kind == "price_rule.deleted" and isinstance(data.get("id"), str):
            db.execute("DELETE FROM store_price_rules WHERE store = ? AND id = ?",
                       (store, data["id"]))


def _keep_rule(db: Backend, store: str, rule: dict[str, Any]) -> None:
    """A rule as the store stated it, if it is one the store could have applied."""
    body = {k: v for k, v in rule.items() if k not in ("id", "source", "updated_at")}
    if not isinstance(rule.get("id"), str) or not _RULE_IDS.is_valid(rule["id"]) \
            or not _RULES.is_valid(body):
        return
    try:
        check_window(body)
    except ValueError:
        return
    db.execute(UPSERT_RULE, (store, rule["id"], json.dumps(body, ensure_ascii=False,
                                                            sort_keys=True)))
