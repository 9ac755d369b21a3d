"""``CloudDb``: the cloud's storage, one class over SQLite or PostgreSQL.

Every method is synchronous and blocking and holds the instance's lock for its whole
duration, so one instance may be shared by several threads (each call still runs on one
connection, one at a time). Callers on an event loop run them on a thread of their own.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from cloud.errors import StoreExists, UserExists
from sync import topics

from . import apply, changes, fanout, member_seed, members, reads, state
from .analytics_ops import AnalyticsOps
from .backend import Backend, open_backend, utc_now_iso
from .intel_ops import IntelOps
from .loyalty import LoyaltyOps
from .member_ops import MemberOps
from .platform_ops import PlatformOps
from .results import Ack, Feed, StateResult
from .schema import migrate

SNAPSHOT_AFTER = 1000  # a store further behind than this gets a snapshot


class CloudDb(MemberOps, AnalyticsOps, LoyaltyOps, PlatformOps, IntelOps):
    def __init__(self, backend: Backend) -> None:
        self._db = backend
        self._lock = threading.RLock()
        self.migrations_applied = migrate(backend)
        members.ensure_tenant_keys(backend)
        fanout.drain(backend)  # member changes a crash left queued

    @classmethod
    def open(cls, url: str) -> CloudDb:
        """``sqlite:///abs/path.db`` (or a plain path) or ``postgresql://…``; migrates."""
        backend = open_backend(url)
        try:
            return cls(backend)
        except BaseException:
            backend.close()
            raise

    @property
    def backend(self) -> str:
        return self._db.name

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- stores and users --------------------------------------------------------
    def add_store(self, store: str, tenant: str) -> None:
        """Provision a store; its feed starts with what HQ sent to every store."""
        topics.topic(tenant, store, "up")  # ValueError unless both are valid topic segments
        with self._lock, self._db.write():
            inserted = self._db.execute(
                "INSERT INTO stores(store, tenant, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING", (store, tenant, utc_now_iso())).rowcount
            if inserted != 1:
                raise StoreExists(store)
            members.send_tenant_key(self._db, store, tenant)
            changes.seed_new_store(self._db, store)
            member_seed.seed_store(self._db, store, tenant)

    def get_store(self, store: str) -> dict[str, Any] | None:
        with self._lock:
            return reads.get_store(self._db, store)

    def list_stores(self) -> list[dict[str, Any]]:
        """``[{store, tenant, online, last_seen, applied_seq, lag_s}]``."""
        with self._lock:
            return reads.list_stores(self._db)

    def add_user(self, user: str, password_hash: str, role: str) -> None:
        with self._lock, self._db.write():
            inserted = self._db.execute(
                "INSERT INTO users(user_id, password_hash, role, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING", (user, password_hash, role, utc_now_iso())).rowcount
            if inserted != 1:
                raise UserExists(user)

    def get_user(self, user: str) -> dict[str, Any] | None:
        """``{user, password_hash, role, created_at}`` or None."""
        with self._lock:
            return reads.get_user(self._db, user)

    # -- upstream: exactly-once apply, presence -----------------------------------
    def apply_batch(self, tenant: str, store: str, payload: bytes) -> Ack:
        """Apply one ``up`` payload; never raises for bad input (``Ack.kind == "rejected"``)."""
        with self._lock:
            ack = apply.apply_batch(self._db, tenant, store, payload)
            if ack.kind != "applied":
                return ack
            return dataclasses.replace(ack, feed=fanout.drain(self._db))

    def record_state(self, tenant: str, store: str, payload: bytes,
                     retained: bool = False) -> StateResult:
        """A birth or death; ``retained``: from the broker's retained store, not live."""
        with self._lock:
            result = state.record_state(self._db, tenant, store, payload, retained)
            if not result.accepted or not result.online:
                return result
            return dataclasses.replace(result, feed=fanout.drain(self._db))

    def presence(self) -> list[dict[str, Any]]:
        """``[{store, tenant, online, bd_seq, applied_seq, keepalive_s}]``, every store."""
        with self._lock:
            return state.presence(self._db)

    def lapse(self, tenant: str, store: str, bd_seq: int, since: str) -> bool:
        """Mark a store offline (as a death) that has not confirmed its presence since
        ``since``; True if it was (cloud/db/state.py)."""
        with self._lock:
            return state.lapse(self._db, tenant, store, bd_seq, since)

    # -- downstream: the HQ change feed ------------------------------------------
    def put_catalog_item(self, item: dict[str, Any],
                         stores: list[str] | None = None) -> dict[str, int]:
        """Send ``catalog.item`` to ``stores`` (None: all, now and later); {store: cursor}."""
        sku = item.get("sku")
        if not isinstance(sku, str) or not sku:
            raise ValueError("a catalog item needs a sku")
        with self._lock, self._db.write():
            return changes.append_to_stores(self._db, stores, "catalog.item", sku, dict(item))

    def put_quotas(self, sku: str, quotas: dict[str, int | None],
                   stores: list[str] | None = None) -> dict[str, int]:
        """Send ``inventory.quotas`` for ``sku`` to ``stores`` (None: all); {store: cursor}."""
        data = {"sku": sku, "quotas": dict(quotas)}
        with self._lock, self._db.write():
            return changes.append_to_stores(self._db, stores, "inventory.quotas", sku, data)

    def stocktake(self, store: str, sku: str, counted: int) -> int:
        """Send ``stock.adjust`` (counted − the cloud's on_hand); the change's cursor."""
        with self._lock, self._db.write():
            return changes.stocktake(self._db, store, sku, counted)

    def changes_since(self, store: str, cursor: int, limit: int = SNAPSHOT_AFTER) -> Feed:
        """Changes after ``cursor``, or a snapshot when it is too old (raises UnknownStore)."""
        with self._lock:
            return changes.changes_since(self._db, store, cursor, limit)

    def prune_changes(self, keep: int = SNAPSHOT_AFTER) -> int:
        """Delete changes each store confirmed, keeping its last ``keep``; how many."""
        with self._lock:
            return changes.prune(self._db, keep)

    # -- reads for HQ --------------------------------------------------------------
    def store_orders(self, store: str, since: str | None = None,
                     limit: int = 200) -> list[dict[str, Any]]:
        with self._lock:
            return reads.store_orders(self._db, store, since, limit)

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

    def stock_alerts(self, store: str) -> list[dict[str, Any]]:
        with self._lock:
            return reads.stock_alerts(self._db, store)

    def hq_catalog(self) -> list[dict[str, Any]]:
        with self._lock:
            return reads.hq_catalog(self._db)

    def conflicts(self, resolved: bool | None = None) -> list[dict[str, Any]]:
        """``[{id, store, kind, detail, created_at, resolved}]``, oldest first."""
        with self._lock:
            return reads.conflicts(self._db, resolved)

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
