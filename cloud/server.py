"""Serve the HQ app, or run an ingest-only worker, until SIGTERM/SIGINT, speaking sd_notify to
systemd."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from aiohttp import web

from cloud.app import create_app, watchdog
from cloud.config import Settings
from cloud.database import CloudDb
from cloud.sync.link import CloudLink
from common import heap, sdnotify
from common.http.server import AppRunner

log = logging.getLogger("storenode.cloud")


async def serve(settings: Settings) -> None:
    runner = AppRunner(create_app(settings), access_log=None, handle_signals=False)
    try:
        await runner.setup()  # opens the database and starts the broker link
        site = web.TCPSite(runner, settings.host, settings.port, backlog=512)
        await site.start()
        bound = settings.port or runner.addresses[0][1]
        heap.settle()  # the app is built: what it holds is not walked by every collection
        broker = settings.broker or "no broker (API only)"
        print(f"storenode-cloud serving the HQ API on {settings.host}:{bound}; {broker}",
              flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        sdnotify.notify(f"READY=1\nSTATUS=serving on {settings.host}:{bound}\n"
                        f"MAINPID={os.getpid()}")
        await stop.wait()
        sdnotify.notify("STOPPING=1")
        log.info("shutting down")
    finally:
        await runner.cleanup()


async def run_ingest_worker(settings: Settings) -> None:
    """An extra ingest worker: its own database connection and broker client, no HTTP;
    runs until SIGTERM/SIGINT."""
    if not settings.broker:
        raise ValueError("an ingest worker needs broker.url (or --broker)")
    db = await asyncio.get_running_loop().run_in_executor(None, CloudDb.open, settings.database)
    link = CloudLink(settings, db, ingest_only=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    link.start()
    heap.settle()
    interval = sdnotify.watchdog_interval()
    pinger = asyncio.create_task(watchdog(interval)) if interval else None
    print(f"storenode-cloud ingest worker on {settings.broker} ({db.backend})", flush=True)
    sdnotify.notify(f"READY=1\nSTATUS=ingesting from {settings.broker}\nMAINPID={os.getpid()}")
    try:
        await stop.wait()
    finally:
        sdnotify.notify("STOPPING=1")
        if pinger is not None:
            pinger.cancel()
        await link.close()
        await loop.run_in_executor(None, db.close)
