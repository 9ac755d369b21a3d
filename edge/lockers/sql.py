"""All locker SQL. Writes run on the writer thread as ``fn(tx, ...)``; reads take a
connection. Which order gets which compartment is decided here, on the one writer thread,
so two orders racing for the last compartment cannot both win."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

from common.clock import iso, utc_now
from common.errors import Conflict

from edge.lockers import rules
from edge.db.group_commit import Tx
from edge.orders.writes import transition_order

COLUMNS = ("a.id, a.order_id, o.number, a.bank, a.compartment, a.state, a.reason, "
           "a.assigned_at, a.expires_at, a.closed_at")
WAITING_MAX_AGE = timedelta(hours=2)  # ready orders older than this are left to staff


def _row(row: sqlite3.Row) -> dict[str, Any]:
    return {k: row[k] for k in row.keys()}  # noqa: SIM118 - sqlite3.Row is not a Mapping


def waiting_orders(conn: sqlite3.Connection, limit: int = 20) -> list[str]:
    """Ready orders that want a locker and have no locker decision yet, oldest first."""
    since = iso(utc_now() - WAITING_MAX_AGE)
    channels = sorted(rules.LOCKER_CHANNELS)
    rows = conn.execute(
        "SELECT o.id FROM orders o WHERE o.status = 'ready' AND o.created_at >= ? "
        f"AND (o.pickup = 1 OR o.channel IN ({','.join('?' * len(channels))})) "
        "AND NOT EXISTS (SELECT 1 FROM locker_assignments a WHERE a.order_id = o.id) "
        "ORDER BY o.updated_at LIMIT ?", (since, *channels, limit))
    return [r[0] for r in rows]


def reserve(tx: Tx, order_id: str, banks: list[tuple[str, int, list[int]]],
            offline_reason: str | None) -> dict[str, Any] | None:
    """Decide where ``order_id`` goes: the first free compartment of the first bank that has
    one (``banks``: name, compartments, compartments to skip such as open doors), in state
    ``loading``; or ``with_staff`` with a reason, and a ``locker.unavailable`` event.
    ``None`` when the order is no longer ready or was decided already."""
    order = tx.conn.execute("SELECT id, number, status FROM orders WHERE id = ?",
                            (order_id,)).fetchone()
    if order is None or order["status"] != "ready" or tx.conn.execute(
            "SELECT 1 FROM locker_assignments WHERE order_id = ?", (order_id,)).fetchone():
        return None
    now = iso(utc_now())
    for bank, compartments, skip in banks:
        taken = [r[0] for r in tx.conn.execute(
            "SELECT compartment FROM locker_assignments WHERE bank = ? AND state IN "
            "('loading', 'active', 'expired')", (bank,))]
        n = rules.first_free(compartments, taken + skip)
        if n is not None:
            cur = tx.conn.execute(
                "INSERT INTO locker_assignments(order_id, bank, compartment, state, assigned_at) "
                "VALUES (?, ?, ?, 'loading', ?)", (order_id, bank, n, now))
            return {"id": cur.lastrowid, "order_id": order_id, "number": order["number"],
                    "bank": bank, "compartment": n, "state": "loading"}
    reason = offline_reason if offline_reason and not banks else "no_free_compartment"
    return to_staff(tx, order_id, order["number"], reason, now)


def to_staff(tx: Tx, order_id: str, number: int, reason: str, now: str | None = None,
             assignment_id: int | None = None) -> dict[str, Any]:
    """The order stays at the counter: record why and tell HQ."""
    now = now or iso(utc_now())
    if assignment_id is None:
        tx.conn.execute(
            "INSERT INTO locker_assignments(order_id, state, reason, assigned_at) "
            "VALUES (?, 'with_staff', ?, ?)", (order_id, reason, now))
    else:
        tx.conn.execute(
            "UPDATE locker_assignments SET state = 'with_staff', reason = ?, bank = NULL, "
            "compartment = NULL, closed_at = ? WHERE id = ? AND state = 'loading'",
            (reason, now, assignment_id))
    tx.emit("locker.unavailable", {"order_id": order_id, "number": number, "reason": reason})
    return {"order_id": order_id, "number": number, "state": "with_staff", "reason": reason}


def activate(tx: Tx, assignment_id: int, key: bytes, hold_s: int) -> dict[str, Any]:
    """The door opened for loading: give the assignment its pickup code (unique among
    active ones) and its deadline; ``locker.assigned`` carries the code to HQ, which tells
    the customer. The database keeps only the code's HMAC."""
    row = tx.conn.execute(
        "SELECT a.order_id, o.number, a.bank, a.compartment FROM locker_assignments a "
        "JOIN orders o ON o.id = a.order_id WHERE a.id = ? AND a.state = 'loading'",
        (assignment_id,)).fetchone()
    if row is None:
        raise Conflict("assignment_not_loading", {"id": assignment_id})
    while True:
        code = rules.new_code()
        digest = rules.code_digest(key, code)
        if not tx.conn.execute("SELECT 1 FROM locker_assignments WHERE code_hash = ? AND "
                               "state = 'active'", (digest,)).fetchone():
            break
    expires = iso(utc_now() + timedelta(seconds=hold_s))
    tx.conn.execute("UPDATE locker_assignments SET state = 'active', code_hash = ?, "
                    "expires_at = ? WHERE id = ?", (digest, expires, assignment_id))
    assigned = {"order_id": row["order_id"], "number": row["number"], "bank": row["bank"],
                "compartment": row["compartment"], "code": code, "expires_at": expires}
    tx.emit("locker.assigned", assigned)
    return {"id": assignment_id, "state": "active", **assigned}


def find_by_code(conn: sqlite3.Connection, digest: str, bank: str | None) -> dict[str, Any] | None:
    row = conn.execute(
        f"SELECT {COLUMNS} FROM locker_assignments a JOIN orders o ON o.id = a.order_id "
        "WHERE a.code_hash = ? AND a.state = 'active' AND (? IS NULL OR a.bank = ?)",
        (digest, bank, bank)).fetchone()
    return None if row is None else _row(row)


def holder(conn: sqlite3.Connection, bank: str, n: int) -> dict[str, Any] | None:
    """The assignment holding compartment ``n`` of ``bank``, if any."""
    row = conn.execute(
        f"SELECT {COLUMNS} FROM locker_assignments a JOIN orders o ON o.id = a.order_id "
        "WHERE a.bank = ? AND a.compartment = ? AND a.state IN ('loading', 'active', 'expired')",
        (bank, n)).fetchone()
    return None if row is None else _row(row)


def opened(tx: Tx, bank: str, n: int, by: str, release: bool) -> dict[str, Any]:
    """A door was opened (``by``: code, keypad or staff). By code or keypad the order was
    collected (and completed, if still ready); by staff with ``release`` the compartment
    is emptied. ``locker.opened`` either way."""
    row = holder(tx.conn, bank, n)
    now = iso(utc_now())
    data: dict[str, Any] = {"bank": bank, "compartment": n, "by": by,
                            "order_id": row["order_id"] if row else None}
    if row is not None and (by != "staff" or release):
        state = "released" if by == "staff" else "collected"
        tx.conn.execute("UPDATE locker_assignments SET state = ?, closed_at = ? WHERE id = ?",
                        (state, now, row["id"]))
        data["state"] = state
        status = tx.conn.execute("SELECT status FROM orders WHERE id = ?",
                                 (row["order_id"],)).fetchone()
        if state == "collected" and status and status[0] == "ready":
            transition_order(tx, row["order_id"], "completed")
    tx.emit("locker.opened", data)
    return data


def expire_due(tx: Tx) -> list[dict[str, Any]]:
    """Active assignments past their deadline go back to staff (``locker.expired``)."""
    now = iso(utc_now())
    rows = [_row(r) for r in tx.conn.execute(
        f"SELECT {COLUMNS} FROM locker_assignments a JOIN orders o ON o.id = a.order_id "
        "WHERE a.state = 'active' AND a.expires_at <= ? ORDER BY a.expires_at", (now,))]
    for row in rows:
        tx.conn.execute("UPDATE locker_assignments SET state = 'expired', closed_at = ? "
                        "WHERE id = ?", (now, row["id"]))
        tx.emit("locker.expired", {"order_id": row["order_id"], "number": row["number"],
                                   "bank": row["bank"], "compartment": row["compartment"],
                                   "expires_at": row["expires_at"]})
        row["state"] = "expired"
    return rows


def expiry_due(conn: sqlite3.Connection) -> bool:
    """Whether an active assignment is past its deadline (a cheap read before the write)."""
    row = conn.execute("SELECT MIN(expires_at) FROM locker_assignments WHERE state = 'active'"
                       ).fetchone()
    return row[0] is not None and bool(row[0] <= iso(utc_now()))


def abandon_loading(tx: Tx) -> int:
    """At start-up: reservations whose door-open never finished go back to staff."""
    rows = tx.conn.execute("SELECT a.id, a.order_id, o.number FROM locker_assignments a "
                           "JOIN orders o ON o.id = a.order_id WHERE a.state = 'loading'"
                           ).fetchall()
    for row in rows:
        to_staff(tx, row["order_id"], row["number"], "interrupted", assignment_id=row["id"])
    return len(rows)


def overview(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Assignments that hold a compartment or left an order with staff in the last hours."""
    since = iso(utc_now() - WAITING_MAX_AGE)
    return [_row(r) for r in conn.execute(
        f"SELECT {COLUMNS} FROM locker_assignments a JOIN orders o ON o.id = a.order_id "
        "WHERE a.state IN ('loading', 'active', 'expired') "
        "OR (a.state = 'with_staff' AND a.assigned_at >= ?) ORDER BY a.id", (since,))]
