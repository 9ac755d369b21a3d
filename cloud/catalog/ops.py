"""``CloudDb``'s catalog operations: items, quotas and stocktakes sent to stores through
their change feeds, and HQ's view of the catalog."""

from __future__ import annotations

import json
import threading
from typing import Any

from cloud.db.backend import Backend
from cloud.feed import changes, fanout


def hq_catalog(db: Backend) -> list[dict[str, Any]]:
    """Items HQ sent to every store (and so to stores added later)."""
    rows = db.rows("SELECT data FROM hq_catalog WHERE kind = ? ORDER BY key", ("catalog.item",))
    return [json.loads(r["data"]) for r in rows]


class CatalogOps:
    _db: Backend
    _lock: threading.RLock

    def put_catalog_item(self, item: dict[str, Any],
                         stores: list[str] | None = None) -> dict[str, int]:
        """Send ``catalog.item`` to ``stores`` (None: all, now and later); {store: cursor}."""
        sku = item.get("sku")
        if not isinstance(sku, str) or not sku:
            raise ValueError("a catalog item needs a sku")
        with self._lock:
            with self._db.write():
                changes.append_to_stores(self._db, stores, "catalog.item", sku, dict(item))
            return fanout.drain(self._db)  # queued: appended in chunks of stores

    def put_quotas(self, sku: str, quotas: dict[str, int | None],
                   stores: list[str] | None = None) -> dict[str, int]:
        """Send ``inventory.quotas`` for ``sku`` to ``stores`` (None: all); {store: cursor}."""
        data = {"sku": sku, "quotas": dict(quotas)}
        with self._lock:
            with self._db.write():
                changes.append_to_stores(self._db, stores, "inventory.quotas", sku, data)
            return fanout.drain(self._db)

    def stocktake(self, store: str, sku: str, counted: int) -> int:
        """Send ``stock.adjust`` (counted − the cloud's on_hand); the change's cursor."""
        with self._lock, self._db.write():
            return changes.stocktake(self._db, store, sku, counted)

    def hq_catalog(self) -> list[dict[str, Any]]:
        with self._lock:
            return hq_catalog(self._db)
