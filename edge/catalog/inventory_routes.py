"""One stock pool: levels, movements, per-channel daily quotas."""

from __future__ import annotations

from aiohttp import web

from common.clock import local_day, utc_now
from common.http.body import read_body
from common.schemas import QUOTAS

from edge import keys
from edge.catalog import sql
from edge.api.auth import require
from edge.catalog.routes import _sku
from edge.catalog.schemas import MOVEMENT


async def list_inventory(request: web.Request) -> web.Response:
    require(request, "inventory.read")
    day = local_day(utc_now(), request.app[keys.SETTINGS].timezone)
    return web.json_response(await request.app[keys.DB].read(sql.inventory, day))


async def add_movement(request: web.Request) -> web.Response:
    require(request, "inventory.write")
    body = await read_body(request, MOVEMENT)
    level = await request.app[keys.DB].write(
        sql.record_movement, body["sku"], body.get("delta"), body["reason"],
        body.get("counted"), body.get("ref"),
    )
    return web.json_response(level, status=201)


async def put_quotas(request: web.Request) -> web.Response:
    require(request, "inventory.write")
    sku = _sku(request)
    body = await read_body(request, QUOTAS)
    quotas = await request.app[keys.DB].write(sql.set_quotas, sku, body)
    return web.json_response({"sku": sku, "quotas": quotas})
