"""SQL of the channel report (``cloud/analytics/channels.py``): per store and channel over a
period of ``created_at`` (UTC) — or per calendar month of it (``monthly``) — the orders and
revenue, the quantity sold per SKU (costed in Python from the catalog), the members and how
many of them were new, and the retention of the members whose first order ever was there.
Cancelled orders count for nothing; a merged member counts as its survivor.

``refresh_months`` stores the monthly figures in ``channel_months`` (one transaction per
refresh), so the monthly report reads a few rows instead of every order line.
"""

from __future__ import annotations

import json
from typing import Any, Final

from .backend import Backend, utc_now_iso

_PERIOD = "o.created_at >= ? AND o.created_at < ? AND o.status <> 'cancelled'"
_MEMBER = "COALESCE(m.merged_into, o.member)"
_MEMBER_JOIN = "LEFT JOIN members m ON m.id = o.member"
# bucket of an order: the whole period ('') or its month; when a member counts as new
BUCKETS: Final = {
    False: ("substr(o.created_at, 1, 0)", "f.created_at >= ?"),  # '' (PostgreSQL refuses a
    # constant in GROUP BY)
    True: ("substr(o.created_at, 1, 7)", "substr(f.created_at, 1, 7) = a.bucket"),
}
ORDERS = ("SELECT {bucket} AS bucket, o.store, o.channel, COUNT(*) AS orders, "
          "SUM(o.total_cents) AS revenue FROM orders o WHERE {period} "
          "GROUP BY {bucket}, o.store, o.channel")
LINES = ("SELECT {bucket} AS bucket, o.store, o.channel, l.sku, SUM(l.qty) AS qty "
         "FROM orders o JOIN order_lines l ON l.store = o.store AND l.order_id = o.id "
         "WHERE {period} GROUP BY {bucket}, o.store, o.channel, l.sku")
_AGE = "{EPOCH_OF}f.created_at{END_EPOCH}"
_GAP = "{EPOCH_OF}s.created_at{END_EPOCH} - {EPOCH_OF}f.created_at{END_EPOCH}"
# Members and retention in one statement: every member order numbered once (the costly part:
# a sort of all member orders), then the period's active members (distinct per store and
# channel; new when their first order ever is in the period or bucket) and the cohort of
# members whose first order was in the period (their second order, their last mini_program
# order). ``part`` tells the two kinds of row apart.
MEMBERS = (
    f"WITH mo AS (SELECT {_MEMBER} AS member, o.store, o.channel, o.created_at, "
    "{bucket} AS bucket, "
    f"ROW_NUMBER() OVER (PARTITION BY {_MEMBER} ORDER BY o.created_at, o.store, o.id) AS n "
    f"FROM orders o {_MEMBER_JOIN} WHERE o.member IS NOT NULL AND o.status <> 'cancelled'), "
    "f AS (SELECT member, store, channel, created_at, bucket FROM mo WHERE n = 1), "
    "active AS (SELECT DISTINCT bucket, store, channel, member FROM mo "
    "WHERE created_at >= ? AND created_at < ?{store}), "
    "cohort AS (SELECT * FROM f WHERE created_at >= ? AND created_at < ?{store}), "
    "s AS (SELECT member, created_at FROM mo WHERE n = 2), "
    "mp AS (SELECT member, MAX(created_at) AS last_at FROM mo WHERE channel = 'mini_program' "
    "GROUP BY member) "
    "SELECT 'members' AS part, a.bucket, a.store, a.channel, COUNT(*) AS members, "
    "SUM(CASE WHEN {new} THEN 1 ELSE 0 END) AS new_members, 0 AS cohort, "
    "0 AS to_mini_program, 0 AS eligible_30, 0 AS retained_30, 0 AS eligible_90, "
    "0 AS retained_90 FROM active a JOIN f ON f.member = a.member "
    "GROUP BY a.bucket, a.store, a.channel "
    "UNION ALL "
    "SELECT 'cohort', f.bucket, f.store, f.channel, 0, 0, COUNT(*), "
    "SUM(CASE WHEN f.channel <> 'mini_program' AND mp.last_at > f.created_at THEN 1 ELSE 0 "
    "END), "
    f"SUM(CASE WHEN {_AGE} <= ? THEN 1 ELSE 0 END), "
    f"SUM(CASE WHEN {_AGE} <= ? AND {_GAP} <= 2592000 THEN 1 ELSE 0 END), "
    f"SUM(CASE WHEN {_AGE} <= ? THEN 1 ELSE 0 END), "
    f"SUM(CASE WHEN {_AGE} <= ? AND {_GAP} <= 7776000 THEN 1 ELSE 0 END) "
    "FROM cohort f LEFT JOIN s ON s.member = f.member LEFT JOIN mp ON mp.member = f.member "
    "GROUP BY f.bucket, f.store, f.channel")
RETENTION_KEYS: Final = ("cohort", "eligible_30", "retained_30", "eligible_90", "retained_90",
                         "to_mini_program")
DAY_S = 86400
Groups = dict[tuple[str, str, str], dict[str, Any]]  # (bucket, store, channel) -> figures


def item_costs(db: Backend, store: str | None) -> dict[tuple[str, str], int]:
    """(store, sku) -> cost_cents: the store's own item, else what HQ sent it."""
    where, params = (" AND store = ?", (store,)) if store else ("", ())
    costs: dict[tuple[str, str], int] = {}
    for row in db.rows(f"SELECT store, key AS sku, data FROM feed_state WHERE kind = "
                       f"'catalog.item'{where}", params):
        cost = json.loads(row["data"]).get("cost_cents")
        if isinstance(cost, int):
            costs[row["store"], row["sku"]] = cost
    for row in db.rows(f"SELECT store, sku, item FROM store_items WHERE 1 = 1{where}", params):
        cost = json.loads(row["item"]).get("cost_cents")
        if isinstance(cost, int):
            costs[row["store"], row["sku"]] = cost
    return costs


def figures(db: Backend, start: str, end: str, store: str | None, as_of_epoch: float,
            monthly: bool = False) -> tuple[Groups, dict[tuple[str, str], int]]:
    """({(bucket, store, channel): {orders, revenue, qty: {sku: n}, members, new_members,
    cohort, eligible_30, retained_30, eligible_90, retained_90}}, the item costs); the
    bucket is ``''`` or, ``monthly``, ``YYYY-MM``."""
    bucket, new = BUCKETS[monthly]
    period = _PERIOD + (" AND o.store = ?" if store else "")
    params = (start, end, *((store,) if store else ()))
    new_params = () if monthly else (start,)
    found: Groups = {}

    def group(row: dict[str, Any]) -> dict[str, Any]:
        return found.setdefault((row["bucket"], row["store"], row["channel"] or ""),
                                {"qty": {}})

    def sql(text: str) -> str:
        return text.replace("{bucket}", bucket).replace("{period}", period) \
            .replace("{new}", new).replace("{store}", " AND store = ?" if store else "")

    ages = (as_of_epoch - 30 * DAY_S,) * 2 + (as_of_epoch - 90 * DAY_S,) * 2
    with db.analytics():
        for row in db.rows(sql(ORDERS), params):
            group(row).update(orders=int(row["orders"]), revenue=int(row["revenue"]))
        for row in db.rows(sql(LINES), params):
            group(row)["qty"][row["sku"]] = int(row["qty"])
        for row in db.rows(sql(MEMBERS), (*params, *params, *new_params, *ages)):
            if row["part"] == "members":
                group(row).update(members=int(row["members"]),
                                  new_members=int(row["new_members"]))
            else:
                group(row).update({k: int(row[k] or 0) for k in RETENTION_KEYS})
        costs = item_costs(db, store)
    return found, costs


def store_months(db: Backend, first: str, after: str, rows: list[dict[str, Any]]) -> int:
    """Replace ``channel_months`` of the months in [first, after) with ``rows`` (each with
    its ``month``)."""
    now = utc_now_iso()
    with db.write():
        db.execute("DELETE FROM channel_months WHERE month >= ? AND month < ?",
                   (first[:7], after[:7]))
        db.insert_many("INSERT INTO channel_months(month, store, channel, data, computed_at) "
                       "VALUES (?, ?, ?, ?, ?)",
                       [(r["month"], r["store"], r["channel"], json.dumps(r), now) for r in rows])
    return len(rows)


def read_months(db: Backend, first: str, last: str, store: str | None) -> list[dict[str, Any]]:
    where, params = (" AND store = ?", (store,)) if store else ("", ())
    return [{**json.loads(r["data"]), "computed_at": r["computed_at"]} for r in db.rows(
        f"SELECT data, computed_at FROM channel_months WHERE month >= ? AND month <= ?{where} "
        "ORDER BY month, store, channel", (first, last, *params))]
