"""Write transactions. Each runs on the writer thread as ``fn(tx, ...)``."""

from __future__ import annotations

import json
import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

from common.clock import iso, local_day, utc_now
from common.errors import Conflict, DomainError, NotFound
from common.ids import new_ulid

from edge.orders import rules
from edge.catalog import rules as stock_rules
from edge.catalog.sql import move_stock
from edge.members import sql as members
from edge.orders import payments
from edge.db.outbox import encode_own_data
from edge.orders.rows import fetch_order
from edge.db.stockcache import keeps_stock_cache
from edge.db.group_commit import Tx
from edge.pricing.sql import load_book


@keeps_stock_cache
def create_order(
    tx: Tx, req: dict[str, Any], key: str, req_hash: str, tz: ZoneInfo
) -> tuple[dict[str, Any], bool]:
    """Place an order atomically. Returns ``(order, replayed)``: a key seen before answers
    with the order it placed."""
    cur = tx.cur
    now = utc_now()
    at = iso(now)
    order_id = new_ulid()
    # claim the key first (one statement, not a SELECT then an INSERT); a refused order
    # rolls the claim back with its SAVEPOINT
    if not cur.execute(
        "INSERT INTO idempotency(key, request_hash, order_id, created_at) VALUES (?,?,?,?) "
        "ON CONFLICT(key) DO NOTHING", (key, req_hash, order_id, at),
    ).rowcount:
        return _replay(tx.conn, key, req_hash)

    wanted = rules.quantities_by_sku(req["lines"])
    channel = req["channel"]
    day = local_day(now, tz)
    items, levels = tx.cache.items_and_levels(cur, list(wanted), channel, day)
    short = stock_rules.shortages(wanted, levels)
    if short:
        raise Conflict("out_of_stock", short)

    book = tx.cache.price_rules
    if book is None:  # cleared by every job that may change a rule (stockcache.py)
        book = tx.cache.price_rules = load_book(cur)
    priced = rules.price_lines(items, req["lines"], channel, book, now.astimezone(tz))
    subtotal = int(sum(p.total_cents for p in priced))
    perks = None  # a plain order (no member, no coupon) pays nothing for the members feature
    if req.get("member") is not None or req.get("coupons"):
        perks = members.order_perks(tx, req, channel, at, {p.sku: p.unit_cents for p in priced},
                                    subtotal)
    # INTEGER columns store a whole float (qty 2.0 passes the schema) as an int: so does the
    # order we answer with, built here as fetch_order would read it back (no second query).
    lines: list[dict[str, Any]] = [
        {"line_no": p.line_no, "sku": p.sku, "name": p.name, "qty": int(p.qty),
         "unit_cents": p.unit_cents, "total_cents": int(p.total_cents), "station": p.station,
         "note": p.note}
        for p in priced
    ]
    for line, p in zip(lines, priced):  # only a line a rule priced names it (rows.py)
        if p.price_rule is not None:
            line["price_rule"] = p.price_rule
    order: dict[str, Any] = {
        "id": order_id, "number": 0, "day": day, "channel": channel, "status": "placed",
        "total_cents": subtotal,
        "member": req.get("member"), "table": req.get("table"),
        "pickup": bool(req.get("pickup")), "created_at": at, "updated_at": at,
        "lines": lines, "stations": sorted({line["station"] for line in lines}),
    }
    if perks is not None:
        _add_perks(order, perks)
    if req.get("note"):
        order["note"] = req["note"]
    # the day's next short number, taken in the INSERT itself through the UNIQUE (day, number)
    # index: one writer, inside its transaction, so MAX + 1 is never handed out twice, and a
    # refused order takes no number (it is rolled back with the row). An order for a table
    # joins the table's open session (edge/tables/), if it has one.
    order["number"] = cur.execute(
        "INSERT INTO orders(id, number, day, channel, status, total_cents, member, table_no, "
        "pickup, created_at, updated_at, discount_cents, coupons, points_earned, note, "
        "session_id) "
        "VALUES (?,(SELECT MAX(COALESCE(MAX(number), 0), COALESCE((SELECT last FROM "
        "order_number_floors WHERE day = ?), 0)) + 1 FROM orders WHERE day = ?),"
        "?,?,?,?,?,?,?,?,?,?,?,?,?,"
        "(SELECT id FROM table_sessions WHERE table_id = ? AND closed_at IS NULL)) "
        "RETURNING number",
        (order_id, day, day, day, channel, "placed", order["total_cents"],
         order["member"], order["table"], int(order["pickup"]), at, at,
         order.get("discount_cents", 0), order.get("coupons") and json.dumps(order["coupons"]),
         order.get("points_earned"), order.get("note"), order["table"]),
    ).fetchone()[0]
    cur.execute(  # one multi-row INSERT: half the cost of executemany for a few lines
        "INSERT INTO order_lines(order_id, line_no, sku, name, qty, unit_cents, total_cents, "
        "station, note, price_rule) VALUES " + ",".join(["(?,?,?,?,?,?,?,?,?,?)"] * len(lines)),
        [value for line in lines for value in (
            order_id, line["line_no"], line["sku"], line["name"], line["qty"],
            line["unit_cents"], line["total_cents"], line["station"], line["note"],
            line.get("price_rule"))],
    )
    sold = {sku: qty for sku, qty in wanted.items() if sku in levels}
    moves, lows = _sell_stock(tx, sold, order_id, channel, day, at) if sold else ([], [])
    # the sale's stock movements travel in the order's own event, not one stock.moved each
    placed = {"order": order, "stock": moves}
    tx.emit("order.placed", placed, at=at, encoded=encode_own_data(placed))
    if perks is not None:
        members.record_perks(tx, order, perks)
    for low in lows:
        tx.emit("stock.low", low)
    return order, False


def _add_perks(order: dict[str, Any], perks: members.Perks) -> None:
    """The member (resolved through merges), the coupons' discount and the points earned,
    in the shape ``rows.order_from_row`` reads back."""
    order["member"] = perks.member
    if perks.codes:
        order["total_cents"] -= perks.discount_cents
        order["discount_cents"], order["coupons"] = perks.discount_cents, perks.codes
    if perks.points is not None:
        order["points_earned"] = perks.points


def replay_if_seen(conn: sqlite3.Connection, key: str, req_hash: str
                   ) -> tuple[dict[str, Any], bool] | None:
    """The order an Idempotency-Key already placed (``None`` if it placed none): for callers
    that check more than stock before they create (a guest's table must be open)."""
    if conn.execute("SELECT 1 FROM idempotency WHERE key = ?", (key,)).fetchone() is None:
        return None
    return _replay(conn, key, req_hash)


def _replay(conn: sqlite3.Connection, key: str, req_hash: str) -> tuple[dict[str, Any], bool]:
    """The same key again: the order it placed, if the request is the same one."""
    request_hash, order_id = conn.execute(
        "SELECT request_hash, order_id FROM idempotency WHERE key = ?", (key,)
    ).fetchone()
    if request_hash != req_hash:
        raise DomainError("idempotency_key_reused", {"key": key})
    return fetch_order(conn, order_id) or {}, True


def _sell_stock(
    tx: Tx, sold: dict[str, int], order_id: str, channel: str, day: str, at: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Take each SKU's ``qty`` off stock (and off its channel quota), record the sale
    movements. The levels come from the writer's stock cache, which these writes keep current.

    Returns the movements for the ``order.placed`` event (``{sku, delta, on_hand}``) and the
    ``stock.low`` alerts of the SKUs that crossed below their safety stock.
    """
    cur, cache = tx.cur, tx.cache
    cur.executemany("UPDATE stock SET on_hand = on_hand - ? WHERE sku = ?",
                    [(qty, sku) for sku, qty in sold.items()])
    if cur.rowcount != len(sold):  # a stock row went away under a stale cache: refuse
        raise NotFound("stock_not_tracked", {"skus": sorted(sold)})
    cur.execute(
        "INSERT INTO stock_movements(sku, delta, reason, ref, at) VALUES "
        + ",".join(["(?,?,?,?,?)"] * len(sold)),
        [value for sku, qty in sold.items() for value in (sku, -qty, "sale", order_id, at)],
    )
    moves, lows, quota_used = [], [], []
    for sku, qty in sold.items():
        on_hand, safety = cache.sold(sku, qty, channel, day)
        moves.append({"sku": sku, "delta": -qty, "on_hand": on_hand})
        if stock_rules.crossed_below_safety(on_hand + qty, on_hand, safety):
            lows.append({"sku": sku, "on_hand": on_hand, "safety_stock": safety})
        if cache.quotas[(sku, channel, day)][0] is not None:
            quota_used.append((sku, channel, day, qty))
    if quota_used:
        cur.executemany(
            "INSERT INTO quota_usage(sku, channel, day, used) VALUES (?,?,?,?) "
            "ON CONFLICT(sku, channel, day) DO UPDATE SET used = MAX(0, used + excluded.used)",
            quota_used,
        )
    return moves, lows


def transition_order(tx: Tx, order_id: str, target: str) -> dict[str, Any]:
    order = fetch_order(tx.conn, order_id)
    if order is None:
        raise NotFound("unknown_order", {"id": order_id})
    rules.check_transition(order["status"], target)
    at = iso(utc_now())
    tx.conn.execute(
        "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?", (target, at, order_id)
    )
    previous = order["status"]
    order.update(status=target, updated_at=at)
    tx.emit("order.status_changed", {"order": order, "from": previous, "to": target})
    if target in rules.RESTORES_STOCK:
        restore_stock(tx, order, "cancel")
        members.reverse_points(tx, order)
        payments.refund_tenders(tx, order)
    return order


def restore_stock(tx: Tx, order: dict[str, Any], reason: str) -> list[dict[str, Any]]:
    """Put the order's tracked SKUs back on hand (a movement each) and free its quota use."""
    wanted = rules.quantities_by_sku(order["lines"])
    tracked = {
        r[0] for r in tx.conn.execute(
            f"SELECT sku FROM stock WHERE sku IN ({','.join('?' * len(wanted))})", list(wanted)
        )
    }
    levels: list[dict[str, Any]] = []
    for sku, qty in wanted.items():
        if sku not in tracked:
            continue
        levels.append(move_stock(tx, sku, qty, reason, order["id"]))
        tx.conn.execute(
            "UPDATE quota_usage SET used = MAX(0, used - ?) WHERE sku = ? AND channel = ? "
            "AND day = ?",
            (qty, sku, order["channel"], order["day"]),
        )
    return levels
