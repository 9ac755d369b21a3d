"""``CloudDb``'s storage upkeep: the ``events_retention`` job (cloud/storage/retention.py)."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import Any

from cloud.db.backend import Backend
from cloud.feed import changes
from cloud.feed.changes import SNAPSHOT_AFTER
from cloud.storage import retention
from cloud.storage.retention import Retention


class StorageOps:
    _db: Backend
    _lock: threading.RLock

    def run_retention(self, data_dir: Path, rules: Retention, today: date) -> dict[str, Any]:
        """Partitions ahead, expired days archived then removed, the confirmed change feed
        pruned, old resolved conflicts archived then deleted; what it did."""
        with self._lock:
            made = retention.ensure_partitions(self._db, today, rules.partitions_ahead_days)
            archived = retention.archive_events(self._db, data_dir, today, rules.events_days)
            pruned = changes.prune(self._db, SNAPSHOT_AFTER)
            conflicts = retention.prune_conflicts(self._db, data_dir, today,
                                                  rules.conflicts_days)
        return {"partitions_made": made, "days_archived": [d.isoformat() for d in archived],
                "changes_pruned": pruned, "conflicts_archived": conflicts}
