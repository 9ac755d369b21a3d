"""Tables' SQL: the floor (tables), seatings (sessions), calls. Writes run as ``fn(tx, …)``
on the writer thread and emit ``table.*`` events in the same transaction."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from datetime import datetime
from typing import Any

from common.clock import utc_now_iso
from common.errors import Conflict, DomainError, NotFound
from common.ids import new_ulid

from edge.db.group_commit import Tx
from edge.orders.rows import fetch_orders
from edge.tables import rules

TABLE_COLUMNS = "id, name, area, seats, token, status"


def new_token() -> str:
    return secrets.token_urlsafe(rules.TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What HQ knows of a table's token: enough to check one a guest brings, not to make one."""
    return hashlib.sha256(token.encode()).hexdigest()


def table_json(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    """A table as the CLI prints it (with its token and its page's path)."""
    return {"id": row["id"], "name": row["name"], "seats": row["seats"], "area": row["area"],
            "token": row["token"], "url": f"/t/{row['token']}"}


# -- the floor ------------------------------------------------------------------------------
def add_table(tx: Tx, table_id: str, name: str, seats: int, area: str) -> dict[str, Any]:
    if not rules.TABLE_ID.match(table_id):
        raise DomainError("invalid_table_id", {"id": table_id[:64],
                                               "pattern": rules.TABLE_ID.pattern})
    token = new_token()
    row: dict[str, Any] = {"id": table_id, "name": name, "seats": seats, "area": area,
                           "token": token}
    if not tx.cur.execute(
        "INSERT INTO dining_tables(id, name, area, seats, token, created_at) "
        "VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
        (table_id, name, area, seats, token, utc_now_iso()),
    ).rowcount:
        raise Conflict("table_exists", {"id": table_id})
    tx.emit("table.added", {"table": table_id, "name": name, "seats": seats, "area": area,
                            "token_sha256": token_hash(token)})
    return table_json(row)


def rotate_token(tx: Tx, table_id: str) -> dict[str, Any]:
    """A new token for the table; the old one answers 404 from now on."""
    token = new_token()
    tx.cur.execute("UPDATE dining_tables SET token = ? WHERE id = ?", (token, table_id))
    if not tx.cur.rowcount:
        raise NotFound("unknown_table", {"id": table_id})
    tx.emit("table.token_rotated", {"table": table_id, "token_sha256": token_hash(token)})
    return table_json(_table(tx.conn, table_id))


def tables_for_cli(conn: sqlite3.Connection, ids: list[str] | None = None) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {TABLE_COLUMNS} FROM dining_tables ORDER BY area, id").fetchall()
    found = [table_json(r) for r in rows if not ids or r["id"] in ids]
    missing = sorted(set(ids or ()) - {t["id"] for t in found})
    if missing:
        raise NotFound("unknown_table", {"ids": missing})
    return found


def table_by_token(conn: sqlite3.Connection, token: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {TABLE_COLUMNS} FROM dining_tables WHERE token = ?",
                       (token,)).fetchone()
    return None if row is None else dict(row)


def _table(conn: sqlite3.Connection, table_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(f"SELECT {TABLE_COLUMNS} FROM dining_tables WHERE id = ?",
                       (table_id,)).fetchone()
    if row is None:
        raise NotFound("unknown_table", {"id": table_id[:64]})
    return row


def open_session_id(conn: sqlite3.Connection, table_id: str) -> str | None:
    row = conn.execute("SELECT id FROM table_sessions WHERE table_id = ? AND closed_at IS NULL",
                       (table_id,)).fetchone()
    return None if row is None else str(row[0])


# -- what staff see ----------------------------------------------------------------------
def list_tables(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT t.id, t.name, t.area, t.seats, t.status, s.id AS sid, s.opened_at, s.guests "
        "FROM dining_tables t LEFT JOIN table_sessions s "
        "ON s.table_id = t.id AND s.closed_at IS NULL ORDER BY t.area, t.id").fetchall()
    orders: dict[str, list[sqlite3.Row]] = {}
    for o in conn.execute(
        "SELECT o.id, o.session_id, o.channel, o.status, o.total_cents FROM orders o "
        "JOIN table_sessions s ON s.id = o.session_id WHERE s.closed_at IS NULL "
        "ORDER BY o.created_at"):
        orders.setdefault(o["session_id"], []).append(o)
    calls: dict[str, list[dict[str, Any]]] = {}
    for c in conn.execute("SELECT id, table_id, kind, at FROM table_calls "
                          "WHERE acked_at IS NULL ORDER BY id"):
        calls.setdefault(c["table_id"], []).append({"id": c["id"], "kind": c["kind"],
                                                    "at": c["at"]})
    return [_staff_view(r, orders.get(r["sid"], []), calls.get(r["id"], [])) for r in rows]


def _staff_view(row: sqlite3.Row, orders: list[sqlite3.Row], calls: list[dict[str, Any]]
                ) -> dict[str, Any]:
    table: dict[str, Any] = {"id": row["id"], "name": row["name"], "area": row["area"],
                             "seats": row["seats"], "status": row["status"], "session": None,
                             "calls": calls}
    if row["sid"] is not None:
        table["session"] = {
            "id": row["sid"], "opened_at": row["opened_at"], "guests": row["guests"],
            "orders": [o["id"] for o in orders],
            "guest_orders": [o["id"] for o in orders if o["channel"] == "dine_in_qr"],
            "open_orders": [o["id"] for o in orders if o["status"] in rules.OPEN_STATUSES],
            "total_cents": rules.bill_total(dict(o) for o in orders), "calls": calls,
        }
    return table


def open_session_order_ids(conn: sqlite3.Connection, table_id: str) -> set[str]:
    """The ids of the orders of the table's open seating (none without one)."""
    return {r[0] for r in conn.execute(
        "SELECT o.id FROM table_sessions s JOIN orders o ON o.session_id = s.id "
        "WHERE s.table_id = ? AND s.closed_at IS NULL", (table_id,))}


def session_orders(conn: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    return fetch_orders(conn, "WHERE session_id = ? ORDER BY created_at", [session_id])


# -- seatings ----------------------------------------------------------------------------
def open_table(tx: Tx, table_id: str, guests: int | None, by: str) -> dict[str, Any]:
    _table(tx.conn, table_id)
    if open_session_id(tx.conn, table_id) is not None:
        raise Conflict("table_busy", {"table": table_id})
    session = {"id": new_ulid(), "table": table_id, "guests": guests,
               "opened_at": utc_now_iso(), "opened_by": by}
    tx.cur.execute("INSERT INTO table_sessions(id, table_id, guests, opened_at, opened_by) "
                   "VALUES (?,?,?,?,?)",
                   (session["id"], table_id, guests, session["opened_at"], by))
    tx.cur.execute("UPDATE dining_tables SET status = 'seated' WHERE id = ?", (table_id,))
    tx.emit("table.opened", session)
    return {**session, "orders": [], "total_cents": 0}


def close_table(tx: Tx, table_id: str, force: bool) -> dict[str, Any]:
    _table(tx.conn, table_id)
    session_id = open_session_id(tx.conn, table_id)
    if session_id is None:
        raise Conflict("table_not_open", {"table": table_id})
    orders = session_orders(tx.conn, session_id)
    paid = {r[0] for r in tx.conn.execute(
        "SELECT p.order_id FROM order_payments p JOIN orders o ON o.id = p.order_id "
        "WHERE o.session_id = ?", (session_id,))}
    unpaid = [o["id"] for o in orders if o["status"] != "cancelled" and o["id"] not in paid]
    if unpaid and not force:
        raise Conflict("unpaid_orders", {"orders": unpaid})
    at = utc_now_iso()
    tx.cur.execute("UPDATE table_sessions SET closed_at = ? WHERE id = ?", (at, session_id))
    tx.cur.execute("UPDATE dining_tables SET status = 'cleaning' WHERE id = ?", (table_id,))
    tx.cur.execute("UPDATE table_calls SET acked_at = ? WHERE table_id = ? AND acked_at IS NULL",
                   (at, table_id))
    _end_seated_booking(tx, session_id, at)
    closed = {"table": table_id, "session": session_id, "closed_at": at,
              "orders": [o["id"] for o in orders], "total_cents": rules.bill_total(orders),
              "unpaid": unpaid, "forced": bool(unpaid)}
    tx.emit("table.closed", closed)
    return closed


def move_table(tx: Tx, table_id: str, target: str) -> dict[str, Any]:
    """Move the seating (and its orders) to a free table; the one left needs cleaning."""
    if target == table_id:
        raise DomainError("same_table", {"table": table_id})
    _table(tx.conn, table_id)
    _table(tx.conn, target)
    session_id = open_session_id(tx.conn, table_id)
    if session_id is None:
        raise Conflict("table_not_open", {"table": table_id})
    if open_session_id(tx.conn, target) is not None:
        raise Conflict("table_busy", {"table": target})
    status = tx.conn.execute("SELECT status FROM dining_tables WHERE id = ?",
                             (table_id,)).fetchone()[0]
    tx.cur.execute("UPDATE table_sessions SET table_id = ? WHERE id = ?", (target, session_id))
    tx.cur.execute("UPDATE orders SET table_no = ? WHERE session_id = ?", (target, session_id))
    tx.cur.execute("UPDATE dining_tables SET status = CASE id WHEN ? THEN 'cleaning' ELSE ? END "
                   "WHERE id IN (?, ?)", (table_id, status, table_id, target))
    tx.cur.execute("UPDATE table_calls SET table_id = ? WHERE session_id = ?",
                   (target, session_id))
    orders = [r[0] for r in tx.conn.execute("SELECT id FROM orders WHERE session_id = ?",
                                            (session_id,))]
    _end_seated_booking(tx, session_id, utc_now_iso())
    moved = {"session": session_id, "from": table_id, "to": target, "orders": orders}
    tx.emit("table.moved", moved)
    return moved


def _end_seated_booking(tx: Tx, session_id: str, at: str) -> None:
    """The reservation seated in this seating is done when the seating closes or moves: its
    table is free from now on, not only from the end of the booked window."""
    now_min = int(datetime.fromisoformat(at).timestamp() // 60)
    for rid, table, hq_id, party, source, day in tx.conn.execute(
            "SELECT id, table_id, hq_id, party, source, day FROM reservations "
            "WHERE session_id = ? AND status = 'seated'", (session_id,)).fetchall():
        tx.cur.execute("UPDATE reservations SET status = 'completed', updated_at = ?, "
                       "ends = MAX(starts + 1, MIN(ends, ?)) WHERE id = ?", (at, now_min, rid))
        tx.emit("reservation.changed", {"id": rid, "hq_id": hq_id, "from": "seated",
                                        "to": "completed", "at": at, "table": table,
                                        "party": party, "source": source, "day": day,
                                        "session": session_id})


def set_status(tx: Tx, table_id: str, target: str) -> dict[str, Any]:
    _table(tx.conn, table_id)
    has_session = open_session_id(tx.conn, table_id) is not None
    if not rules.status_change_allowed(target, has_session):
        raise Conflict("invalid_table_status", {"table": table_id, "to": target,
                                                "open_session": has_session})
    tx.cur.execute("UPDATE dining_tables SET status = ? WHERE id = ?", (target, table_id))
    tx.emit("table.status", {"table": table_id, "status": target})
    return {"table": table_id, "status": target}


# -- calls -------------------------------------------------------------------------------
def add_call(tx: Tx, table_id: str, kind: str) -> dict[str, Any]:
    row = _table(tx.conn, table_id)
    session_id = open_session_id(tx.conn, table_id)
    at = utc_now_iso()
    call_id = tx.cur.execute(
        "INSERT INTO table_calls(table_id, session_id, kind, at) VALUES (?,?,?,?)",
        (table_id, session_id, kind, at)).lastrowid
    if kind == "bill" and session_id is not None:
        tx.cur.execute("UPDATE dining_tables SET status = 'bill' WHERE id = ?", (table_id,))
    call = {"id": call_id, "table": table_id, "name": row["name"], "kind": kind, "at": at,
            "session": session_id}
    tx.emit("table.call", call)
    return call


def ack_call(tx: Tx, table_id: str, call_id: int, by: str) -> dict[str, Any]:
    at = utc_now_iso()
    tx.cur.execute("UPDATE table_calls SET acked_at = ? WHERE id = ? AND table_id = ? "
                   "AND acked_at IS NULL", (at, call_id, table_id))
    if not tx.cur.rowcount:
        raise NotFound("unknown_call", {"table": table_id[:64], "call": call_id})
    acked = {"id": call_id, "table": table_id, "acked_at": at, "by": by}
    tx.emit("table.call_acked", acked)
    return acked
