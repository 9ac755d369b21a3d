"""``CloudDb``'s price-rule operations (cloud/pricing/sql.py), each under the instance lock."""

from __future__ import annotations

import threading
from typing import Any

from cloud.db.backend import Backend
from cloud.feed import fanout
from cloud.pricing import sql


class PricingOps:
    _db: Backend
    _lock: threading.RLock

    def put_price_rule(self, rule_id: str, body: dict[str, Any],
                       stores: list[str] | None = None) -> dict[str, int]:
        with self._lock:
            with self._db.write():
                sql.put_rule(self._db, rule_id, body, stores)
            return fanout.drain(self._db)  # queued: appended in chunks of stores

    def delete_price_rule(self, rule_id: str) -> dict[str, int]:
        with self._lock:
            with self._db.write():
                sql.delete_rule(self._db, rule_id)
            return fanout.drain(self._db)

    def price_rules(self) -> list[dict[str, Any]]:
        with self._lock, self._db.read():
            return sql.list_rules(self._db)

    def price_rule_clashes(self) -> list[dict[str, Any]]:
        with self._lock, self._db.read():
            return sql.clashes(self._db)
