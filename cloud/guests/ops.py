"""``CloudDb``'s guest-relay operations (SQL in ``sql.py``); each holds the instance's lock
like every ``CloudDb`` method."""

from __future__ import annotations

import threading
from typing import Any

from cloud.db.backend import Backend
from cloud.guests import sql


class GuestOps:
    _db: Backend
    _lock: threading.RLock

    def guest_table(self, store: str, token_sha256: str) -> dict[str, Any] | None:
        with self._lock, self._db.read():
            return sql.table_by_token(self._db, store, token_sha256)

    def accept_guest_order(self, store: str, token: str, token_sha256: str, key: str,
                           body: dict[str, Any], body_sha256: str) -> dict[str, Any]:
        """{outcome, cursor, order, reason}; raises ``sql.Refused``."""
        with self._lock:
            return sql.accept(self._db, store, token, token_sha256, key, body, body_sha256)

    def guest_order_outcome(self, store: str, token_sha256: str,
                            key: str) -> dict[str, Any] | None:
        with self._lock, self._db.read():
            return sql.outcome(self._db, store, token_sha256, key)

    def guest_menu(self, store: str) -> dict[str, Any]:
        with self._lock, self._db.read():
            online = self._db.rows("SELECT online FROM stores WHERE store = ?", (store,))
            return {"online": bool(online and online[0]["online"]),
                    "items": sql.menu(self._db, store)}
