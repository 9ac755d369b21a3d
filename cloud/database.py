"""``CloudDb``: the cloud's storage, one class over SQLite or PostgreSQL.

Every method is synchronous and blocking and holds the instance's lock for its whole
duration, so one instance may be shared by several threads (each call still runs on one
connection, one at a time). Callers on an event loop run them on a thread of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from cloud.analytics.ops import AnalyticsOps
from cloud.apikeys.ops import ApiKeyOps
from cloud.campaigns.ops import CampaignOps
from cloud.api.users import UserOps
from cloud.catalog.ops import CatalogOps
from cloud.db.backend import Backend, open_backend
from cloud.db.runner import DbRunner
from cloud.db.schema import migrate
from cloud.feed import fanout
from cloud.feed.changes import SNAPSHOT_AFTER
from cloud.feedback.ops import FeedbackOps
from cloud.guests.ops import GuestOps
from cloud.reservations.ops import ReservationOps
from cloud.members import sql as members
from cloud.members.loyalty import LoyaltyOps
from cloud.members.ops import MemberOps
from cloud.members.referrals import ReferralOps
from cloud.platforms.ops import PlatformOps
from cloud.pricing.ops import PricingOps
from cloud.reports.ops import ReportOps
from cloud.storage.ops import StorageOps
from cloud.stores.ops import StoreOps
from cloud.sync.ops import SyncOps

__all__ = ["REPORTS", "SNAPSHOT_AFTER", "CloudDb", "DbRunner", "open_runner"]


class CloudDb(StoreOps, UserOps, SyncOps, CatalogOps, MemberOps, AnalyticsOps, LoyaltyOps,
              PlatformOps, ReportOps, PricingOps, GuestOps, ReservationOps, FeedbackOps,
              ReferralOps, CampaignOps, ApiKeyOps, StorageOps):
    """Every capability's operations over one backend; each method takes ``self._lock``."""

    def __init__(self, backend: Backend) -> None:
        self._db = backend
        self._lock = threading.RLock()
        self.migrations_applied = migrate(backend)
        members.ensure_tenant_keys(backend)
        fanout.drain(backend)  # member changes a crash left queued

    @classmethod
    def open(cls, url: str) -> CloudDb:
        """``sqlite:///abs/path.db`` (or a plain path) or ``postgresql://…``; migrates."""
        backend = open_backend(url)
        try:
            return cls(backend)
        except BaseException:
            backend.close()
            raise

    @property
    def backend(self) -> str:
        return self._db.name

    def close(self) -> None:
        with self._lock:
            self._db.close()


# the long reports: each runs on a connection and thread of their own (cloud/db/runner.py)
REPORTS: Final[frozenset[Callable[..., Any]]] = frozenset({
    ReportOps.channel_figures, ReportOps.refresh_channel_months, ReportOps.settlement_figures,
    ReportOps.cross_store_flows, CampaignOps.campaign_report})


async def open_runner(url: str, name: str = "cloud-api-db", timeout_s: float = 30,
                      reports: bool = True) -> DbRunner:
    """A ``DbRunner`` over ``CloudDb.open(url)``; ``reports``: the long reports get a runner
    of their own."""
    return await DbRunner.open(url, CloudDb.open, name, timeout_s,
                               REPORTS if reports else frozenset())
