"""SQL of ``store_weather``: a store's weather per UTC day (``cloud/reports/weather.py``
checks the days before they come here)."""

from __future__ import annotations

from typing import Any

from cloud.db.backend import Backend, utc_now_iso
from cloud.stores.sql import require_store

UPSERT = (
    "INSERT INTO store_weather(store, day, condition, precip_tenths_mm, temp_tenths_c, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (store, day) DO UPDATE SET "
    "condition = excluded.condition, precip_tenths_mm = excluded.precip_tenths_mm, "
    "temp_tenths_c = excluded.temp_tenths_c, updated_at = excluded.updated_at")


def put(db: Backend, store: str, days: list[dict[str, Any]]) -> int:
    """Insert or replace ``days`` of ``store`` in one transaction (all or none); rows written.
    The days must be distinct (one statement may not upsert a key twice)."""
    now = utc_now_iso()
    with db.write():
        require_store(db, store)
        db.insert_many(UPSERT, [(store, d["day"], d["condition"], d.get("precip_tenths_mm"),
                                 d.get("temp_tenths_c"), now) for d in days])
    return len(days)


def read(db: Backend, store: str, first_day: str | None,
         after_day: str | None) -> list[dict[str, Any]]:
    """Days of ``store`` with ``first_day`` <= day < ``after_day`` (either may be None), in
    order, in the shape ``put`` takes."""
    where, params = "store = ?", [store]
    if first_day is not None:
        where, params = where + " AND day >= ?", [*params, first_day]
    if after_day is not None:
        where, params = where + " AND day < ?", [*params, after_day]
    with db.read():
        require_store(db, store)
        return db.rows("SELECT day, condition, precip_tenths_mm, temp_tenths_c "
                       f"FROM store_weather WHERE {where} ORDER BY day", tuple(params))
