"""``CloudDb``'s API key operations (SQL in ``sql.py``); each holds the instance's lock."""

from __future__ import annotations

import threading
from typing import Any

from cloud.apikeys import sql
from cloud.apikeys.scopes import SCOPES
from cloud.db.backend import Backend, utc_now_iso
from common.http.apikeys import check_name, matches, touch_due


def checked(name: str, scopes: list[str]) -> list[str]:
    """The scopes of a new key, each once, in ``SCOPES`` order; ValueError for a name or a
    scope that is not one."""
    check_name(name)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes: one or more of {', '.join(SCOPES)}"
                         + (f" (not {', '.join(unknown)})" if unknown else ""))
    return [s for s in SCOPES if s in scopes]


class ApiKeyOps:
    _db: Backend
    _lock: threading.RLock

    def add_api_key(self, name: str, scopes: list[str], by: str) -> dict[str, Any]:
        """A new key (``by``: who made it, for the audit); the answer holds the key itself,
        which nothing keeps: show it once."""
        scopes = checked(name, scopes)
        with self._lock, self._db.write():
            return sql.add(self._db, name, scopes, by, utc_now_iso())

    def api_keys(self) -> list[dict[str, Any]]:
        with self._lock:
            return sql.listing(self._db)

    def revoke_api_key(self, key_id: str, by: str) -> dict[str, Any] | None:
        """Revoke a key at once (the next request with it is 401); None: no such key."""
        with self._lock, self._db.write():
            return sql.revoke(self._db, key_id, by, utc_now_iso())

    def check_api_key(self, key_id: str, key: str) -> dict[str, Any] | None:
        """``{id, name, scopes}`` when ``key`` is the live key ``key_id``, else None. Marks
        the key used, at most once a minute (a scrape every 15 s writes nothing most times)."""
        with self._lock:
            found = sql.live(self._db, key_id)
            if found is None or not matches(found["secret_hash"], key):
                return None
            if touch_due(found["last_used_at"]):
                with self._db.write():
                    sql.touch(self._db, key_id, utc_now_iso())
        return {"id": key_id, "name": found["name"], "scopes": found["scopes"]}
