"""``create_app(settings)``: the HQ service's aiohttp application.

Resources are ``cleanup_ctx`` entries, opened in order and closed in reverse: the database
(opened off the loop), then the broker link (when ``broker.url`` is set), then the analytics
scheduler (``cloud/jobs/scheduler.py``), then the platform callback sender
(``cloud/platforms/callbacks.py``), then the systemd watchdog.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from cloud.campaigns import routes as campaign_routes
from cloud.feedback import routes as feedback_routes
from cloud.guests import routes as guest_routes
from cloud import keys
from cloud.api.auth import LoginLimiter, TokenSigner
from cloud.api.errors import MIDDLEWARES
from cloud.api.metrics import Metrics
from cloud.config import Settings
from cloud.database import CloudDb, open_runner
from cloud.jobs.scheduler import analytics_ctx
from cloud.members import referral_routes
from cloud.members.leases import LeasePolicy
from cloud.platforms.callbacks import callbacks_ctx
from cloud.routes import auth_middleware, setup_routes
from cloud.sync.link import CloudLink, counters, histograms
from common import sdnotify
from common.tasks import background
from common.pages import setup_shared_pages
from common.ratewindow import RateWindow

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[*MIDDLEWARES, auth_middleware],
                          client_max_size=settings.max_body_bytes)
    app[keys.SETTINGS] = settings
    app[keys.TOKENS] = TokenSigner(settings.secret, settings.token_ttl_s)
    app[keys.LIMITER] = LoginLimiter(settings.max_failures, settings.lockout_s)
    app[guest_routes.LIMITS] = guest_routes.RelayLimits()
    app[feedback_routes.LIMITS] = feedback_routes.FeedbackLimits()
    app[campaign_routes.LIMITS] = RateWindow(campaign_routes.PER_ADDRESS_PER_MIN)
    app[referral_routes.PAGES] = RateWindow(referral_routes.PAGES_PER_ADDRESS_PER_MIN)
    app[keys.LINK] = None
    app[keys.METRICS] = Metrics(lambda: counters(app[keys.LINK]),
                                lambda: histograms(app[keys.LINK]))
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(broker_ctx)
    app.cleanup_ctx.append(analytics_ctx)
    app.cleanup_ctx.append(callbacks_ctx)
    app.cleanup_ctx.append(watchdog_ctx)
    setup_routes(app)
    setup_pages(app)
    return app


PAGES = Path(__file__).parent / "pages"


def setup_pages(app: web.Application) -> None:
    """The HQ dashboard at ``/``; its assets (Chart.js vendored) under ``/static/``, and the
    scripts both services' pages share (``common.pages``)."""
    async def dashboard(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGES / "dashboard.html", headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", dashboard)
    app.router.add_get("/f/{store}/{token}", feedback_routes.page)
    app.router.add_get("/visit", campaign_routes.landing)  # a campaign's tracked link
    app.router.add_get("/r/{code}", referral_routes.page)  # a member's referral link
    setup_shared_pages(app)
    app.router.add_static("/static/", PAGES / "static")


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    app[keys.DB] = await open_runner(app[keys.SETTINGS].database)
    try:
        policy = app[keys.SETTINGS].members
        if policy:  # stored for every worker: they read it when granting a lease
            await app[keys.DB].call(CloudDb.set_lease_policy, LeasePolicy(**policy))
        # the member fan-out of every worker (follow.py); a switch to followers makes them
        fanout = await app[keys.DB].call(CloudDb.set_member_fanout,
                                         app[keys.SETTINGS].member_fanout)
        if fanout["was"] != fanout["mode"]:
            log.info("member fan-out: %s (was %s), %d followers made", fanout["mode"],
                     fanout["was"], fanout["followers_added"])
        yield
    finally:
        await app[keys.DB].close()


async def broker_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if not settings.broker:
        yield
        return
    link = CloudLink(settings, app[keys.DB].db)
    link.start()
    app[keys.LINK] = link
    try:
        yield
    finally:
        await link.close()


async def watchdog_ctx(app: web.Application) -> AsyncIterator[None]:
    interval = sdnotify.watchdog_interval()
    async with background(watchdog(interval) if interval else None):
        yield


async def watchdog(interval: float) -> None:
    """Ping while the event loop runs: a hung loop gets the service restarted."""
    while True:
        sdnotify.notify("WATCHDOG=1")
        await asyncio.sleep(interval)
