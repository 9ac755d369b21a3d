"""The Python API behind ``storenode db backup``'s bookkeeping: the record beside the
database (health, doctor) and the ``backup.done`` event that tells HQ (its store list shows
each store's last backup)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.backups.rpo import record_backup
from edge.db.group_commit import Tx
from edge.db.database import write_once


def _done(tx: Tx, record: dict[str, Any]) -> None:
    tx.emit("backup.done", {"at": record["at"], "bytes": record["bytes"]})


def record(db_path: Path, store_id: str, target: Path, size: int) -> dict[str, Any]:
    done = record_backup(db_path.parent, target, size)
    write_once(db_path, store_id, _done, done)
    return done
