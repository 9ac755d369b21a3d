"""``CloudDb``'s store operations: provisioning a store, and what HQ reads of each one
(orders, inventory, stock alerts, conflicts, stored events)."""

from __future__ import annotations

import threading
from typing import Any

from cloud.db.backend import Backend, utc_now_iso
from cloud.db.keyset import Key
from cloud.errors import StoreExists
from cloud.feed import changes
from cloud.members import seed as member_seed
from cloud.members import sql as members
from cloud.stores import boxes, restore
from cloud.stores import sql as reads
from sync import topics


class StoreOps:
    _db: Backend
    _lock: threading.RLock

    def add_store(self, store: str, tenant: str) -> None:
        """Provision a store; its feed starts with what HQ sent to every store."""
        self.add_stores([store], tenant)

    def add_stores(self, stores: list[str], tenant: str) -> None:
        """Provision stores in one transaction (all or none: StoreExists for any known one)."""
        for store in stores:
            topics.topic(tenant, store, "up")  # ValueError unless valid topic segments
        with self._lock, self._db.write():
            for store in stores:
                inserted = self._db.execute(
                    "INSERT INTO stores(store, tenant, created_at) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING", (store, tenant, utc_now_iso())).rowcount
                if inserted != 1:
                    raise StoreExists(store)
                members.send_tenant_key(self._db, store, tenant)
                changes.seed_new_store(self._db, store)
                member_seed.seed_store(self._db, store, tenant)

    def replace_store(self, store: str) -> dict[str, Any]:
        """A new box for ``store``: the next epoch (cloud/stores/boxes.py)."""
        with self._lock:
            return boxes.replace(self._db, store)

    def revoke_box(self, store: str, epoch: int) -> str:
        with self._lock:
            return boxes.revoke(self._db, store, epoch)

    def restore_snapshot(self, store: str) -> dict[str, Any]:
        """What a replacement box needs (cloud/stores/restore.py); raises UnknownStore."""
        with self._lock:
            return restore.build(self._db, store)

    def store_boxes(self, store: str) -> list[dict[str, Any]]:
        with self._lock:
            return boxes.boxes(self._db, store)

    def get_store(self, store: str) -> dict[str, Any] | None:
        with self._lock:
            return reads.get_store(self._db, store)

    def list_stores(self, after: Key | None = None,
                    limit: int | None = None) -> list[dict[str, Any]]:
        """``[{store, tenant, online, last_seen, applied_seq, lag_s}]`` by store id, those
        after ``after`` (a page: ``reads.STORES``), at most ``limit`` (None: all)."""
        with self._lock:
            return reads.list_stores(self._db, after, limit)

    def store_orders(self, store: str, since: str | None = None, limit: int = 200,
                     after: Key | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return reads.store_orders(self._db, store, since, limit, after)

    def store_inventory(self, store: str) -> list[dict[str, Any]]:
        """``[{sku, on_hand}]`` (raises UnknownStore)."""
        with self._lock:
            return reads.store_inventory(self._db, store)

    def store_items(self, store: str) -> list[dict[str, Any]]:
        with self._lock:
            return reads.store_items(self._db, store)

    def store_quotas(self, store: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return reads.store_quotas(self._db, store)

    def stock_alerts(self, store: str, after: Key | None = None,
                     limit: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return reads.stock_alerts(self._db, store, after, limit)

    def conflicts(self, resolved: bool | None = None, after: Key | None = None,
                  limit: int | None = None) -> list[dict[str, Any]]:
        """``[{id, store, kind, detail, created_at, resolved}]``, oldest first."""
        with self._lock:
            return reads.conflicts(self._db, resolved, after, limit)

    def open_conflicts(self) -> int:
        with self._lock:
            return reads.open_conflicts(self._db)

    def resolve_conflict(self, conflict_id: int) -> bool:
        with self._lock, self._db.write():
            return bool(self._db.execute("UPDATE conflicts SET resolved = 1 WHERE id = ?",
                                         (conflict_id,)).rowcount)

    def store_events_count(self, store: str) -> int:
        with self._lock:
            return reads.count(self._db, "events", store)

    def store_events(self, store: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Stored envelopes of ``store`` with seq > ``after`` (data as JSON text)."""
        with self._lock:
            return self._db.rows("SELECT seq, event_id, type, v, at, hlc, data FROM events "
                                 "WHERE store = ? AND seq > ? ORDER BY seq LIMIT ?",
                                 (store, after, limit))

    def order_count_by_store(self) -> dict[str, int]:
        with self._lock:
            return reads.order_count_by_store(self._db)
