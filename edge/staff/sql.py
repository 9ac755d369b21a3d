"""Staff accounts: who may log in, with which role and PIN hash."""

from __future__ import annotations

import sqlite3

from common.clock import iso, utc_now
from common.errors import Conflict

from edge.db.group_commit import Tx


def add_staff(tx: Tx, staff_id: str, role: str, pin_hash: str) -> None:
    if tx.conn.execute("SELECT 1 FROM staff WHERE id = ?", (staff_id,)).fetchone():
        raise Conflict("staff_exists", {"staff": staff_id})
    tx.conn.execute(
        "INSERT INTO staff(id, role, pin_hash, created_at) VALUES (?,?,?,?)",
        (staff_id, role, pin_hash, iso(utc_now())),
    )
    # HQ keeps the store's staff (the PIN's hash, never the PIN) for a replacement box
    tx.emit("staff.changed", {"staff": staff_id, "role": role, "pin_hash": pin_hash,
                              "active": True})


def staff_pin_hash(conn: sqlite3.Connection, staff_id: str) -> tuple[str, str] | None:
    row = conn.execute(
        "SELECT role, pin_hash FROM staff WHERE id = ? AND active = 1", (staff_id,)
    ).fetchone()
    return (row["role"], row["pin_hash"]) if row else None
