"""The analytics jobs of the HQ app: an apscheduler ``AsyncIOScheduler`` started in a
``cleanup_ctx`` entry, with a database connection of its own (RFM over every member must not
hold up the API's reads). Jobs are coroutines on the loop; their database work runs on the
connection's thread. The API's "run now" routes call the same ``Analytics`` methods.

Schedules and trigger settings come from ``automation`` (API overrides over ``cloud.toml``
over the defaults). Every HQ process has the scheduler, but only the **leader** runs a job
(``leader.py``: a PostgreSQL advisory lock, or a lease row on SQLite). A process checks its
leadership every ``renew_s`` (and renews a lease), and again right before a job; while leading
it also reloads the settings, so a change made through another process's API is scheduled
here within ``renew_s``. Before running, the leader claims the job's scheduled time in the
database (``claim_fire``): a time already claimed (run by a leader before a handover) is not
run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from cloud import keys
from cloud.analytics import automation
from cloud.analytics.reco import RecoParams
from cloud.database import CloudDb, open_runner
from cloud.db.runner import DbRunner
from cloud.db.thread import DbThread
from cloud.jobs.leader import Leadership, open_leadership
from cloud.reports import channels
from cloud.storage.retention import Retention
from cloud.sync.link import CloudLink
from common.clock import iso

log = logging.getLogger(__name__)

JOB_TIMEOUT_S: Final = 1800.0
MISFIRE_GRACE_S: Final = 3600  # a job the loop could not start on time still runs


class Analytics:
    """RFM, triggers and reco pairs on the analytics connection; pushes what they append."""

    def __init__(self, runner: DbRunner, link: CloudLink | None,
                 leadership: Leadership | None = None,
                 config: dict[str, dict[str, Any]] | None = None,
                 renew_s: float = automation.LEASE_TTL[1] / 4,
                 commission_bp: dict[str, int] | None = None,
                 storage: Retention | None = None, data_dir: Path | None = None) -> None:
        self.runner, self.link, self.leadership = runner, link, leadership
        self.config = config or {}  # {job: settings} of cloud.toml
        self.commission_bp = commission_bp or {}  # of the channel report
        self.storage = storage or Retention()  # of the events_retention job
        self.data_dir = data_dir  # where it archives (None: the job only makes partitions)
        self.renew_s = renew_s
        self.leading = leadership is None  # without one: a single process, always leads
        self.ran: list[tuple[str, str]] = []  # (job, scheduled time) this process ran
        self._schedules: dict[str, str] = {}
        self._leader_thread = DbThread("cloud-leader")
        self._lead_task: asyncio.Task[None] | None = None
        self._closed = False
        self.scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S})

    async def settings(self) -> dict[str, dict[str, Any]]:
        """Every job's effective settings."""
        stored = await self.runner.call(CloudDb.automation_overrides)
        return {job: automation.effective(job, self.config.get(job), stored.get(job))
                for job in automation.JOBS}

    async def rfm(self) -> dict[str, Any]:
        return dict(await self.runner.call(CloudDb.compute_rfm))

    async def run_trigger(self, trigger: str) -> dict[str, Any]:
        result = dict(await self.runner.call(CloudDb.run_automation, trigger, None, self.config))
        result["messages_sent"] = await self._push(result["stores"])
        return result

    async def push_pairs(self, params: RecoParams | None = None) -> dict[str, Any]:
        cursors = await self.runner.call(CloudDb.push_reco_pairs, params or RecoParams())
        return {"stores": cursors, "messages_sent": await self._push(cursors)}

    async def refresh_channel_months(self) -> dict[str, Any]:
        """Recompute the stored monthly channel report of the last and the current month."""
        first, last = channels.recent_months(datetime.now(UTC))
        start, end = channels.month_range(first, last)
        rows = await self.runner.call(CloudDb.refresh_channel_months, start, end, time.time(),
                                      self.commission_bp)
        return {"from": first, "to": last, "rows": rows}

    async def retention(self) -> dict[str, Any]:
        """The events_retention job (cloud/storage/retention.py): without a data dir to
        archive to, it only makes partitions and prunes the change feed."""
        return dict(await self.runner.call(CloudDb.run_retention, self.data_dir, self.storage,
                                           datetime.now(UTC).date()))

    async def _push(self, cursors: dict[str, int]) -> int:
        return await self.link.push(cursors) if self.link is not None and cursors else 0

    # -- scheduling ------------------------------------------------------------------------
    async def start(self) -> None:
        self.scheduler.start()
        await self.reload()
        if self.leadership is not None:
            await self._check_leadership()
            self._lead_task = asyncio.create_task(self._lead(), name="analytics-leader")

    async def reload(self) -> None:
        """(Re)schedule every job whose schedule changed; ``off`` removes it."""
        for job, settings in (await self.settings()).items():
            schedule = settings["schedule"]
            if self._schedules.get(job) == schedule:
                continue
            trigger = automation.parse_schedule(schedule)
            if self.scheduler.get_job(job) is not None:
                self.scheduler.remove_job(job)
            if trigger is not None:
                self.scheduler.add_job(self._job, trigger, args=[job], id=job)
            self._schedules[job] = schedule
            log.info("analytics job %s: schedule %s", job, schedule)

    async def _check_leadership(self) -> bool:
        assert self.leadership is not None
        leading = await self._leader_thread.call(self.leadership.acquire)
        if leading != self.leading:
            log.info("analytics scheduler: %s (%s)", "leading" if leading else "not leading",
                     self.leadership.holder)
        self.leading = leading
        return leading

    async def _lead(self) -> None:
        while not self._closed:  # as well as cancel: a cancellation can be lost in a db call
            await asyncio.sleep(self.renew_s)
            try:
                if await self._check_leadership():
                    await self.reload()
            except Exception:  # logged; the next round tries again
                log.exception("analytics scheduler: leadership round failed")

    async def _job(self, name: str) -> None:
        try:
            if self.leadership is not None and not await self._check_leadership():
                return  # another process leads: it runs the jobs
            fire = self._scheduled_time(name)
            if not await self.runner.call(CloudDb.claim_fire, name, fire):
                log.info("analytics job %s at %s: already run", name, fire)
                return
            self.ran.append((name, fire))
            if name == "rfm":
                result = await self.rfm()
            elif name == "reco_pairs":
                result = await self.push_pairs()
            elif name == "channel_months":
                result = await self.refresh_channel_months()
            elif name == "events_retention":
                result = await self.retention()
            else:
                result = {"runs": len((await self.run_trigger(name))["runs"])}
            log.info("analytics job %s: %s", name, {k: v for k, v in result.items()
                                                    if k != "stores"})
        except Exception:  # logged; the next run tries again
            log.exception("analytics job %s failed", name)

    def _scheduled_time(self, name: str) -> str:
        """The time the job fired for: its trigger's latest time up to now."""
        now = datetime.now(UTC)
        job = self.scheduler.get_job(name)
        trigger: BaseTrigger | None = job.trigger if job is not None else None
        fired = None if trigger is None else automation.previous_fire(
            trigger, now, timedelta(seconds=MISFIRE_GRACE_S))
        return iso(fired or now)

    async def close(self) -> None:
        """Stop the jobs, hand leadership over, close the connections (once)."""
        if self._closed:
            return
        self._closed = True
        if self._lead_task is not None:
            self._lead_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lead_task
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        try:
            if self.leadership is not None:
                await self._leader_thread.call(self.leadership.close)
                self.leading = False
        finally:
            await self._leader_thread.close()
            await self.runner.close()


async def analytics_ctx(app: web.Application) -> AsyncIterator[None]:
    """The scheduler, its leadership and its own database connection, after the database
    and the broker."""
    settings = app[keys.SETTINGS]
    runner = await open_runner(settings.database, "cloud-analytics-db", JOB_TIMEOUT_S,
                                 reports=False)  # its own connection already
    try:
        leadership = await asyncio.to_thread(open_leadership, settings.database,
                                             settings.scheduler_lease_ttl_s)
    except BaseException:
        await runner.close()
        raise
    analytics = Analytics(runner, app[keys.LINK], leadership, settings.jobs,
                          renew_s=settings.scheduler_lease_ttl_s / 4,
                          commission_bp=settings.platforms.commission_bp(),
                          storage=settings.storage, data_dir=settings.data_dir)
    app[keys.ANALYTICS] = analytics
    try:
        await analytics.start()
        yield
    finally:
        await analytics.close()
