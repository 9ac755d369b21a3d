"""Health (no auth) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from cloud import keys
from cloud.db.runner import DbUnavailable
from cloud.stores.ops import StoreOps

HEALTH_DB_TIMEOUT_S = 5.0


async def health(request: web.Request) -> web.Response:
    app = request.app
    link = app[keys.LINK]
    db: dict[str, Any] = {"backend": app[keys.DB].db.backend}
    try:
        async with asyncio.timeout(HEALTH_DB_TIMEOUT_S):
            await app[keys.DB].call(StoreOps.get_store, "-")
        db["ok"] = True
    except (DbUnavailable, TimeoutError) as exc:
        db.update(ok=False, detail=str(exc)[:300] or type(exc).__name__)
    broker: dict[str, Any] = {"configured": link is not None, "connected": bool(link and link.connected)}
    if link is not None and link.client.last_error:
        broker["last_error"] = link.client.last_error
    healthy = db["ok"] and (link is None or broker["connected"])
    return web.json_response({"status": "ok" if healthy else "degraded", "broker": broker,
                              "db": db})


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    found = app[keys.METRICS]
    found.set_stores(await app[keys.DB].call(StoreOps.list_stores))
    found.conflicts_open.set(await app[keys.DB].call(StoreOps.open_conflicts))
    link = app[keys.LINK]
    found.broker_connected.set(1 if link is not None and link.connected else 0)
    return web.Response(body=found.render(), content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Version": "0.0.4"})
