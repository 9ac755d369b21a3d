"""RPO made visible: ``sync.oldest_pending_s`` (the age of the oldest event HQ has not
acknowledged: what a dead box would take with it now) and the last backup's age, for health,
``/metrics`` and ``storenode doctor``. The last backup is recorded beside the database in
``last-backup.json`` by ``storenode db backup`` (any process), and sent to HQ as ``backup.done``."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Final

from common.clock import age_s as _age, iso, utc_now

from edge.db.connection import open_reader
from edge.db.outbox import oldest_pending_at, sync_counters

RECORD: Final = "last-backup.json"
# doctor warns past these: the seed's RPO target is 5 minutes; a daily backup
WARN_PENDING_S: Final = 300.0
WARN_BACKUP_S: Final = 26 * 3600.0


def record_backup(data_dir: Path, target: Path, size: int) -> dict[str, Any]:
    """Write ``last-backup.json`` atomically; the record."""
    record = {"at": iso(utc_now()), "target": str(target), "bytes": size}
    tmp = data_dir / (RECORD + ".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, data_dir / RECORD)
    return record


def last_backup(data_dir: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((data_dir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and isinstance(record.get("at"), str) and age_s(record["at"]) \
            is not None:
        return record
    return None


def age_s(at: str | None) -> float | None:
    """An age as health and doctor show it: seconds, one decimal."""
    return _age(at, ndigits=1)


def rpo_view(pending_at: str | None, backup: dict[str, Any] | None) -> dict[str, Any]:
    """The health's view: ``oldest_pending_s`` 0 when nothing is pending; backup age None
    when there never was one."""
    return {"oldest_pending_s": age_s(pending_at) or 0.0,
            "backup": None if backup is None else {"last_at": backup["at"],
                                                   "age_s": age_s(backup["at"])}}


def pending_age(db_path: Path) -> float:
    """The oldest unacknowledged event's age, read from the file (no daemon running)."""
    try:
        conn = open_reader(db_path)
    except sqlite3.Error:
        return 0.0
    try:
        acked = sync_counters(conn)["applied_seq"]
        return age_s(oldest_pending_at(conn, acked)) or 0.0
    except sqlite3.Error:
        return 0.0
    finally:
        conn.close()
