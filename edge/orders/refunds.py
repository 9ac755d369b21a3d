"""Order refunds (manager): a paid order that is ready or completed is refunded once,
idempotent by key. Stored value and points its payment spent go back to the member and the
points it earned are reversed, as a cancel does (``payments.refund_tenders``,
``members.reverse_points``); ``restock`` puts its tracked SKUs back on hand. The refund row,
ledger entries, stock movements and ``order.refunded`` are one transaction."""

from __future__ import annotations

import json
from typing import Any, Final

from common.clock import iso, utc_now
from common.errors import Conflict, NotFound

from edge.members import sql as members
from edge.orders import payments, writes
from edge.orders.rows import fetch_order
from edge.db.group_commit import Tx

REFUNDABLE: Final = frozenset({"ready", "completed"})


def refund_order(tx: Tx, order_id: str, reason: str, restock: bool, key: str,
                 req_hash: str) -> tuple[dict[str, Any], bool]:
    """Refund ``order_id``. Returns ``(refund, replayed)``."""
    conn = tx.conn
    seen = payments.answered(conn, "order_refunds", key, req_hash)
    if seen is not None:
        return seen, True
    order = fetch_order(conn, order_id)
    if order is None:
        raise NotFound("unknown_order", {"id": order_id})
    if conn.execute("SELECT 1 FROM order_refunds WHERE order_id = ?", (order_id,)).fetchone():
        raise Conflict("already_refunded", {"id": order_id})
    if order["status"] not in REFUNDABLE:
        raise Conflict("not_refundable", {"id": order_id, "status": order["status"]})
    paid = conn.execute("SELECT answer FROM order_payments WHERE order_id = ?",
                        (order_id,)).fetchone()
    if paid is None:
        raise Conflict("not_paid", {"id": order_id})
    payment = json.loads(paid[0])
    members.reverse_points(tx, order)
    entries = payments.refund_tenders(tx, order)
    stock = writes.restore_stock(tx, order, "refund") if restock else []
    at = iso(utc_now())
    refund = {"order_id": order_id, "number": order["number"], "reason": reason,
              "restock": restock, "paid_cents": payment["paid_cents"],
              "change_cents": payment["change_cents"],
              "entries": [{"entry_id": e["entry_id"], "account": e["account"],
                           "kind": e["kind"], "amount": e["amount"]} for e in entries],
              "stock": [{"sku": s["sku"], "on_hand": s["on_hand"]} for s in stock], "at": at}
    conn.execute("INSERT INTO order_refunds(order_id, idem_key, request_hash, answer, "
                 "created_at) VALUES (?,?,?,?,?)",
                 (order_id, key, req_hash, json.dumps(refund), at))
    tx.emit("order.refunded", refund, at=at)
    return refund, False
