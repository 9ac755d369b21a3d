"""The daemon's backup timer (a ``cleanup_ctx``): with ``backup.dir`` set, an encrypted copy
every ``backup.every_min`` minutes, made on a thread of its own. A failure (the stick is out)
is logged and shows as the backup's age in health, /metrics and doctor; the next round tries
again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from common.tasks import background

from edge import keys
from edge.backups.local import BackupError, make_backup

log = logging.getLogger(__name__)


async def backup_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    loop = backup_loop(app, settings.backup.every_min * 60.0) if settings.backup.dir else None
    async with background(loop):
        yield


async def backup_loop(app: web.Application, interval_s: float) -> None:
    settings = app[keys.SETTINGS]
    while True:
        await asyncio.sleep(interval_s)
        try:
            made = await asyncio.to_thread(make_backup, settings.db_path, settings.store_id,
                                           settings.backup)
            log.info("backup written: %s (%d bytes)", made["backup"], made["bytes"])
        except BackupError as exc:
            log.error("backup failed: %s", exc)
