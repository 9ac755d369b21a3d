"""The webhook of each platform (``POST /api/v1/platforms/{platform}/orders``, no bearer
token: the platform's signature is the authentication) and the HQ reads about platforms.

A webhook request is read with its own size limit (``platforms.max_body_bytes``), checked by
the platform's adapter (envelope, signature, timestamp, order), mapped to a store through
``<platform>_shops``, and accepted in one transaction (``PlatformOps.accept_platform_order``:
request id, pause state, SKUs, the feed change). A forwarded order is pushed to the store at
once when it is online. Every refusal is answered in the platform's error shape, logged and
recorded in ``platform_rejects``; nothing of it reaches a store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from cloud import keys
from cloud.db.runner import DbUnavailable
from cloud.platforms.adapters import ADAPTERS, REASONS, Adapter, Rejected
from cloud.platforms.ops import PlatformOps
from cloud.platforms.sql import Refused

log = logging.getLogger(__name__)


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The body, or ``too_large`` as soon as it passes ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise Rejected("too_large", f"{request.content_length} bytes > {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise Rejected("too_large", f"more than {limit} bytes")


def _answer(adapter: Adapter, reason: str, detail: str) -> web.Response:
    return web.json_response(adapter.error(reason, detail), status=REASONS[reason][0])


def webhook(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    adapter = ADAPTERS[name]

    async def receive(request: web.Request) -> web.Response:
        settings = request.app[keys.SETTINGS].platforms
        platform = settings.enabled(name)
        if platform is None:
            return _answer(adapter, "disabled", f"{name} is not configured at this HQ")
        db = request.app[keys.DB]
        request_id: str | None = None
        try:
            raw = await read_limited(request, settings.max_body_bytes)
            inbound = adapter.read(raw, request.headers, platform, time.time(),
                                   settings.max_skew_s)
            request_id = inbound.request_id
            store = platform.shops.get(inbound.shop)
            if store is None:
                raise Rejected("unknown_store", f"shop {inbound.shop[:64]!r} is not mapped")
            result = await db.call(PlatformOps.accept_platform_order, name, platform.channel, request_id,
                                   inbound.shop, store, inbound.order)
        except (Rejected, Refused) as exc:
            log.warning("%s webhook refused (%s): %s", name, exc.reason, exc.detail)
            try:
                await db.call(PlatformOps.reject_platform_request, name, exc.reason, exc.detail,
                              request_id)
            except DbUnavailable:
                log.exception("could not record the refused %s webhook", name)
            return _answer(adapter, exc.reason, exc.detail)
        except DbUnavailable as exc:
            log.error("%s webhook: database unavailable: %s", name, exc)
            return _answer(adapter, "unavailable", "try again later")
        if result["outcome"] == "forwarded":
            link = request.app[keys.LINK]
            if link is not None:  # offline: the store gets it by replay at its birth
                await link.push({result["store"]: result["cursor"]})
        return web.json_response(adapter.ok(inbound.order["platform_order_id"],
                                            result["outcome"]))

    receive.__name__ = f"{name}_webhook"
    receive.__doc__ = f"The {name} order webhook."
    return receive
