"""The catalog's and the stock pool's SQL: items, levels, movements, quotas. Reads run on a
reader connection as ``fn(conn, ...)``, writes on the writer thread as ``fn(tx, ...)``."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from common.clock import iso, utc_now
from common.errors import Conflict, NotFound

from edge.catalog import rules as stock_rules
from edge.db.group_commit import Tx

ITEM_COLUMNS = (
    "sku, name, name_en, category, station, price_cents, cost_cents, channel_prices, "
    "available, track_stock, updated_at"
)
ITEM_FIELDS = ("name", "name_en", "category", "station", "price_cents", "cost_cents",
               "channel_prices", "available", "track_stock")


def item_from_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "sku": row["sku"],
        "name": row["name"],
        "name_en": row["name_en"],
        "category": row["category"],
        "station": row["station"],
        "price_cents": row["price_cents"],
        "cost_cents": row["cost_cents"],
        "channel_prices": json.loads(row["channel_prices"]),
        "available": bool(row["available"]),
        "track_stock": bool(row["track_stock"]),
        "updated_at": row["updated_at"],
    }


def list_items(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {ITEM_COLUMNS} FROM items ORDER BY category, sku")
    return [item_from_row(r) for r in rows]


def get_item(conn: sqlite3.Connection, sku: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE sku = ?", (sku,)).fetchone()
    return item_from_row(row) if row else None


def inventory(conn: sqlite3.Connection, day: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT s.sku, i.name, s.on_hand, s.safety_stock FROM stock s JOIN items i USING (sku) "
        "ORDER BY s.sku"
    ).fetchall()
    quotas: dict[str, dict[str, dict[str, int]]] = {}
    for q in conn.execute(
        "SELECT q.sku, q.channel, q.daily_limit, COALESCE(u.used, 0) AS used FROM quotas q "
        "LEFT JOIN quota_usage u ON u.sku = q.sku AND u.channel = q.channel AND u.day = ?",
        (day,),
    ):
        quotas.setdefault(q["sku"], {})[q["channel"]] = {
            "limit": q["daily_limit"],
            "used_today": q["used"],
        }
    return [
        {
            "sku": r["sku"],
            "name": r["name"],
            "on_hand": r["on_hand"],
            "safety_stock": r["safety_stock"],
            "low": r["on_hand"] < r["safety_stock"],
            "quotas": quotas.get(r["sku"], {}),
        }
        for r in rows
    ]


def _item_values(item: dict[str, Any]) -> list[Any]:
    values = []
    for field in ITEM_FIELDS:
        value = item.get(field)
        if field == "channel_prices":
            value = json.dumps(value or {}, sort_keys=True)
        elif field in ("available", "track_stock"):
            value = 1 if value is None else int(bool(value))
        values.append(value)
    return values


def create_item(tx: Tx, item: dict[str, Any], safety_stock: int = 0) -> dict[str, Any]:
    if tx.conn.execute("SELECT 1 FROM items WHERE sku = ?", (item["sku"],)).fetchone():
        raise Conflict("sku_exists", {"sku": item["sku"]})
    cols = ", ".join(("sku",) + ITEM_FIELDS + ("updated_at",))
    marks = ",".join("?" * (len(ITEM_FIELDS) + 2))
    tx.conn.execute(
        f"INSERT INTO items({cols}) VALUES ({marks})",
        [item["sku"], *_item_values(item), iso(utc_now())],
    )
    if item.get("track_stock", True):
        tx.conn.execute(
            "INSERT OR IGNORE INTO stock(sku, on_hand, safety_stock) VALUES (?, 0, ?)",
            (item["sku"], safety_stock),
        )
    return _emit_item(tx, item["sku"])


def patch_item(tx: Tx, sku: str, changes: dict[str, Any]) -> dict[str, Any]:
    row = tx.conn.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        raise NotFound("unknown_sku", {"sku": sku})
    merged = {**item_from_row(row), **changes}
    sets = ", ".join(f"{f} = ?" for f in ITEM_FIELDS)
    tx.conn.execute(
        f"UPDATE items SET {sets}, updated_at = ? WHERE sku = ?",
        [*_item_values(merged), iso(utc_now()), sku],
    )
    if merged["track_stock"]:
        tx.conn.execute("INSERT OR IGNORE INTO stock(sku) VALUES (?)", (sku,))
    return _emit_item(tx, sku)


def _emit_item(tx: Tx, sku: str) -> dict[str, Any]:
    row = tx.conn.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE sku = ?", (sku,)).fetchone()
    item = item_from_row(row)
    tx.emit("catalog.item_changed", {"item": item})
    return item


def move_stock(tx: Tx, sku: str, delta: int, reason: str, ref: str | None,
               at: str | None = None) -> dict[str, Any]:
    row = tx.conn.execute(
        "UPDATE stock SET on_hand = on_hand + ? WHERE sku = ? RETURNING on_hand, safety_stock",
        (delta, sku),
    ).fetchone()
    if row is None:
        raise NotFound("stock_not_tracked", {"sku": sku})
    after, safety = row
    at = at or iso(utc_now())
    tx.conn.execute(
        "INSERT INTO stock_movements(sku, delta, reason, ref, at) VALUES (?,?,?,?,?)",
        (sku, delta, reason, ref, at),
    )
    level = {"sku": sku, "on_hand": after, "safety_stock": safety}
    tx.emit("stock.moved", {"sku": sku, "delta": delta, "reason": reason, "ref": ref,
                            "on_hand": after})
    if stock_rules.crossed_below_safety(after - delta, after, safety):
        tx.emit("stock.low", level)
    return level


def record_movement(
    tx: Tx, sku: str, delta: int | None, reason: str, counted: int | None, ref: str | None
) -> dict[str, Any]:
    row = tx.conn.execute("SELECT on_hand FROM stock WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        raise NotFound("unknown_sku", {"sku": sku})
    if counted is not None:  # stocktake: the delta against what was counted
        delta = counted - row["on_hand"]
    assert delta is not None
    if row["on_hand"] + delta < 0:
        raise Conflict("negative_stock", {"sku": sku, "on_hand": row["on_hand"], "delta": delta})
    return move_stock(tx, sku, delta, reason, ref)


def set_quotas(tx: Tx, sku: str, quotas: dict[str, int | None]) -> dict[str, int]:
    if tx.conn.execute("SELECT 1 FROM stock WHERE sku = ?", (sku,)).fetchone() is None:
        raise NotFound("unknown_sku", {"sku": sku})
    for channel, limit in quotas.items():
        if limit is None:
            tx.conn.execute("DELETE FROM quotas WHERE sku = ? AND channel = ?", (sku, channel))
        else:
            tx.conn.execute(
                "INSERT INTO quotas(sku, channel, daily_limit) VALUES (?,?,?) "
                "ON CONFLICT(sku, channel) DO UPDATE SET daily_limit = excluded.daily_limit",
                (sku, channel, limit),
            )
    current = dict(
        tx.conn.execute("SELECT channel, daily_limit FROM quotas WHERE sku = ?", (sku,)).fetchall()
    )
    tx.emit("inventory.quotas_changed", {"sku": sku, "quotas": current})
    return current


def set_safety_stock(tx: Tx, sku: str, safety: int) -> None:
    tx.conn.execute("UPDATE stock SET safety_stock = ? WHERE sku = ?", (safety, sku))
