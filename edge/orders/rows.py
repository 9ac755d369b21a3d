"""Row <-> dict conversions shared by reads and writes."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

ORDER_COLUMNS = (
    "id, number, day, channel, status, total_cents, member, table_no, pickup, created_at, "
    "updated_at, discount_cents, coupons, points_earned, note"
)
LINE_COLUMNS = ("order_id, line_no, sku, name, qty, unit_cents, total_cents, station, note, "
                "price_rule")


def line_from_row(row: sqlite3.Row) -> dict[str, Any]:
    line = {
        "line_no": row["line_no"],
        "sku": row["sku"],
        "name": row["name"],
        "qty": row["qty"],
        "unit_cents": row["unit_cents"],
        "total_cents": row["total_cents"],
        "station": row["station"],
        "note": row["note"],
    }
    if row["price_rule"] is not None:  # a time-window price rule set unit_cents
        line["price_rule"] = row["price_rule"]
    return line


def order_from_row(row: sqlite3.Row, lines: list[dict[str, Any]]) -> dict[str, Any]:
    order: dict[str, Any] = {
        "id": row["id"],
        "number": row["number"],
        "day": row["day"],
        "channel": row["channel"],
        "status": row["status"],
        "total_cents": row["total_cents"],
        "member": row["member"],
        "table": row["table_no"],
        "pickup": bool(row["pickup"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "lines": lines,
        "stations": sorted({line["station"] for line in lines}),
    }
    # member perks: only on orders that had a coupon / an attached member (see create_order)
    if row["coupons"] is not None:
        order["discount_cents"] = row["discount_cents"]
        order["coupons"] = json.loads(row["coupons"])
    if row["points_earned"] is not None:
        order["points_earned"] = row["points_earned"]
    if row["note"] is not None:  # an order-level note: only the guest's orders have one yet
        order["note"] = row["note"]
    return order


def fetch_orders(conn: sqlite3.Connection, where: str, params: list[Any]) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {ORDER_COLUMNS} FROM orders {where}", params).fetchall()
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    marks = ",".join("?" * len(ids))
    lines: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for line in conn.execute(
        f"SELECT {LINE_COLUMNS} FROM order_lines WHERE order_id IN ({marks}) "
        "ORDER BY order_id, line_no",
        ids,
    ):
        lines[line["order_id"]].append(line_from_row(line))
    return [order_from_row(r, lines[r["id"]]) for r in rows]


def fetch_order(conn: sqlite3.Connection, order_id: str) -> dict[str, Any] | None:
    found = fetch_orders(conn, "WHERE id = ?", [order_id])
    return found[0] if found else None
