"""``CloudDb``'s delivery-platform operations (SQL in ``platforms.py``); each holds the
instance's lock like every ``CloudDb`` method."""

from __future__ import annotations

import threading
from typing import Any

from cloud.db.backend import Backend
from cloud.db.keyset import Key
from cloud.platforms import sql as platforms


class PlatformOps:
    _db: Backend
    _lock: threading.RLock

    def accept_platform_order(self, platform: str, channel: str, request_id: str, shop: str,
                              store: str, order: dict[str, Any]) -> dict[str, Any]:
        """{outcome, store, cursor}; raises ``platforms.Refused``."""
        with self._lock:
            return platforms.accept(self._db, platform, channel, request_id, shop, store, order)

    def reject_platform_request(self, platform: str, reason: str, detail: str,
                                request_id: str | None = None) -> None:
        with self._lock:
            platforms.reject(self._db, platform, reason, detail, request_id)

    def claim_platform_callbacks(self, now_ms: int, lease_ms: int,
                                 limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            return platforms.claim_callbacks(self._db, now_ms, lease_ms, limit)

    def platform_callback_sent(self, callback_id: int) -> None:
        with self._lock:
            platforms.callback_sent(self._db, callback_id)

    def platform_callback_failed(self, callback_id: int, error: str,
                                 retry_at_ms: int | None) -> None:
        with self._lock:
            platforms.callback_failed(self._db, callback_id, error, retry_at_ms)

    def platform_orders(self, store: str | None = None, limit: int = 200,
                        after: Key | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return platforms.list_orders(self._db, store, limit, after)

    def platform_callbacks(self, state: str | None = None, limit: int = 200,
                           after: Key | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return platforms.list_callbacks(self._db, state, limit, after)

    def platform_rejects(self, limit: int = 200,
                         after: Key | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return platforms.list_rejects(self._db, limit, after)
