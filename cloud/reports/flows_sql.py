"""SQL of the HQ intelligence beyond channels: cross-store flows by hour, the pickup-to-store
conversion the stores' BLE probes report, and the hourly demand history the forecasts are
made from (``cloud/reports/forecast.py``).

Hours are the UTC hour of ``created_at`` (``…THH…``, the same text on both backends).
Cancelled orders count for nothing; a merged member counts as its survivor.
"""

from __future__ import annotations

import json
from typing import Any, Final

from cloud.db.backend import Backend

FLOWS = (
    "WITH v AS (SELECT COALESCE(m.merged_into, o.member) AS member, o.store, o.day, "
    "o.created_at, LEAD(o.store) OVER w AS next_store, LEAD(o.day) OVER w AS next_day, "
    "LEAD(o.created_at) OVER w AS next_at FROM orders o LEFT JOIN members m ON m.id = o.member "
    "WHERE o.member IS NOT NULL AND o.status <> 'cancelled' AND o.created_at >= ? "
    "AND o.created_at < ? WINDOW w AS (PARTITION BY COALESCE(m.merged_into, o.member) "
    "ORDER BY o.created_at, o.store, o.id)) "
    "SELECT store AS from_store, next_store AS to_store, substr(next_at, 12, 2) AS hour, "
    "COUNT(*) AS visits FROM v WHERE next_store IS NOT NULL AND next_store <> store "
    "AND next_day = day GROUP BY store, next_store, substr(next_at, 12, 2) "
    "ORDER BY store, next_store, hour")
HOURLY = (
    "SELECT l.sku, substr(o.created_at, 1, 13) AS hour, SUM(l.qty) AS qty FROM orders o "
    "JOIN order_lines l ON l.store = o.store AND l.order_id = o.id WHERE o.store = ? "
    "AND o.status <> 'cancelled' AND o.created_at >= ? AND o.created_at < ?{sku} "
    "GROUP BY l.sku, substr(o.created_at, 1, 13)")


def flows(db: Backend, start: str, end: str) -> list[dict[str, Any]]:
    """[{from_store, to_store, hour, visits}]: a member's next order the same day was at
    another store (at that UTC hour)."""
    with db.read():
        rows = db.rows(FLOWS, (start, end))
    return [{**r, "hour": int(r["hour"]), "visits": int(r["visits"])} for r in rows]


def hourly_demand(db: Backend, store: str, start: str, end: str,
                  sku: str | None) -> dict[str, dict[str, int]]:
    """{sku: {"YYYY-MM-DDTHH": qty}} of ``store`` in [start, end)."""
    sql = HOURLY.replace("{sku}", " AND l.sku = ?" if sku else "")
    params = (store, start, end, *((sku,) if sku else ()))
    found: dict[str, dict[str, int]] = {}
    with db.read():
        for row in db.rows(sql, params):
            found.setdefault(row["sku"], {})[row["hour"]] = int(row["qty"])
    return found


def on_hand(db: Backend, store: str) -> dict[str, int]:
    return {r[0]: int(r[1]) for r in db.execute(
        "SELECT sku, on_hand FROM stock WHERE store = ?", (store,)).fetchall()}


HOOKED: Final = frozenset({"probe.conversion"})


def _valid(data: Any) -> bool:
    """A ``probe.conversion`` the report can use: a day, and counts with someone decided."""
    if not isinstance(data, dict) or not isinstance(data.get("day"), str):
        return False
    decided, converted = data.get("pickup_visitors"), data.get("converted")
    return (isinstance(decided, int) and isinstance(converted, int) and decided > 0
            and not isinstance(decided, bool) and not isinstance(converted, bool))


def on_events(db: Backend, store: str, events: list[dict[str, Any]]) -> None:
    """In the apply of the store's batch: keep each day's last valid ``probe.conversion``
    (its running totals) in ``probe_days``, so the report never reads raw events (they are
    archived past the retention, cloud/sync/retention.py)."""
    for event in events:
        data = event["data"]
        if event["type"] not in HOOKED or not _valid(data):
            continue
        db.execute("INSERT INTO probe_days(store, day, seq, data) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (store, day) DO UPDATE SET seq = excluded.seq, "
                   "data = excluded.data WHERE excluded.seq > probe_days.seq",
                   (store, data["day"][:40], event["seq"],
                    json.dumps(data, ensure_ascii=False, separators=(",", ":"))))


def probe_conversions(db: Backend, first_day: str, after_day: str,
                      store: str | None) -> list[dict[str, Any]]:
    """Per store and day, the day's last ``probe.conversion`` (its running totals):
    ``[{store, day, pickup_visitors, converted, share_bp, window_s}]``."""
    where, params = (" AND store = ?", (store,)) if store else ("", ())
    rows = db.rows(f"SELECT store, day, data FROM probe_days WHERE day >= ? AND day < ?{where} "
                   "ORDER BY store, day", (first_day, after_day, *params))
    found = []
    for row in rows:
        data = json.loads(row["data"])
        decided, converted = data["pickup_visitors"], data["converted"]
        found.append({
            "store": row["store"], "day": row["day"], "pickup_visitors": decided,
            "converted": converted, "share_bp": (2 * converted * 10_000 + decided) // (2 * decided),
            "window_s": data.get("window_s")})
    return found
