"""Health, login and metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from common.http.body import read_body
from common.http.errors import ApiError
from common.passwords import verify_pin

from edge import keys
from edge.backups.rpo import last_backup, rpo_view
from edge.printing.health import printers_health
from edge.staff.sql import staff_pin_hash
from edge.api.auth import require
from edge.api.schemas import LOGIN


async def health(request: web.Request) -> web.Response:
    app = request.app
    db = app[keys.DB]
    counters = db.sync_counters()
    writer_ok = db.writer.is_alive() and db.writer.last_error is None
    sync = app.get(keys.SYNC)
    printers, print_jobs = await printers_health(app.get(keys.PRINTING))
    rpo = await _rpo(app)
    return web.json_response({
        "status": "ok" if writer_ok else "degraded",
        "store": app[keys.SETTINGS].store_id,
        "sync": {"connected": sync is not None and sync.connected,
                 "configured": sync is not None, "pending": counters["pending"],
                 "applied_seq": counters["applied_seq"], "last_seq": counters["last_seq"],
                 "oldest_pending_s": rpo["oldest_pending_s"],
                 **({"bd_seq": sync.bd_seq, "down_cursor": sync.down_cursor,
                     "last_error": sync.client.last_error} if sync is not None else {})},
        "db": {"writer": "ok" if writer_ok else (db.writer.last_error or "stopped")},
        "printers": printers, "print_jobs": print_jobs,
        "devices": app[keys.DEVICES].health(),
        "backup": rpo["backup"],
        "box": _box(app),
    })


def _box(app: web.Application) -> dict[str, Any]:
    """This box's epoch, and when HQ said it was replaced (null: it serves the store)."""
    found = app.get(keys.BOX)
    return {"epoch": found.epoch if found else 1,
            "superseded_at": found.superseded_at if found else None}


async def _rpo(app: web.Application) -> dict[str, Any]:
    """What a dead box would take with it now: the oldest unacknowledged event's age and the
    last backup's (edge/backups/rpo.py); also set as gauges for /metrics."""
    pending_at = await app[keys.DB].oldest_pending_at()
    backup = await asyncio.to_thread(last_backup, app[keys.SETTINGS].data_dir)
    view = rpo_view(pending_at, backup)
    app[keys.METRICS].set_rpo(view["oldest_pending_s"],
                              None if view["backup"] is None else view["backup"]["age_s"])
    return view


async def login(request: web.Request) -> web.Response:
    body = await read_body(request, LOGIN)
    limiter = request.app[keys.LIMITER]
    staff, client = "staff:" + body["staff"], "ip:" + (request.remote or "?")
    wait = limiter.retry_after(staff, client)
    if wait:
        raise ApiError(429, "too_many_attempts", {"retry_after_s": wait},
                       headers={"Retry-After": str(wait)})
    found = await request.app[keys.DB].read(staff_pin_hash, body["staff"])
    # hash even for unknown staff so timing does not tell which ids exist
    stored = found[1] if found else "scrypt$16384$00$00"
    ok = await asyncio.to_thread(verify_pin, body["pin"], stored)
    if not (found and ok):
        limiter.failed(staff, client)
        raise ApiError(401, "invalid_credentials", None)
    limiter.succeeded(staff)
    role = found[0]
    token = request.app[keys.TOKENS].issue(body["staff"], role)
    return web.json_response({"token": token, "role": role, "staff": body["staff"],
                              "expires_in": request.app[keys.TOKENS].ttl_s})


async def metrics(request: web.Request) -> web.Response:
    require(request, "metrics.read")
    await _rpo(request.app)
    body = request.app[keys.METRICS].render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Version": "0.0.4"})
