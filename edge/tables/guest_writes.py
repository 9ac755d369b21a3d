"""The guest's order and call, each one writer job: replay, seating, cap and the order itself
commit together or not at all."""

from __future__ import annotations

import sqlite3
from typing import Any, Final
from zoneinfo import ZoneInfo

from common.errors import Conflict, NotFound

from edge.db.group_commit import Tx
from edge.db.stockcache import keeps_stock_cache
from edge.orders import writes
from edge.tables import rules, sql
from edge.tables.settings import TableSettings

GUEST_CHANNEL = "dine_in_qr"
# the table's open seating and its guest orders not yet ready, in one query
SEATING: Final = (
    "SELECT s.id, (SELECT COUNT(*) FROM orders o WHERE o.session_id = s.id AND o.channel = ? "
    f"AND o.status IN ({','.join('?' * len(rules.OPEN_STATUSES))})) "
    "FROM table_sessions s WHERE s.table_id = ? AND s.closed_at IS NULL")
_SEATING_ARGS: Final = (GUEST_CHANNEL, *sorted(rules.OPEN_STATUSES))


def scoped_key(table_id: str, key: str) -> str:
    """A guest's Idempotency-Key, scoped to the table: another table's phone that sends the
    same key places its own order and never sees this one."""
    return f"guest:{table_id}:{key}"


@keeps_stock_cache  # it writes a seating at most, no item, stock or quota row
def place_guest_order(tx: Tx, token: str, body: dict[str, Any], guest_key: str,
                      req_hash: str, tz: ZoneInfo, limits: TableSettings
                      ) -> tuple[dict[str, Any], bool]:
    """``(order, replayed)`` for the table of ``token`` (404 ``unknown_table``: resolved here,
    on the writer, so the hot path makes no trip to a reader). The same key again answers
    with the order it placed, even after the table closed; a new order needs an open seating
    (or opens one, with self-opening)."""
    found = tx.cur.execute("SELECT id FROM dining_tables WHERE token = ?", (token,)).fetchone()
    if found is None:
        raise NotFound("unknown_table", None)
    table_id = found[0]
    key = scoped_key(table_id, guest_key)
    seating = tx.cur.execute(SEATING, (*_SEATING_ARGS, table_id)).fetchone()
    refusal = None
    if seating is None and not limits.self_open:
        refusal = Conflict("table_closed", {"table": table_id})
    elif seating is not None and seating[1] >= limits.max_open_orders:
        refusal = Conflict("too_many_open_orders", {"open": seating[1],
                                                    "max": limits.max_open_orders})
    if refusal is not None:  # unless it is a retry of an order placed before: that one
        seen = writes.replay_if_seen(tx.conn, key, req_hash)
        if seen is not None:
            return seen
        raise refusal
    req = {"channel": GUEST_CHANNEL, "lines": body["lines"], "table": table_id,
           "note": body.get("note")}
    if seating is None and writes.replay_if_seen(tx.conn, key, req_hash) is None:
        sql.open_table(tx, table_id, None, "guest")  # the first order opens the seating
    return writes.create_order(tx, req, key, req_hash, tz)


def guest_session(conn: sqlite3.Connection, table_id: str) -> dict[str, Any]:
    """This table's open seating as the guest sees it (read connection)."""
    session_id = sql.open_session_id(conn, table_id)
    if session_id is None:
        return {"session": None, "orders": [], "total_cents": 0}
    orders = sql.session_orders(conn, session_id)
    return {"session": session_id, "orders": [rules.guest_order(o) for o in orders],
            "total_cents": rules.bill_total(orders)}
