"""Order payments: one per order, idempotent by key; stored value and points are spent from
the member's lease in the same transaction (``members.redeem``), so a refused spend records
no payment at all."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from common.clock import iso, utc_now
from common.errors import Conflict, DomainError, NotFound

from edge.orders import tenders as rules
from edge.members import sql as members
from edge.db.group_commit import Tx


def answered(conn: sqlite3.Connection, table: str, key: str,
             req_hash: str) -> dict[str, Any] | None:
    """The answer already recorded in ``table`` (order_payments, order_refunds) under
    Idempotency-Key ``key``; 422 when the key came with another request."""
    seen = conn.execute(f"SELECT request_hash, answer FROM {table} WHERE idem_key = ?",
                        (key,)).fetchone()
    if seen is None:
        return None
    if seen[0] != req_hash:
        raise DomainError("idempotency_key_reused", {"key": key})
    return dict(json.loads(seen[1]))


def pay_order(tx: Tx, order_id: str, tenders: list[dict[str, Any]], key: str,
              req_hash: str) -> tuple[dict[str, Any], bool]:
    """Record the payment of ``order_id``. Returns ``(payment, replayed)``."""
    conn = tx.conn
    seen = answered(conn, "order_payments", key, req_hash)
    if seen is not None:
        return seen, True
    row = conn.execute("SELECT number, status, total_cents, member FROM orders WHERE id = ?",
                       (order_id,)).fetchone()
    if row is None:
        raise NotFound("unknown_order", {"id": order_id})
    number, status, total, member = row
    if status == "cancelled":
        raise Conflict("order_cancelled", {"id": order_id})
    if conn.execute("SELECT 1 FROM order_payments WHERE order_id = ?", (order_id,)).fetchone():
        raise Conflict("already_paid", {"id": order_id})
    change = rules.settle(total, tenders, member is not None)
    entries = {}
    for account, amount in rules.member_spends(tenders).items():
        spent, _ = members.redeem(tx, member, account, amount, order_id, f"{key}:{account}",
                                  req_hash)
        entries[account] = spent["entry"]["entry_id"]
    recorded = [{**t, **({"entry_id": entries[rules.MEMBER_ACCOUNTS[t["kind"]]]}
                         if t["kind"] in rules.MEMBER_ACCOUNTS else {})} for t in tenders]
    at = iso(utc_now())
    payment = {"order_id": order_id, "number": number, "total_cents": total,
               "paid_cents": sum(int(t["amount_cents"]) for t in tenders),
               "change_cents": change, "tenders": recorded, "at": at}
    conn.execute("INSERT INTO order_payments(order_id, idem_key, request_hash, answer, "
                 "created_at) VALUES (?,?,?,?,?)",
                 (order_id, key, req_hash, json.dumps(payment), at))
    tx.emit("order.paid", payment, at=at)
    return payment, False


def refund_tenders(tx: Tx, order: dict[str, Any]) -> list[dict[str, Any]]:
    """A cancelled or refunded order gives the member back the stored value and points its payment spent
    (a ``refund`` and an ``adjust`` entry, never an edit). Cash and card are handed back at the
    till; their record stays as it was paid."""
    row = tx.conn.execute("SELECT answer FROM order_payments WHERE order_id = ?",
                          (order["id"],)).fetchone()
    if row is None or not order.get("member"):
        return []
    member = members.resolve(tx.conn, order["member"])
    back = {"value": "refund", "points": "adjust"}
    return [members._entry(tx, member, account, back[account], amount, order_id=order["id"])
            for account, amount in rules.member_spends(json.loads(row[0])["tenders"]).items()]
