"""``CloudDb``'s analytics operations (``cloud/analytics``; SQL in ``analytics.py``).

Each holds the instance's lock like every ``CloudDb`` method. Long computations (RFM over
every member, association rules) belong on a connection of their own: the HQ app's
scheduler opens one (``cloud/analytics/scheduler.py``), so API reads are not held up.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from cloud.analytics.automation import TRIGGERS
from cloud.analytics.reco import RecoParams
from edge.store.clock import iso

from . import analytics, members
from .backend import Backend


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


class AnalyticsOps:
    _db: Backend
    _lock: threading.RLock

    def compute_rfm(self, now: datetime | None = None) -> dict[str, Any]:
        """Recompute ``member_rfm`` for every member with an order: {members, computed_at}."""
        moment = _now(now)
        with self._lock:
            count = analytics.compute_rfm(self._db, moment)
        return {"members": count, "computed_at": iso(moment)}

    def segment_counts(self, store: str | None = None,
                       tenant: str | None = None) -> dict[str, Any]:
        with self._lock:
            return analytics.segment_counts(self._db, store, tenant)

    def member_rfm(self, member_id: str) -> dict[str, Any] | None:
        """The RFM row of the survivor of ``member_id`` (None: unknown or no order yet)."""
        with self._lock, self._db.read():
            return analytics.member_rfm(self._db, members.resolve(self._db, member_id))

    def run_automation(self, trigger: str, now: datetime | None = None) -> dict[str, Any]:
        """Run one trigger once: {trigger, runs (new rows), cursors}; idempotent per period."""
        spec = TRIGGERS[trigger]
        moment = _now(now)
        with self._lock:
            with self._db.read():
                found = analytics.candidates(self._db, trigger, moment)
            made, cursors = analytics.record_runs(self._db, trigger, spec.template, found,
                                                  moment)
        return {"trigger": trigger, "at": iso(moment), "runs": made,
                "stores": cursors}

    def automation_runs(self, trigger: str | None = None, member: str | None = None,
                        limit: int = 200) -> list[dict[str, Any]]:
        with self._lock:
            return analytics.runs(self._db, trigger, member, limit)

    def bundles(self, tenant: str | None = None, params: RecoParams | None = None,
                now: datetime | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return analytics.bundles(self._db, tenant, params or RecoParams(), _now(now))

    def push_reco_pairs(self, params: RecoParams | None = None,
                        now: datetime | None = None) -> dict[str, int]:
        """Append ``reco.pairs`` to every store's feed; {store: its new cursor}."""
        with self._lock:
            return analytics.push_pairs(self._db, params or RecoParams(), _now(now))
