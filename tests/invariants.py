"""Invariants of the edge database after a crash or a storage failure, read from the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def check_database(path: Path) -> dict[str, Any]:
    """Structural invariants, read in one snapshot over a read-only connection."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN")
        assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        seqs = [r[0] for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
        last = int(conn.execute(
            "SELECT value FROM meta WHERE key = 'outbox_last_seq'").fetchone()[0])
        assert seqs == list(range(1, len(seqs) + 1)), "outbox seq has a gap"
        assert last == len(seqs), f"meta outbox_last_seq {last} != {len(seqs)} events"
        drift = conn.execute(
            "SELECT s.sku, s.on_hand, COALESCE(SUM(m.delta), 0) FROM stock s "
            "LEFT JOIN stock_movements m USING (sku) GROUP BY s.sku "
            "HAVING s.on_hand != COALESCE(SUM(m.delta), 0)").fetchall()
        assert drift == [], f"on_hand differs from the sum of movements: {drift}"
        # per order and SKU: what its sale movements took is what its lines sold; a line with
        # no sale movement is of an item that did not track stock when it was sold
        unmatched = conn.execute(
            "SELECT m.ref, m.sku, -SUM(m.delta), (SELECT SUM(qty) FROM order_lines l "
            "WHERE l.order_id = m.ref AND l.sku = m.sku) AS qty FROM stock_movements m "
            "WHERE m.reason = 'sale' GROUP BY m.ref, m.sku "
            "HAVING qty IS NULL OR -SUM(m.delta) != qty").fetchall()
        assert unmatched == [], f"sale movements do not match order lines: {unmatched[:5]}"
        untracked = conn.execute(
            "SELECT l.order_id, l.sku FROM order_lines l JOIN items i ON i.sku = l.sku "
            "WHERE i.track_stock AND NOT EXISTS (SELECT 1 FROM stock_movements m WHERE "
            "m.reason = 'sale' AND m.ref = l.order_id AND m.sku = l.sku) AND NOT EXISTS "
            "(SELECT 1 FROM outbox o WHERE o.type = 'catalog.item_changed' AND "
            "o.data LIKE '%\"sku\":\"' || l.sku || '\"%')").fetchall()
        assert untracked == [], f"a tracked item sold without a sale movement: {untracked[:5]}"
        bare = conn.execute("SELECT COUNT(*) FROM orders o WHERE NOT EXISTS "
                            "(SELECT 1 FROM order_lines l WHERE l.order_id = o.id)").fetchone()
        assert bare[0] == 0, "an order without lines was committed"
        placed = conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE type = 'order.placed'").fetchone()[0]
        orders = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        assert placed == orders, f"{orders} orders but {placed} order.placed events"
        keys = dict(conn.execute("SELECT key, order_id FROM idempotency"))
        conn.execute("COMMIT")
        return {"orders": orders, "last_seq": last, "keys": keys}
    finally:
        conn.close()
