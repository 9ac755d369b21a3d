"""``CloudDb``'s HQ user operations: the accounts that log in to the HQ API."""

from __future__ import annotations

import threading
from typing import Any

from cloud.db.backend import Backend, utc_now_iso
from cloud.errors import UserExists


def get_user(db: Backend, user: str) -> dict[str, Any] | None:
    rows = db.rows("SELECT user_id AS \"user\", password_hash, role, created_at FROM users "
                   "WHERE user_id = ?", (user,))
    return rows[0] if rows else None


class UserOps:
    _db: Backend
    _lock: threading.RLock

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
            return get_user(self._db, user)
