"""``GET /api/v1/events``: committed events over a WebSocket, resumable with ``?after=seq``."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable
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
View = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


async def events(request: web.Request) -> web.WebSocketResponse:
    require(request, "events.read")
    return await serve_events(request, after_param(request))


async def serve_events(request: web.Request, after: int | None, view: View | None = None,
                       prefixes: tuple[str, ...] = LAN_EVENT_PREFIXES) -> web.WebSocketResponse:
    """The WebSocket's life: subscribe, pump, answer pings, unsubscribe on close."""
    app = request.app
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    hub, db = app[keys.HUB], app[keys.DB]
    sub = hub.subscribe()
    app[SOCKETS].add(ws)
    app[keys.METRICS].ws_clients.inc()
    pump = asyncio.create_task(pump_events(ws, sub, db, after, view, prefixes))
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


async def pump_events(ws: web.WebSocketResponse, sub: Subscription, db: Any, after: int | None,
                      view: View | None = None,
                      prefixes: tuple[str, ...] = LAN_EVENT_PREFIXES) -> None:
    """Send what was committed after ``after`` (replayed page by page), then what the hub
    brings, in seq order. ``view`` turns an event into what this client may see (``None``:
    nothing): the guest's socket sees its own table's orders only."""
    last = db.writer.outbox.last_seq if after is None else after
    while after is not None:  # replay what the client missed, page by page
        backlog = await db.read(events_after, db.store_id, last, prefixes, PAGE)
        for event in backlog:
            await _send(ws, event, view)
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
        await _send(ws, event, view)
        last = event["seq"]


async def _send(ws: web.WebSocketResponse, event: dict[str, Any], view: View | None) -> None:
    shown = event if view is None else await view(event)
    if shown is not None:
        await ws.send_json(shown)


def after_param(request: web.Request) -> int | None:
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
