"""``CloudDb``'s reservation operations (SQL in ``sql.py``); each holds the instance's lock
like every ``CloudDb`` method."""

from __future__ import annotations

import threading
from typing import Any

from cloud.db.backend import Backend
from cloud.reservations import sql


class ReservationOps:
    _db: Backend
    _lock: threading.RLock

    def book_reservation(self, store: str, key: str, body: dict[str, Any],
                         body_sha256: str) -> tuple[dict[str, Any], bool, int]:
        """(booking, created, feed cursor); raises ``sql.Refused``."""
        with self._lock:
            return sql.book(self._db, store, key, body, body_sha256)

    def cancel_reservation(self, store: str, reservation_id: str) -> tuple[dict[str, Any], int]:
        with self._lock:
            return sql.cancel(self._db, store, reservation_id)

    def reservation(self, store: str, reservation_id: str) -> dict[str, Any] | None:
        with self._lock, self._db.read():
            return sql.get(self._db, store, reservation_id)

    def reservations_of_day(self, store: str, day: str) -> dict[str, Any]:
        with self._lock, self._db.read():
            return {"store": store, "day": day, "reservations": sql.list_day(self._db, store, day),
                    "slots": sql.open_slots(self._db, store, day)}

    def reservation_report(self, stores: list[str] | None, since: str,
                           until: str) -> dict[str, Any]:
        with self._lock, self._db.read():
            return sql.report(self._db, stores, since, until)

    def dining_scenes(self, member: str | None) -> dict[str, int]:
        """One member's bookings by scene, or members by the scene they book most."""
        with self._lock, self._db.read():
            return sql.member_scenes(self._db, member) if member else sql.scene_counts(self._db)
