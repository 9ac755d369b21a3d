"""``create_app(settings)``: the edge daemon's aiohttp application."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from common import sdnotify
from common.tasks import background
from common.http.auth import LoginLimiter, TokenSigner
from common.http.errors import REQUEST_METRICS, error_middleware
from common.pages import setup_shared_pages
from common.ratewindow import RateWindow

from edge import keys
from edge.api.events import SOCKETS, close_sockets
from edge.routes import auth_middleware, setup_routes
from edge.backups.timer import backup_ctx
from edge.config import Settings
from edge.devices.lifecycle import devices_ctx
from edge.devicehealth import DeviceRegistry
from edge.hub import EventHub
from edge.metrics import Metrics
from edge.printing.coordinator import printing_ctx
from edge.db.database import Database, migrate
from edge.syncer.link import sync_ctx
from edge.tables.guest import GuestLimits, load_page
from edge.waitlist.guest import WaitlistLimits
from edge.feedback import routes as feedback_routes

log = logging.getLogger(__name__)
PAGES = Path(__file__).parent / "pages"
PAGE_ROUTES = {"/": "pos.html", "/kitchen": "kitchen.html", "/pickup": "pickup.html"}


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[keys.SETTINGS] = settings
    app[keys.HUB] = EventHub()
    app[keys.TOKENS] = TokenSigner(settings.secret, settings.token_ttl_s)
    app[keys.LIMITER] = LoginLimiter(settings.max_failures, settings.lockout_s)
    app[SOCKETS] = weakref.WeakSet()
    app[keys.DEVICES] = DeviceRegistry()
    app[keys.GUEST_LIMITS] = GuestLimits.from_settings(settings.tables)
    app[keys.GUEST_PAGE] = load_page()
    app[keys.WAITLIST_LIMITS] = WaitlistLimits()
    app[feedback_routes.LIMITS] = RateWindow(feedback_routes.PER_ADDRESS_PER_MIN)
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(sync_ctx)
    app.cleanup_ctx.append(printing_ctx)
    app.cleanup_ctx.append(devices_ctx)
    app.cleanup_ctx.append(watchdog_ctx)
    app.cleanup_ctx.append(backup_ctx)
    app.on_shutdown.append(close_sockets)
    setup_routes(app)
    for path, page in PAGE_ROUTES.items():
        app.router.add_get(path, page_handler(page))
    setup_shared_pages(app)
    app.router.add_static("/static/", PAGES / "static", append_version=True)
    return app


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    await asyncio.to_thread(migrate, settings.db_path)
    loop = asyncio.get_running_loop()
    hub = app[keys.HUB]

    def on_commit(events: list[dict[str, object]]) -> None:  # writer thread
        loop.call_soon_threadsafe(hub.publish, events)

    db = Database(settings.db_path, settings.store_id, readers=settings.readers,
                  max_batch=settings.group_commit_max, on_commit=on_commit,
                  max_drift_ms=settings.max_clock_drift_s * 1000)
    await asyncio.to_thread(db.start)
    hub.last_seq = db.writer.outbox.last_seq
    app[keys.DB] = db
    app[keys.METRICS] = Metrics(lambda: db.sync_counters()["pending"],
                                lambda: db.writer.outbox.hlc.drift_rejected)
    app[REQUEST_METRICS] = app[keys.METRICS]
    try:
        yield
    finally:
        await asyncio.to_thread(db.close)


async def watchdog_ctx(app: web.Application) -> AsyncIterator[None]:
    interval = sdnotify.watchdog_interval()
    async with background(_watchdog(app, interval) if interval else None):
        yield


async def _watchdog(app: web.Application, interval: float) -> None:
    """Ping only while the loop runs and the writer thread is alive: a hang gets us restarted."""
    while True:
        if app[keys.DB].writer.is_alive():
            await asyncio.to_thread(sdnotify.notify, "WATCHDOG=1")
        else:
            log.error("db writer thread died; withholding watchdog ping")
        await asyncio.sleep(interval)


def page_handler(page: str) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGES / page, headers={"Cache-Control": "no-cache"})
    return handler
