"""``GET /api/v1/events``: committed events over a WebSocket, resumable with ``?after=seq``."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from common.http.errors import ApiError

from edge import keys
from edge.hub import LAN_EVENT_PREFIXES, Subscription
from edge.db.outbox import events_after
from edge.api.auth import require

SOCKETS: web.AppKey["weakref.WeakSet[web.WebSocketResponse]"] = web.AppKey("sockets")
RESUME_CODE = 4000  # client fell behind: reconnect with ?after=<last seq seen>
PAGE = 500


async def events(request: web.Request) -> web.WebSocketResponse:
    require(request, "events.read")
    after = _after(request)
    app = request.app
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    hub, db = app[keys.HUB], app[keys.DB]
    sub = hub.subscribe()
    app[SOCKETS].add(ws)
    app[keys.METRICS].ws_clients.inc()
    pump = asyncio.create_task(_pump(ws, sub, db, after))
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data == "ping":
                await ws.send_str('{"type":"pong"}')
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        hub.unsubscribe(sub)
        app[keys.METRICS].ws_clients.dec()
    return ws


async def _pump(ws: web.WebSocketResponse, sub: Subscription, db: Any, after: int | None) -> None:
    last = db.writer.outbox.last_seq if after is None else after
    while after is not None:  # replay what the client missed, page by page
        backlog = await db.read(events_after, db.store_id, last, LAN_EVENT_PREFIXES, PAGE)
        for event in backlog:
            await ws.send_json(event)
            last = event["seq"]
        if len(backlog) < PAGE:
            break
    while True:
        if sub.overflowed and sub.queue.empty():
            await ws.close(code=RESUME_CODE, message=f"resume with ?after={last}".encode())
            return
        event = await sub.queue.get()
        if event["seq"] <= last:
            continue
        await ws.send_json(event)
        last = event["seq"]


def _after(request: web.Request) -> int | None:
    text = request.query.get("after")
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:  # "²".isdigit() is True
        raise ApiError(400, "invalid_query", {"after": "a non-negative integer seq"})
    return int(text)


async def close_sockets(app: web.Application) -> None:
    sockets = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
