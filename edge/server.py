"""Serve the edge app until SIGTERM/SIGINT, speaking sd_notify to systemd."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from aiohttp import web

from common import sdnotify
from common.http.server import AppRunner

from edge.app import create_app
from edge.config import Settings

log = logging.getLogger("storenode")


def pos_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}/"


async def serve(settings: Settings, host: str, port: int) -> None:
    runner = AppRunner(create_app(settings), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=512)
    await site.start()
    bound = port or runner.addresses[0][1]
    print(f"storenode edge for store {settings.store_id} serving: POS page at "
          f"{pos_url(host, bound)}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sdnotify.notify(f"READY=1\nSTATUS=serving on {host}:{bound}\nMAINPID={os.getpid()}")
    try:
        await stop.wait()
    finally:
        sdnotify.notify("STOPPING=1")
        log.info("shutting down")
        await runner.cleanup()

