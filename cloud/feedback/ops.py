"""``CloudDb``'s feedback operations (SQL in ``sql.py``); each holds the instance's lock."""

from __future__ import annotations

import base64
import threading
from typing import Any

from cloud.db.backend import Backend, utc_now_iso
from cloud.feed import fanout
from cloud.feedback import sql
from cloud.members import consent
from cloud.members.sql import resolve


class FeedbackOps:
    _db: Backend
    _lock: threading.RLock

    def feedback_key(self, store: str) -> bytes | None:
        """The key a store's feedback tokens are signed with (its tenant's), or None."""
        with self._lock, self._db.read():
            row = self._db.execute("SELECT k.key FROM stores s JOIN tenant_keys k ON "
                                   "k.tenant = s.tenant WHERE s.store = ?", (store,)).fetchone()
        return None if row is None else base64.b64decode(row[0])

    def rate_order(self, store: str, order_id: str, body: dict[str, Any]
                   ) -> tuple[dict[str, Any], int]:
        with self._lock:
            answer = sql.rate(self._db, store, order_id, body)
            fanout.drain(self._db)  # a recovery coupon: queued, after the rating in the feed
            return answer

    def feedback_order(self, store: str, order_id: str) -> dict[str, Any]:
        """What the feedback page shows of the order (HQ's projection, if it has it yet)."""
        with self._lock, self._db.read():
            rated = self._db.execute("SELECT score FROM feedback WHERE store = ? AND "
                                     "order_id = ?", (store, order_id)).fetchone()
            order = self._db.execute("SELECT number, member FROM orders WHERE store = ? AND "
                                     "id = ?",
                                     (store, order_id)).fetchone()
            lines = self._db.rows("SELECT sku, name FROM order_lines WHERE store = ? AND "
                                  "order_id = ? ORDER BY line_no", (store, order_id))
        return {"store": store, "order_id": order_id, "number": order[0] if order else None,
                "lines": lines, "rated": rated is not None,
                "member": bool(order and order[1] is not None)}

    def guest_consents(self, store: str, order_id: str, wanted: dict[str, bool]
                       ) -> dict[str, Any]:
        """The guest of a member's order changed consent on the feedback page (source
        ``guest``); raises ``Refused`` 409 ``no_member`` when HQ knows no member of the
        order (none, or the order has not reached HQ yet)."""
        with self._lock, self._db.write():
            row = self._db.execute("SELECT member FROM orders WHERE store = ? AND id = ?",
                                   (store, order_id)).fetchone()
            if row is None or row[0] is None:
                raise sql.Refused(409, "no_member", {"order_id": order_id})
            member = resolve(self._db, str(row[0]))
            if self._db.execute("SELECT 1 FROM members WHERE id = ? AND erased_at IS NULL",
                                (member,)).fetchone() is None:
                raise sql.Refused(409, "no_member", {"order_id": order_id})
            consent.change(self._db, member, wanted, "guest", store, utc_now_iso())
        return {"order_id": order_id, "consents": wanted, "status": "recorded"}

    def recovery_rule(self) -> dict[str, Any] | None:
        with self._lock, self._db.read():
            return sql.recovery_rule(self._db)

    def put_recovery_rule(self, rule: dict[str, Any] | None) -> None:
        with self._lock:
            sql.put_recovery_rule(self._db, rule)

    def nps_report(self, stores: list[str] | None, since: str, until: str) -> dict[str, Any]:
        with self._lock, self._db.read():
            return sql.report(self._db, stores, since, until)
