"""SQL of the channel report (``cloud/reports/channels.py``): per store and channel over a
period of ``created_at`` (UTC) — or per calendar month of it (``monthly``) — the orders and
revenue, the quantity sold per SKU (costed in Python from the catalog), the members and how
many of them were new, and the retention of the members whose first order ever was there.
Cancelled orders count for nothing; a merged member counts as its survivor.

``refresh_months`` stores the monthly figures in ``channel_months`` (one transaction per
refresh), so the monthly report reads a few rows instead of every order line.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso

_PERIOD = "o.created_at >= ? AND o.created_at < ? AND o.status <> 'cancelled'"
_MEMBER = "COALESCE(m.merged_into, o.member)"
_MEMBER_JOIN = "LEFT JOIN members m ON m.id = o.member"
# bucket of an order: the whole period ('') or its month; its GROUP BY key (none for the whole
# period: PostgreSQL cannot estimate how many values an expression such as substr(x, 1, 0) has,
# assumes one per row and then sorts millions of rows on disk instead of hashing 16 groups);
# when a member counts as new
BUCKETS: Final = {
    False: ("''", "", "a.first_at >= ?"),
    True: ("substr(o.created_at, 1, 7)", "substr(o.created_at, 1, 7), ",
           "substr(a.first_at, 1, 7) = a.bucket"),
}
ORDERS = ("SELECT {bucket} AS bucket, o.store, o.channel, COUNT(*) AS orders, "
          "SUM(o.total_cents) AS revenue FROM orders o WHERE {period} "
          "GROUP BY {group}o.store, o.channel")
LINES = ("SELECT {bucket} AS bucket, o.store, o.channel, l.sku, SUM(l.qty) AS qty "
         "FROM orders o JOIN order_lines l ON l.store = o.store AND l.order_id = o.id "
         "WHERE {period} GROUP BY {group}o.store, o.channel, l.sku")
# Members and retention in one statement. Every member order (a merged member as its survivor)
# is numbered once, in one sort (bytewise: {C}); the same pass gives each order its member's
# first order, the next order after it and the member's last mini_program order. From that:
# the period's active members per store and channel (new when their first order ever is in the
# period or bucket), and the cohort of members whose first order was in the period (second
# order within 30/90 days of it; a later mini_program order). No joins; ``part`` tells the two
# kinds of row apart.
_BY_MEMBER = f"PARTITION BY {_MEMBER}{{C}}"
# Only the orders of members who ordered in the period matter (pm: as survivors; ids: their own
# ids and those merged into them). {members} keeps mo to them for a narrow report (a store, or a
# period of up to NARROW_DAYS): a week over ten million lines 4.5 -> 2.5 s, a store's year
# 6.6 -> 3.1 s; for every store over a year, when nearly every member ordered, finding them
# costs more than it saves (14.8 -> 18.2 s), and mo takes every member order.
MEMBERS = (
    f"WITH pm AS (SELECT DISTINCT {_MEMBER} AS member FROM orders o {_MEMBER_JOIN} "
    "WHERE {period} AND o.member IS NOT NULL), "
    "ids AS (SELECT member AS id FROM pm UNION SELECT id FROM members "
    "WHERE merged_into IN (SELECT member FROM pm)), "
    f"mo AS (SELECT {_MEMBER} AS member, o.store, o.channel, o.created_at, "
    "{bucket} AS bucket, "
    f"ROW_NUMBER() OVER w AS n, LEAD(o.created_at) OVER w AS next_at, "
    f"MIN(o.created_at) OVER ({_BY_MEMBER}) AS first_at, "
    "MAX(CASE WHEN o.channel = 'mini_program' THEN o.created_at END) "
    f"OVER ({_BY_MEMBER}) AS last_mp_at "
    f"FROM orders o {_MEMBER_JOIN} WHERE {{members}} AND o.status <> 'cancelled' "
    f"WINDOW w AS ({_BY_MEMBER} ORDER BY o.created_at{{C}}, o.store{{C}}, o.id{{C}})), "
    "active AS (SELECT DISTINCT bucket, store, channel, member, first_at FROM mo "
    "WHERE created_at >= ? AND created_at < ?{store}), "
    "cohort AS (SELECT bucket, store, channel, created_at, last_mp_at, "
    "{EPOCH_OF}created_at{END_EPOCH} AS first_s, {EPOCH_OF}next_at{END_EPOCH} AS second_s "
    "FROM mo WHERE n = 1 AND created_at >= ? AND created_at < ?{store}) "
    "SELECT 'members' AS part, a.bucket, a.store, a.channel, COUNT(*) AS members, "
    "SUM(CASE WHEN {new} THEN 1 ELSE 0 END) AS new_members, 0 AS cohort, "
    "0 AS to_mini_program, 0 AS eligible_30, 0 AS retained_30, 0 AS eligible_90, "
    "0 AS retained_90 FROM active a GROUP BY a.bucket, a.store, a.channel "
    "UNION ALL "
    "SELECT 'cohort', f.bucket, f.store, f.channel, 0, 0, COUNT(*), "
    "SUM(CASE WHEN f.channel <> 'mini_program' AND f.last_mp_at > f.created_at THEN 1 ELSE 0 "
    "END), "
    "SUM(CASE WHEN f.first_s <= ? THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN f.first_s <= ? AND f.second_s - f.first_s <= 2592000 THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN f.first_s <= ? THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN f.first_s <= ? AND f.second_s - f.first_s <= 7776000 THEN 1 ELSE 0 END) "
    "FROM cohort f GROUP BY f.bucket, f.store, f.channel")
NARROW_DAYS: Final = 92
MEMBERS_OF: Final = {True: "o.member IN (SELECT id FROM ids)", False: "o.member IS NOT NULL"}
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


def _days(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / DAY_S


def figures(db: Backend, start: str, end: str, store: str | None, as_of_epoch: float,
            monthly: bool = False) -> tuple[Groups, dict[tuple[str, str], int]]:
    """({(bucket, store, channel): {orders, revenue, qty: {sku: n}, members, new_members,
    cohort, eligible_30, retained_30, eligible_90, retained_90}}, the item costs); the
    bucket is ``''`` or, ``monthly``, ``YYYY-MM``."""
    bucket, group_key, new = BUCKETS[monthly]
    period = _PERIOD + (" AND o.store = ?" if store else "")
    params = (start, end, *((store,) if store else ()))
    new_params = () if monthly else (start,)
    narrow = store is not None or _days(start, end) <= NARROW_DAYS
    found: Groups = {}

    def group(row: dict[str, Any]) -> dict[str, Any]:
        return found.setdefault((row["bucket"], row["store"], row["channel"] or ""),
                                {"qty": {}})

    def sql(text: str) -> str:
        return text.replace("{bucket}", bucket).replace("{group}", group_key) \
            .replace("{period}", period) \
            .replace("{new}", new).replace("{store}", " AND store = ?" if store else "") \
            .replace("{members}", MEMBERS_OF[narrow])

    ages = (as_of_epoch - 30 * DAY_S,) * 2 + (as_of_epoch - 90 * DAY_S,) * 2
    with db.analytics():
        for row in db.rows(sql(ORDERS), params):
            group(row).update(orders=int(row["orders"]), revenue=int(row["revenue"]))
        for row in db.rows(sql(LINES), params):
            group(row)["qty"][row["sku"]] = int(row["qty"])
        for row in db.rows(sql(MEMBERS), (*params, *params, *params, *new_params, *ages)):
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
