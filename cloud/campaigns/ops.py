"""``CloudDb``'s campaign operations (SQL in ``sql.py``, ``attribution.py`` and ``report.py``);
each holds the instance's lock."""

from __future__ import annotations

import threading
from typing import Any

from cloud.campaigns import report, sql
from cloud.db.backend import Backend, utc_now_iso


class CampaignOps:
    _db: Backend
    _lock: threading.RLock

    def set_campaign(self, campaign_id: str, body: dict[str, Any]
                     ) -> tuple[dict[str, Any], bool]:
        """Create or replace a campaign (a validated body): (as stored, whether new); raises
        ``sql.Refused`` for days or a time zone that are not."""
        row = sql.row_of(campaign_id, body, utc_now_iso())
        with self._lock:
            return sql.put(self._db, row)

    def list_campaigns(self) -> list[dict[str, Any]]:
        with self._lock, self._db.read():
            return sql.listing(self._db)

    def find_campaign(self, campaign_id: str) -> dict[str, Any] | None:
        with self._lock, self._db.read():
            return sql.get(self._db, campaign_id)

    def track_visit(self, body: dict[str, Any], at: str | None = None) -> dict[str, Any]:
        """Record a visit (now, or at ``at`` for tests and imports); raises ``sql.Refused``."""
        with self._lock:
            return sql.track(self._db, body, at or utc_now_iso())

    def campaign_report(self, campaign_id: str, since: str | None = None,
                        until: str | None = None) -> dict[str, Any] | None:
        """The campaign's report (None: unknown campaign); ``since``/``until``: days in the
        campaign's time zone, both inclusive."""
        with self._lock:
            return report.report(self._db, campaign_id, since, until)
