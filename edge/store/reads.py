"""Read queries, run on reader connections (never the writer)."""

from __future__ import annotations

import sqlite3
from typing import Any

from .outbox import row_to_event
from .rows import ITEM_COLUMNS, fetch_order, fetch_orders, item_from_row


def list_items(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {ITEM_COLUMNS} FROM items ORDER BY category, sku")
    return [item_from_row(r) for r in rows]


def get_item(conn: sqlite3.Connection, sku: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE sku = ?", (sku,)).fetchone()
    return item_from_row(row) if row else None


def get_order(conn: sqlite3.Connection, order_id: str) -> dict[str, Any] | None:
    return fetch_order(conn, order_id)


def list_orders(
    conn: sqlite3.Connection,
    *,
    status: str | None = None,
    channel: str | None = None,
    since: str | None = None,
    limit: int = 200,
    money: bool = False,
) -> list[dict[str, Any]]:
    """``money``: each order also says whether it was ``paid`` and ``refunded`` (the POS list)."""
    clauses, params = [], []
    for column, value in (("status", status), ("channel", channel)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("created_at >= ?")
        params.append(since)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    params.append(limit)
    orders = fetch_orders(conn, f"{where} ORDER BY created_at DESC, id DESC LIMIT ?", params)
    if money and orders:
        ids = [o["id"] for o in orders]
        marks = ",".join("?" * len(ids))
        paid = {r[0] for r in conn.execute(
            f"SELECT order_id FROM order_payments WHERE order_id IN ({marks})", ids)}
        refunded = {r[0] for r in conn.execute(
            f"SELECT order_id FROM order_refunds WHERE order_id IN ({marks})", ids)}
        for order in orders:
            order.update(paid=order["id"] in paid, refunded=order["id"] in refunded)
    return orders


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


def events_after(
    conn: sqlite3.Connection, store_id: str, after: int, types: tuple[str, ...], limit: int = 500
) -> list[dict[str, Any]]:
    likes = " OR ".join("type LIKE ?" for _ in types)
    rows = conn.execute(
        f"SELECT seq, event_id, type, v, at, hlc, data FROM outbox WHERE seq > ? AND ({likes}) "
        "ORDER BY seq LIMIT ?",
        (after, *[t + "%" for t in types], limit),
    )
    return [row_to_event(store_id, r) for r in rows]


def sync_counters(conn: sqlite3.Connection) -> dict[str, int]:
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'outbox_%'").fetchall())
    last, acked = int(rows.get("outbox_last_seq", 0)), int(rows.get("outbox_acked_seq", 0))
    return {"last_seq": last, "applied_seq": acked, "pending": last - acked}


def staff_pin_hash(conn: sqlite3.Connection, staff_id: str) -> tuple[str, str] | None:
    row = conn.execute(
        "SELECT role, pin_hash FROM staff WHERE id = ? AND active = 1", (staff_id,)
    ).fetchone()
    return (row["role"], row["pin_hash"]) if row else None
