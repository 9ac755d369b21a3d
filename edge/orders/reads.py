"""Read queries, run on reader connections (never the writer)."""

from __future__ import annotations

import sqlite3
from typing import Any

from edge.orders.rows import fetch_order, fetch_orders


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
    clauses: list[str] = []
    params: list[Any] = []
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
