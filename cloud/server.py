"""Serve the HQ app until SIGTERM/SIGINT, speaking sd_notify to systemd."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from aiohttp import web

from common import sdnotify

from .app import create_app
from .config import Settings

log = logging.getLogger("storenode.cloud")


async def serve(settings: Settings) -> None:
    runner = web.AppRunner(create_app(settings), access_log=None, handle_signals=False)
    try:
        await runner.setup()  # opens the database and starts the broker link
        site = web.TCPSite(runner, settings.host, settings.port, backlog=512)
        await site.start()
        bound = settings.port or runner.addresses[0][1]
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
