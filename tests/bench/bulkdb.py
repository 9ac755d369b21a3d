"""Fill a store's SQLite file with many orders by bulk SQL, as ``create_order`` would have.

Each order ``n`` (0-based) is the benchmark order (C001 + 2 x C002 + S001 on ``pos``),
placed on one of the days before today (1000 a day), with everything the order center
writes for it: the ``orders`` row, three ``order_lines``, three ``stock_movements``, the
``idempotency`` row, and four outbox events (``order.placed``, three ``stock.moved``)
with gapless ``seq``; then ``stock`` and the
``outbox_last_seq`` counter. Rows are generated inside SQLite (recursive CTEs) in key
order, so a million orders take about a minute, not an hour of Python.

The four events per order are what ``create_order`` wrote before the sale movements moved
into ``order.placed`` (one event per order now): an upgraded store can still hold them, and
the larger outbox is the harder start-up case.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

from common.clock import iso, utc_now
from edge.config import load_settings
from edge.syncer import sql as syncdb

from .plumbing import ORDER

PER_DAY = 1000
RECEIPT = 10_000_000  # stock received before the first order, so on_hand stays >= 0

# order n's fields, as SQL over the CTE column n
ID = "printf('01H%023d', n)"
DAY = "date(:first, '+' || (n / 1000) || ' days')"
NUMBER = "(n % 1000 + 1)"
AT = ("strftime('%Y-%m-%dT%H:%M:%S.000Z', date(:first, '+' || (n / 1000) || ' days'), "
      "'+' || (7200 + (n % 1000) * 40) || ' seconds')")  # 10:00-21:06 Asia/Shanghai
MS = f"CAST((julianday({AT}) - 2440587.5) * 86400000 AS INTEGER)"


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))  # as the outbox writes


def _counter(upto: str, var: str = "n") -> str:
    return (f"WITH RECURSIVE c({var}) AS (SELECT 0 UNION ALL SELECT {var} + 1 FROM c "
            f"WHERE {var} + 1 < {upto}) ")


def build(data_dir: Path, orders: int) -> dict[str, int]:
    """Add ``orders`` orders to a store made by ``make_store`` (daemon not running)."""
    settings = load_settings(data_dir)
    first = (datetime.now(settings.timezone).date()
             - timedelta(days=-(-orders // PER_DAY) + 1)).isoformat()
    assert date.fromisoformat(first) < datetime.now(settings.timezone).date()
    conn = sqlite3.connect(settings.db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute("BEGIN")
        counts = _fill(conn, orders, first)
        # each event's head (its JSON up to the data), as the daemon's outbox writes it
        conn.execute(f"UPDATE outbox SET head = {syncdb._HEAD_OF_COLUMNS} WHERE head IS NULL",
                     (json.dumps(settings.store_id, ensure_ascii=False),))
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")  # as the daemon left it
    finally:
        conn.close()
    return counts


def _fill(conn: sqlite3.Connection, orders: int, first: str) -> dict[str, int]:
    items = {sku: (name, station, price) for sku, name, station, price in conn.execute(
        "SELECT sku, name, station, price_cents FROM items")}
    qty = {line["sku"]: line["qty"] for line in ORDER["lines"]}
    lines = [{"line_no": i, "sku": sku, "name": items[sku][0], "qty": q,
              "unit_cents": items[sku][2], "total_cents": items[sku][2] * q,
              "station": items[sku][1], "note": None} for i, (sku, q) in enumerate(qty.items(), 1)]
    total = sum(line["total_cents"] for line in lines)
    seq0 = int(conn.execute("SELECT value FROM meta WHERE key = 'outbox_last_seq'").fetchone()[0])
    at0 = iso(utc_now())
    for i, sku in enumerate(qty, 1):  # the receipt, as POST /inventory/movements writes it
        on_hand = conn.execute("UPDATE stock SET on_hand = on_hand + ? WHERE sku = ? "
                               "RETURNING on_hand", (RECEIPT, sku)).fetchone()[0]
        conn.execute("INSERT INTO stock_movements(sku, delta, reason, ref, at) "
                     "VALUES (?, ?, 'receipt', NULL, ?)", (sku, RECEIPT, at0))
        conn.execute("INSERT INTO outbox(seq, event_id, type, v, at, hlc, data) "
                     "VALUES (?, ?, 'stock.moved', 1, ?, ?, ?)",
                     (seq0 + i, f"01G{seq0 + i:023d}", at0, f"{0:013d}.{i:05d}",
                      _compact({"sku": sku, "delta": RECEIPT, "reason": "receipt",
                                  "ref": None, "on_hand": on_hand})))
    base = seq0 + len(qty)
    skus = list(qty)
    on_hand0 = {sku: conn.execute("SELECT on_hand FROM stock WHERE sku = ?",
                                  (sku,)).fetchone()[0] for sku in skus}
    p = {"first": first, "n_orders": orders, "total": total, "base": base,
         "lines": _compact(lines),
         "stations": _compact(sorted({line["station"] for line in lines}))}
    for k, sku in enumerate(skus):
        p[f"sku{k}"], p[f"qty{k}"], p[f"oh{k}"] = sku, qty[sku], on_hand0[sku]
        p[f"name{k}"], p[f"station{k}"], p[f"unit{k}"] = items[sku][0], items[sku][1], items[sku][2]

    def pick(field: str, k: str = "k") -> str:
        return f"CASE {k} WHEN 0 THEN :{field}0 WHEN 1 THEN :{field}1 ELSE :{field}2 END"

    conn.execute(
        _counter(":n_orders") + "INSERT INTO orders(id, number, day, channel, status, "
        "total_cents, member, table_no, pickup, created_at, updated_at) "
        f"SELECT {ID}, {NUMBER}, {DAY}, 'pos', 'placed', :total, NULL, NULL, 0, {AT}, {AT} "
        "FROM c", p)
    conn.execute(
        _counter(":n_orders * 3", "m") + "INSERT INTO order_lines(order_id, line_no, sku, name, "
        "qty, unit_cents, total_cents, station, note) "
        f"SELECT {ID}, k + 1, {pick('sku')}, {pick('name')}, {pick('qty')}, {pick('unit')}, "
        f"{pick('unit')} * {pick('qty')}, {pick('station')}, NULL "
        "FROM (SELECT m / 3 AS n, m % 3 AS k FROM c)", p)
    conn.execute(
        _counter(":n_orders * 3", "m") + "INSERT INTO stock_movements(sku, delta, reason, ref, at) "
        f"SELECT {pick('sku')}, -{pick('qty')}, 'sale', {ID}, {AT} "
        "FROM (SELECT m / 3 AS n, m % 3 AS k FROM c)", p)
    conn.execute(
        _counter(":n_orders") + "INSERT INTO idempotency(key, request_hash, order_id, created_at) "
        f"SELECT printf('bulk-%010d', n), lower(hex(randomblob(32))), {ID}, {AT} FROM c", p)
    order_json = (
        f"json_object('order', json_object('id', {ID}, 'number', {NUMBER}, 'day', {DAY}, "
        f"'channel', 'pos', 'status', 'placed', 'total_cents', :total, 'member', NULL, "
        f"'table', NULL, 'pickup', json('false'), 'created_at', {AT}, 'updated_at', {AT}, "
        "'lines', json(:lines), 'stations', json(:stations)))")
    moved_json = (
        f"json_object('sku', {pick('sku', 'k - 1')}, 'delta', -{pick('qty', 'k - 1')}, "
        f"'reason', 'sale', 'ref', {ID}, "
        f"'on_hand', {pick('oh', 'k - 1')} - {pick('qty', 'k - 1')} * (n + 1))")
    conn.execute(
        _counter(":n_orders * 4", "m") + "INSERT INTO outbox(seq, event_id, type, v, at, hlc, data) "
        "SELECT :base + m + 1, printf('01H%023d', :base + m + 1), "
        "CASE k WHEN 0 THEN 'order.placed' ELSE 'stock.moved' END, 1, "
        f"{AT}, printf('%013d.%05d', {MS}, k), "
        f"CASE k WHEN 0 THEN {order_json} ELSE {moved_json} END "
        "FROM (SELECT m / 4 AS n, m % 4 AS k, m FROM c)", p)
    days = -(-orders // PER_DAY)
    for k, sku in enumerate(skus):
        conn.execute("UPDATE stock SET on_hand = on_hand - ? WHERE sku = ?",
                     (qty[sku] * orders, sku))
    last = base + 4 * orders
    conn.execute("UPDATE meta SET value = ? WHERE key = 'outbox_last_seq'", (str(last),))
    return {"orders": orders, "outbox_last_seq": last, "days": days}
