"""``CallbackSender``: sends the queued status callbacks (``platform_callbacks``) to the
platforms and retries them with exponential backoff.

Every ``callback_poll_ms`` it claims the due rows (claimed for the request timeout plus a
margin, so another HQ process does not send them at the same time), POSTs each one signed
the platform's way to ``<platform>_callback_url``, and records the outcome: ``sent`` on the
platform's success answer; otherwise due again after ``callback_backoff_ms × 2^(attempt−1)``
(at most an hour), and ``failed`` after ``callback_max_attempts``. A platform without a
callback URL gets none: its callbacks are marked ``failed`` with that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from cloud import keys
from cloud.db.runner import DbRunner
from cloud.platforms.adapters import ADAPTERS
from cloud.platforms.ops import PlatformOps
from cloud.platforms.settings import PlatformSettings

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 3600.0


def backoff_s(settings: PlatformSettings, attempt: int) -> float:
    return min(MAX_BACKOFF_S, settings.callback_backoff_s * 2.0 ** (attempt - 1))


class CallbackSender:
    def __init__(self, settings: PlatformSettings, db: DbRunner) -> None:
        self.settings, self.db = settings, db
        self.counters = {"sent": 0, "retried": 0, "failed": 0}
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """End ``run`` after the round in hand. Besides cancelling it: Python 3.11's
        ``asyncio.wait_for`` (inside ``DbRunner.call``) can swallow a cancellation that
        arrives as the awaited call completes, and the loop would then go on for ever."""
        self._stop.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.callback_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._stop.is_set():
                try:
                    await self.send_due(session)
                except Exception:  # database trouble: try again on the next round
                    log.exception("sending platform callbacks failed")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.callback_poll_s):
                        await self._stop.wait()

    async def send_due(self, session: aiohttp.ClientSession) -> int:
        lease_ms = int((self.settings.callback_timeout_s + 5) * 1000)
        rows = await self.db.call(PlatformOps.claim_platform_callbacks, int(time.time() * 1000), lease_ms)
        await asyncio.gather(*(self._send(session, row) for row in rows))
        return len(rows)

    async def _send(self, session: aiohttp.ClientSession, row: dict[str, Any]) -> None:
        platform = self.settings.platforms.get(row["platform"])
        if platform is None or not platform.callback_url:
            await self.db.call(PlatformOps.platform_callback_failed, row["id"],
                               "no callback_url configured", None)
            self.counters["failed"] += 1
            return
        adapter = ADAPTERS[platform.name]
        out = adapter.callback(platform, row["platform_order_id"], row["status"], row["reason"],
                               time.time())
        try:
            async with session.post(platform.callback_url, data=out.body,
                                    headers=out.headers) as resp:
                body = await resp.read()
                error = None if adapter.callback_ok(resp.status, body) else \
                    f"HTTP {resp.status}: {body[:200]!r}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            await self.db.call(PlatformOps.platform_callback_sent, row["id"])
            self.counters["sent"] += 1
            return
        attempt = int(row["attempts"])
        if attempt >= self.settings.callback_max_attempts:
            log.error("%s callback %s for %s given up after %d attempts: %s", platform.name,
                      row["status"], row["platform_order_id"], attempt, error)
            await self.db.call(PlatformOps.platform_callback_failed, row["id"], error, None)
            self.counters["failed"] += 1
            return
        retry_at = int((time.time() + backoff_s(self.settings, attempt)) * 1000)
        log.warning("%s callback %s for %s failed (attempt %d), retried: %s", platform.name,
                    row["status"], row["platform_order_id"], attempt, error)
        await self.db.call(PlatformOps.platform_callback_failed, row["id"], error, retry_at)
        self.counters["retried"] += 1


async def callbacks_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the sender runs when any platform is configured."""
    settings = app[keys.SETTINGS].platforms
    if not any(p.secret for p in settings.platforms.values()):
        app[keys.CALLBACKS] = None
        yield
        return
    sender = CallbackSender(settings, app[keys.DB])
    app[keys.CALLBACKS] = sender
    task = asyncio.create_task(sender.run(), name="platform-callbacks")
    try:
        yield
    finally:
        sender.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
