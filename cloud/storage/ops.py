"""``CloudDb``'s storage upkeep: the ``events_retention`` job (cloud/storage/retention.py)."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cloud.db.backend import Backend, utc_now_iso
from cloud.feed import changes
from cloud.feed.changes import SNAPSHOT_AFTER
from cloud.members import erasure, follow
from cloud.members.erasure import SCRUBBED_EVENTS
from cloud.storage import retention
from cloud.storage.retention import Retention


class StorageOps:
    _db: Backend
    _lock: threading.RLock

    def run_retention(self, data_dir: Path | None, rules: Retention, today: date
                      ) -> dict[str, Any]:
        """Partitions ahead, expired days archived then removed, the confirmed change feed
        pruned, followings not looked up for ``followers_days`` dropped, old resolved conflicts
        archived then deleted, the archive files scrubbed of
        members erased since the last run; what it did. Without ``data_dir`` (nowhere to
        archive to): partitions and the change feed only."""
        done: dict[str, Any] = {"days_archived": [], "conflicts_archived": 0,
                                "erasures_scrubbed": 0}
        with self._lock:
            done["partitions_made"] = retention.ensure_partitions(
                self._db, today, rules.partitions_ahead_days)
            if data_dir is not None:
                archived = retention.archive_events(self._db, data_dir, today,
                                                    rules.events_days, SCRUBBED_EVENTS)
                done["days_archived"] = [d.isoformat() for d in archived]
            done["changes_pruned"] = changes.prune(self._db, SNAPSHOT_AFTER)
            with self._db.write():
                done["followers_dropped"] = follow.prune(
                    self._db, (today - timedelta(days=rules.followers_days)).isoformat())
            pending: list[tuple[int, list[str]]] = []
            if data_dir is not None:
                done["conflicts_archived"] = retention.prune_conflicts(
                    self._db, data_dir, today, rules.conflicts_days)
                pending = erasure.pending_archive_scrubs(self._db)
        if data_dir is not None and pending:
            done["erasures_scrubbed"] = self._scrub_archives(data_dir, pending)
        return done

    def _scrub_archives(self, data_dir: Path, pending: list[tuple[int, list[str]]]) -> int:
        """Scrub the archive files of the ``pending`` erasures' member ids (the files are
        read and written without the instance lock: HQ's operations go on meanwhile)."""
        erased = {member: erasure_id for erasure_id, ids in pending for member in ids}
        lines = retention.scrub_events_archives(data_dir, erased, SCRUBBED_EVENTS,
                                                erasure.scrubbed)
        with self._lock:
            erasure.mark_archives_scrubbed(
                self._db, {erasure_id: lines.get(erasure_id, 0) for erasure_id, _ in pending},
                utc_now_iso())
        return len(pending)
