"""The guest's order and call, each one writer job: replay, seating, cap and the order itself
commit together or not at all."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from common.errors import Conflict

from edge.db.group_commit import Tx
from edge.db.stockcache import keeps_stock_cache
from edge.orders import writes
from edge.tables import rules, sql
from edge.tables.settings import TableSettings

GUEST_CHANNEL = "dine_in_qr"


def guest_key(table_id: str, key: str) -> str:
    """A guest's Idempotency-Key, scoped to the table: another table's phone that sends the
    same key places its own order and never sees this one."""
    return f"guest:{table_id}:{key}"


@keeps_stock_cache  # it writes a seating at most, no item, stock or quota row
def place_guest_order(tx: Tx, table_id: str, body: dict[str, Any], key: str, req_hash: str,
                      tz: ZoneInfo, limits: TableSettings) -> tuple[dict[str, Any], bool]:
    """``(order, replayed)``. The same key again answers with the order it placed, even after
    the table closed; a new order needs an open seating (or opens one, with self-opening)."""
    seen = writes.replay_if_seen(tx.conn, key, req_hash)
    if seen is not None:
        return seen
    session_id = sql.open_session_id(tx.conn, table_id)
    if session_id is None:
        if not limits.self_open:
            raise Conflict("table_closed", {"table": table_id})
        sql.open_table(tx, table_id, None, "guest")
    else:
        open_orders = tx.conn.execute(
            "SELECT COUNT(*) FROM orders WHERE session_id = ? AND channel = ? AND status IN "
            f"({','.join('?' * len(rules.OPEN_STATUSES))})",
            (session_id, GUEST_CHANNEL, *sorted(rules.OPEN_STATUSES))).fetchone()[0]
        if open_orders >= limits.max_open_orders:
            raise Conflict("too_many_open_orders", {"open": open_orders,
                                                    "max": limits.max_open_orders})
    req = {"channel": GUEST_CHANNEL, "lines": body["lines"], "table": table_id,
           "note": body.get("note")}
    return writes.create_order(tx, req, key, req_hash, tz)


def guest_session(tx_or_conn: Any, table_id: str) -> dict[str, Any]:
    """This table's open seating as the guest sees it (read connection)."""
    session_id = sql.open_session_id(tx_or_conn, table_id)
    if session_id is None:
        return {"session": None, "orders": [], "total_cents": 0}
    orders = sql.session_orders(tx_or_conn, session_id)
    return {"session": session_id, "orders": [rules.guest_order(o) for o in orders],
            "total_cents": rules.bill_total(orders)}
