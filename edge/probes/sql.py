"""All probe SQL: the day's counts per zone, and the events that take them to HQ."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from common.clock import iso

from edge.probes.rules import Visit
from edge.db.group_commit import Tx

UPSERT = ("INSERT INTO probe_days(day, zone, visits, converted, decided) VALUES (?, ?, ?, ?, ?) "
          "ON CONFLICT (day, zone) DO UPDATE SET visits = visits + excluded.visits, "
          "converted = converted + excluded.converted, decided = decided + excluded.decided")


def _at(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def record(tx: Tx, day: str, visits: list[Visit], converted: int, decided: int,
           window_s: int) -> dict[str, Any] | None:
    """Counted visits (``probe.visit`` each) and pickup visits decided for conversion
    (one ``probe.conversion`` with the day's totals). Nothing names a visitor."""
    for visit in visits:
        tx.conn.execute(UPSERT, (day, visit.zone, 1, 0, 0))
        tx.emit("probe.visit", {"zone": visit.zone, "day": day, "started_at": _at(visit.start),
                                "ended_at": _at(visit.end), "dwell_s": round(visit.dwell_s),
                                "peak_rssi": visit.peak_rssi})
    if not decided:
        return None
    tx.conn.execute(UPSERT, (day, "pickup", 0, converted, decided))
    row = tx.conn.execute("SELECT converted, decided FROM probe_days WHERE day = ? AND "
                          "zone = 'pickup'", (day,)).fetchone()
    totals = {"day": day, "window_s": window_s, "pickup_visitors": row["decided"],
              "converted": row["converted"],
              "share": round(row["converted"] / row["decided"], 4)}
    tx.emit("probe.conversion", totals)
    return totals


def days(conn: Any, day: str) -> dict[str, dict[str, int]]:
    return {r["zone"]: {"visits": r["visits"], "converted": r["converted"],
                        "decided": r["decided"]}
            for r in conn.execute("SELECT * FROM probe_days WHERE day = ?", (day,))}
