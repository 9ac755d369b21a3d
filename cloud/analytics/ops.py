"""``CloudDb``'s analytics operations (``cloud/analytics``; SQL in ``analytics.py``).

Each holds the instance's lock like every ``CloudDb`` method. Long computations (RFM over
every member, association rules) belong on a connection of their own: the HQ app's
scheduler opens one (``cloud/jobs/scheduler.py``), so API reads are not held up.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from cloud.analytics import automation
from cloud.analytics import sql as analytics
from cloud.analytics.automation import TRIGGERS
from cloud.analytics.reco import RecoParams
from cloud.db.backend import Backend
from cloud.db.keyset import Key
from cloud.feed import fanout
from cloud.members import coupons
from cloud.members import sql as members
from common.clock import iso


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

    def run_automation(self, trigger: str, now: datetime | None = None,
                       config: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """Run one trigger once: {trigger, settings, runs (new rows), stores}; idempotent per
        period. Its template and thresholds: the API's overrides over ``config`` (cloud.toml's
        {job: settings}) over the defaults."""
        if trigger not in TRIGGERS:
            raise ValueError(f"unknown trigger {trigger!r}")
        moment = _now(now)
        with self._lock:
            with self._db.read():
                stored = analytics.overrides(self._db).get(trigger)
                settings = automation.effective(trigger, (config or {}).get(trigger), stored)
                found = analytics.candidates(self._db, trigger, moment, settings)
            made = analytics.record_runs(self._db, trigger, settings["template"], found, moment)
            cursors = fanout.drain(self._db)
        return {"trigger": trigger, "at": iso(moment), "settings": settings, "runs": made,
                "stores": cursors}

    def automation_overrides(self) -> dict[str, dict[str, Any]]:
        """What the HQ API set per job (over cloud.toml): {job: {setting: value}}."""
        with self._lock, self._db.read():
            return analytics.overrides(self._db)

    def put_automation_settings(self, job: str, values: dict[str, Any]) -> dict[str, Any]:
        """Merge ``values`` (checked with ``automation.check``; None unsets) into ``job``'s
        overrides; the overrides now. A template HQ does not have: UnknownTemplate, nothing
        written."""
        with self._lock, self._db.write():
            if values.get("template"):
                coupons.get_template(self._db, values["template"])
            return analytics.put_overrides(self._db, job, values)

    def claim_fire(self, job: str, fire_at: str) -> bool:
        """Claim the run of ``job`` scheduled at ``fire_at`` (UTC ISO): False when that time,
        or a later one, was claimed already (by any process)."""
        with self._lock, self._db.write():
            return analytics.claim_fire(self._db, job, fire_at)

    def automation_runs(self, trigger: str | None = None, member: str | None = None,
                        limit: int = 200, after: Key | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return analytics.runs(self._db, trigger, member, limit, after)

    def bundles(self, tenant: str | None = None, params: RecoParams | None = None,
                now: datetime | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return analytics.bundles(self._db, tenant, params or RecoParams(), _now(now))

    def push_reco_pairs(self, params: RecoParams | None = None,
                        now: datetime | None = None) -> dict[str, int]:
        """Append ``reco.pairs`` to every store's feed; {store: its new cursor}."""
        with self._lock:
            analytics.push_pairs(self._db, params or RecoParams(), _now(now))
            return fanout.drain(self._db)
