"""SQL of the partner settlement (``cloud/reports/settlement.py``): per store and day of a
month, the members who bought at both outlets that day (merged members counted as their
survivor), the revenue of those visits, each store's revenue, and the use of shared items.
Cancelled orders count for nothing; ``orders.day`` is the store's local day."""

from __future__ import annotations

from typing import Any

from cloud.db.backend import Backend

_SCOPE = "o.store IN (?, ?) AND o.day >= ? AND o.day < ? AND o.status <> 'cancelled'"
VISITS = ("SELECT o.store, o.day, o.total_cents, COALESCE(m.merged_into, o.member) AS member "
          "FROM orders o LEFT JOIN members m ON m.id = o.member "
          f"WHERE {_SCOPE} AND o.member IS NOT NULL")
SHARED = (f"WITH v AS ({VISITS}), s AS (SELECT day, member FROM v GROUP BY day, member "
          "HAVING COUNT(DISTINCT store) = 2) "
          "SELECT v.store, v.day, COUNT(DISTINCT v.member) AS visitors, "
          "SUM(v.total_cents) AS revenue FROM v JOIN s ON s.day = v.day AND s.member = v.member "
          "GROUP BY v.store, v.day ORDER BY v.day, v.store")
REVENUE = (f"SELECT o.store, SUM(o.total_cents) AS revenue, COUNT(*) AS orders FROM orders o "
           f"WHERE {_SCOPE} GROUP BY o.store")


def figures(db: Backend, a: str, b: str, first: str, after: str,
            skus: list[str]) -> dict[str, Any]:
    scope = (a, b, first, after)
    with db.read():
        shared = db.rows(SHARED, scope)
        revenue = db.rows(REVENUE, scope)
        usage: list[dict[str, Any]] = []
        if skus:
            marks = ", ".join("?" * len(skus))
            usage = db.rows(
                "SELECT l.store, l.sku, SUM(l.qty) AS qty FROM order_lines l JOIN orders o "
                f"ON o.store = l.store AND o.id = l.order_id WHERE {_SCOPE} "
                f"AND l.sku IN ({marks}) GROUP BY l.store, l.sku", (*scope, *skus))
    daily: dict[str, int] = {}
    shared_revenue: dict[str, int] = {}
    for row in shared:  # both stores list the same visitors for a day
        daily[row["day"]] = int(row["visitors"])
        shared_revenue[row["store"]] = shared_revenue.get(row["store"], 0) + int(row["revenue"])
    found_usage: dict[str, dict[str, int]] = {}
    for row in usage:
        found_usage.setdefault(row["sku"], {})[row["store"]] = int(row["qty"])
    return {"daily": [{"day": d, "shared_visitors": n} for d, n in sorted(daily.items())],
            "shared_revenue": shared_revenue,
            "revenue": {r["store"]: {"revenue_cents": int(r["revenue"]), "orders": int(r["orders"])}
                        for r in revenue},
            "usage": found_usage}
