"""Write transactions. Each runs on the writer thread as ``fn(tx, ...)``."""

from __future__ import annotations

import json
import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

from common.clock import iso, local_day, utc_now
from common.errors import Conflict, DomainError, NotFound
from common.ids import new_ulid

from ..domain import orders as rules
from ..domain import stock as stock_rules
from . import members, payments
from .outbox import encode_own_data
from .rows import ITEM_COLUMNS, fetch_order, item_from_row
from .stockcache import keeps_stock_cache
from .writer import Tx

ITEM_FIELDS = ("name", "name_en", "category", "station", "price_cents", "cost_cents",
               "channel_prices", "available", "track_stock")


def _item_values(item: dict[str, Any]) -> list[Any]:
    values = []
    for field in ITEM_FIELDS:
        value = item.get(field)
        if field == "channel_prices":
            value = json.dumps(value or {}, sort_keys=True)
        elif field in ("available", "track_stock"):
            value = 1 if value is None else int(bool(value))
        values.append(value)
    return values


def create_item(tx: Tx, item: dict[str, Any], safety_stock: int = 0) -> dict[str, Any]:
    if tx.conn.execute("SELECT 1 FROM items WHERE sku = ?", (item["sku"],)).fetchone():
        raise Conflict("sku_exists", {"sku": item["sku"]})
    cols = ", ".join(("sku",) + ITEM_FIELDS + ("updated_at",))
    marks = ",".join("?" * (len(ITEM_FIELDS) + 2))
    tx.conn.execute(
        f"INSERT INTO items({cols}) VALUES ({marks})",
        [item["sku"], *_item_values(item), iso(utc_now())],
    )
    if item.get("track_stock", True):
        tx.conn.execute(
            "INSERT OR IGNORE INTO stock(sku, on_hand, safety_stock) VALUES (?, 0, ?)",
            (item["sku"], safety_stock),
        )
    return _emit_item(tx, item["sku"])


def patch_item(tx: Tx, sku: str, changes: dict[str, Any]) -> dict[str, Any]:
    row = tx.conn.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        raise NotFound("unknown_sku", {"sku": sku})
    merged = {**item_from_row(row), **changes}
    sets = ", ".join(f"{f} = ?" for f in ITEM_FIELDS)
    tx.conn.execute(
        f"UPDATE items SET {sets}, updated_at = ? WHERE sku = ?",
        [*_item_values(merged), iso(utc_now()), sku],
    )
    if merged["track_stock"]:
        tx.conn.execute("INSERT OR IGNORE INTO stock(sku) VALUES (?)", (sku,))
    return _emit_item(tx, sku)


def _emit_item(tx: Tx, sku: str) -> dict[str, Any]:
    row = tx.conn.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE sku = ?", (sku,)).fetchone()
    item = item_from_row(row)
    tx.emit("catalog.item_changed", {"item": item})
    return item


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

    priced = rules.price_lines(items, req["lines"], channel)
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
    order: dict[str, Any] = {
        "id": order_id, "number": 0, "day": day, "channel": channel, "status": "placed",
        "total_cents": subtotal,
        "member": req.get("member"), "table": req.get("table"),
        "pickup": bool(req.get("pickup")), "created_at": at, "updated_at": at,
        "lines": lines, "stations": sorted({line["station"] for line in lines}),
    }
    if perks is not None:
        _add_perks(order, perks)
    # the day's next short number, taken in the INSERT itself through the UNIQUE (day, number)
    # index: one writer, inside its transaction, so MAX + 1 is never handed out twice, and a
    # refused order takes no number (it is rolled back with the row)
    order["number"] = cur.execute(
        "INSERT INTO orders(id, number, day, channel, status, total_cents, member, table_no, "
        "pickup, created_at, updated_at, discount_cents, coupons, points_earned) "
        "VALUES (?,(SELECT COALESCE(MAX(number), 0) + 1 FROM orders WHERE day = ?),"
        "?,?,?,?,?,?,?,?,?,?,?,?) RETURNING number",
        (order_id, day, day, channel, "placed", order["total_cents"],
         order["member"], order["table"], int(order["pickup"]), at, at,
         order.get("discount_cents", 0), order.get("coupons") and json.dumps(order["coupons"]),
         order.get("points_earned")),
    ).fetchone()[0]
    cur.execute(  # one multi-row INSERT: half the cost of executemany for a few lines
        "INSERT INTO order_lines(order_id, line_no, sku, name, qty, unit_cents, total_cents, "
        "station, note) VALUES " + ",".join(["(?,?,?,?,?,?,?,?,?)"] * len(lines)),
        [value for line in lines for value in (
            order_id, line["line_no"], line["sku"], line["name"], line["qty"],
            line["unit_cents"], line["total_cents"], line["station"], line["note"])],
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


def _move_stock(tx: Tx, sku: str, delta: int, reason: str, ref: str | None,
                at: str | None = None) -> dict[str, Any]:
    row = tx.conn.execute(
        "UPDATE stock SET on_hand = on_hand + ? WHERE sku = ? RETURNING on_hand, safety_stock",
        (delta, sku),
    ).fetchone()
    if row is None:
        raise NotFound("stock_not_tracked", {"sku": sku})
    after, safety = row
    at = at or iso(utc_now())
    tx.conn.execute(
        "INSERT INTO stock_movements(sku, delta, reason, ref, at) VALUES (?,?,?,?,?)",
        (sku, delta, reason, ref, at),
    )
    level = {"sku": sku, "on_hand": after, "safety_stock": safety}
    tx.emit("stock.moved", {"sku": sku, "delta": delta, "reason": reason, "ref": ref,
                            "on_hand": after})
    if stock_rules.crossed_below_safety(after - delta, after, safety):
        tx.emit("stock.low", level)
    return level


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
        levels.append(_move_stock(tx, sku, qty, reason, order["id"]))
        tx.conn.execute(
            "UPDATE quota_usage SET used = MAX(0, used - ?) WHERE sku = ? AND channel = ? "
            "AND day = ?",
            (qty, sku, order["channel"], order["day"]),
        )
    return levels


def record_movement(
    tx: Tx, sku: str, delta: int | None, reason: str, counted: int | None, ref: str | None
) -> dict[str, Any]:
    row = tx.conn.execute("SELECT on_hand FROM stock WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        raise NotFound("unknown_sku", {"sku": sku})
    if counted is not None:  # stocktake: the delta against what was counted
        delta = counted - row["on_hand"]
    assert delta is not None
    if row["on_hand"] + delta < 0:
        raise Conflict("negative_stock", {"sku": sku, "on_hand": row["on_hand"], "delta": delta})
    return _move_stock(tx, sku, delta, reason, ref)


def set_quotas(tx: Tx, sku: str, quotas: dict[str, int | None]) -> dict[str, int]:
    if tx.conn.execute("SELECT 1 FROM stock WHERE sku = ?", (sku,)).fetchone() is None:
        raise NotFound("unknown_sku", {"sku": sku})
    for channel, limit in quotas.items():
        if limit is None:
            tx.conn.execute("DELETE FROM quotas WHERE sku = ? AND channel = ?", (sku, channel))
        else:
            tx.conn.execute(
                "INSERT INTO quotas(sku, channel, daily_limit) VALUES (?,?,?) "
                "ON CONFLICT(sku, channel) DO UPDATE SET daily_limit = excluded.daily_limit",
                (sku, channel, limit),
            )
    current = dict(
        tx.conn.execute("SELECT channel, daily_limit FROM quotas WHERE sku = ?", (sku,)).fetchall()
    )
    tx.emit("inventory.quotas_changed", {"sku": sku, "quotas": current})
    return current


def set_safety_stock(tx: Tx, sku: str, safety: int) -> None:
    tx.conn.execute("UPDATE stock SET safety_stock = ? WHERE sku = ?", (safety, sku))


def add_staff(tx: Tx, staff_id: str, role: str, pin_hash: str) -> None:
    if tx.conn.execute("SELECT 1 FROM staff WHERE id = ?", (staff_id,)).fetchone():
        raise Conflict("staff_exists", {"staff": staff_id})
    tx.conn.execute(
        "INSERT INTO staff(id, role, pin_hash, created_at) VALUES (?,?,?,?)",
        (staff_id, role, pin_hash, iso(utc_now())),
    )

