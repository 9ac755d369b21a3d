"""The analytics jobs of the HQ app: an apscheduler ``AsyncIOScheduler`` started in a
``cleanup_ctx`` entry, with a database connection of its own (RFM over every member must not
hold up the API's reads). Jobs are coroutines on the loop; their database work runs on the
connection's thread. The API's "run now" routes call the same ``Analytics`` methods.

Schedule (UTC, declared in ``JOBS`` and ``automation.TRIGGERS``): RFM daily at 00:30, each
trigger at its cron, ``reco.pairs`` to every store daily at 03:30. Several HQ processes may
each run it: triggers are idempotent by their UNIQUE key, and a second ``reco.pairs`` only
restates the table.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Final

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from cloud import keys
from cloud.service import CloudLink, DbRunner

from .automation import TRIGGERS
from .reco import RecoParams

log = logging.getLogger(__name__)

JOB_TIMEOUT_S: Final = 1800.0
MISFIRE_GRACE_S: Final = 3600  # a job the loop could not start on time still runs
# job id -> apscheduler CronTrigger fields (UTC); the triggers add one job each
JOBS: Final[dict[str, dict[str, int | str]]] = {
    "rfm": {"hour": 0, "minute": 30},
    "reco_pairs": {"hour": 3, "minute": 30},
}


class Analytics:
    """RFM, triggers and reco pairs on the analytics connection; pushes what they append."""

    def __init__(self, runner: DbRunner, link: CloudLink | None) -> None:
        self.runner, self.link = runner, link
        self.scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S})

    async def rfm(self) -> dict[str, Any]:
        return dict(await self.runner.call("compute_rfm"))

    async def run_trigger(self, trigger: str) -> dict[str, Any]:
        result = dict(await self.runner.call("run_automation", trigger))
        result["messages_sent"] = await self._push(result["stores"])
        return result

    async def push_pairs(self, params: RecoParams | None = None) -> dict[str, Any]:
        cursors = await self.runner.call("push_reco_pairs", params or RecoParams())
        return {"stores": cursors, "messages_sent": await self._push(cursors)}

    async def _push(self, cursors: dict[str, int]) -> int:
        return await self.link.push(cursors) if self.link is not None and cursors else 0

    def start(self) -> None:
        crons = {**JOBS, **{f"automation:{name}": t.cron for name, t in TRIGGERS.items()}}
        for job_id, cron in crons.items():
            self.scheduler.add_job(self._job, CronTrigger(**cron, timezone="UTC"),
                                   args=[job_id.removeprefix("automation:")], id=job_id)
        self.scheduler.start()

    async def _job(self, name: str) -> None:
        try:
            if name == "rfm":
                result = await self.rfm()
            elif name == "reco_pairs":
                result = await self.push_pairs()
            else:
                result = {"runs": len((await self.run_trigger(name))["runs"])}
            log.info("analytics job %s: %s", name, {k: v for k, v in result.items()
                                                    if k != "stores"})
        except Exception:  # logged; the next run tries again
            log.exception("analytics job %s failed", name)

    async def close(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.runner.close()


async def analytics_ctx(app: web.Application) -> AsyncIterator[None]:
    """The scheduler and its own database connection, after the database and the broker."""
    runner = await DbRunner.open(app[keys.SETTINGS].database)
    runner.timeout_s = JOB_TIMEOUT_S
    analytics = Analytics(runner, app[keys.LINK])
    app[keys.ANALYTICS] = analytics
    try:
        analytics.start()
        yield
    finally:
        await analytics.close()
