"""Feedback's SQL: one rating an order, kept at the store so the LAN page refuses a second one
whoever took the first (this page, or HQ on mobile data: its ``feedback.rated`` change).

A rating given here goes to HQ as ``feedback.given``; a low one (at or below
``common.feedback.ALERT_BELOW``) also raises ``feedback.alert`` for the POS, here or when HQ's
change arrives."""

from __future__ import annotations

import sqlite3
from typing import Any

from common.clock import utc_now_iso
from common.errors import Conflict, NotFound
from common.feedback import ALERT_BELOW, make_token

from edge.db.group_commit import Tx
from edge.members.sql import data_dir_of, load_key, record_consents


def token_for(conn: sqlite3.Connection, store: str, order_id: str) -> str | None:
    """The order's feedback token (what the receipt's QR carries), None before HQ sent the
    tenant key."""
    key = load_key(data_dir_of(conn))
    return None if key is None else make_token(key, store, order_id)


def order_for_page(conn: sqlite3.Connection, order_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT number, member FROM orders WHERE id = ?",
                       (order_id,)).fetchone()
    if row is None:
        return None
    lines = [{"sku": r[0], "name": r[1]} for r in conn.execute(
        "SELECT sku, name FROM order_lines WHERE order_id = ? ORDER BY line_no", (order_id,))]
    rated = conn.execute("SELECT 1 FROM feedback WHERE order_id = ?", (order_id,)).fetchone()
    return {"order_id": order_id, "number": row[0], "lines": lines, "rated": rated is not None,
            "member": row[1] is not None}


def guest_consents(tx: Tx, order_id: str, consents: dict[str, bool]) -> dict[str, Any]:
    """The guest of a member's order changed consent on the feedback page (source
    ``guest``); 409 ``no_member`` for an order without a member."""
    row = tx.conn.execute("SELECT member FROM orders WHERE id = ?", (order_id,)).fetchone()
    if row is None or row[0] is None:
        raise Conflict("no_member", {"order_id": order_id})
    record_consents(tx, str(row[0]), consents, "guest")
    return {"order_id": order_id, "consents": consents, "status": "sent"}


def _alert(tx: Tx, order_id: str, score: int, comment: str) -> None:
    number = tx.conn.execute("SELECT number FROM orders WHERE id = ?", (order_id,)).fetchone()
    tx.emit("feedback.alert", {"order_id": order_id, "number": number[0] if number else None,
                               "score": score, "comment": comment})


def rate(tx: Tx, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The guest's rating on the LAN: 404 for an order this store does not have, 409
    ``already_rated`` for the second one."""
    if tx.conn.execute("SELECT 1 FROM orders WHERE id = ?", (order_id,)).fetchone() is None:
        raise NotFound("unknown_order", None)
    at, score, comment = utc_now_iso(), int(body["score"]), body.get("comment") or ""
    if not tx.cur.execute("INSERT INTO feedback(order_id, score, comment, source, at) "
                          "VALUES (?, ?, ?, 'lan', ?) ON CONFLICT (order_id) DO NOTHING",
                          (order_id, score, comment, at)).rowcount:
        raise Conflict("already_rated", {"order_id": order_id})
    tx.emit("feedback.given", {"order_id": order_id, "score": score, "comment": comment,
                               "dishes": body.get("dishes") or {}, "at": at})
    if score <= ALERT_BELOW:
        _alert(tx, order_id, score, comment)
    return {"order_id": order_id, "score": score, "status": "rated"}


def apply_rated(tx: Tx, data: dict[str, Any]) -> None:
    """HQ's ``feedback.rated`` change: the order was rated on mobile data (applied once: the
    row is the order's)."""
    if not tx.cur.execute("INSERT INTO feedback(order_id, score, comment, source, at) "
                          "VALUES (?, ?, ?, 'hq', ?) ON CONFLICT (order_id) DO NOTHING",
                          (data["order_id"], int(data["score"]), data.get("comment") or "",
                           utc_now_iso())).rowcount:
        return
    if data.get("alert"):
        _alert(tx, data["order_id"], int(data["score"]), data.get("comment") or "")
