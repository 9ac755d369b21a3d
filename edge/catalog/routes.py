"""Catalog: items with station, base price, channel prices and availability."""

from __future__ import annotations

from aiohttp import web

from common.errors import NotFound
from common.http.body import read_body
from common.schemas import ITEM_CREATE, ITEM_PATCH, SKU_PATTERN

from edge import keys
from edge.catalog import sql
from edge.api.auth import require


async def list_items(request: web.Request) -> web.Response:
    require(request, "catalog.read")
    return web.json_response(await request.app[keys.DB].read(sql.list_items))


async def get_item(request: web.Request) -> web.Response:
    require(request, "catalog.read")
    sku = _sku(request)
    item = await request.app[keys.DB].read(sql.get_item, sku)
    if item is None:
        raise NotFound("unknown_sku", {"sku": sku})
    return web.json_response(item)


async def create_item(request: web.Request) -> web.Response:
    require(request, "catalog.write")
    body = await read_body(request, ITEM_CREATE)
    safety = body.pop("safety_stock", 0)
    item = await request.app[keys.DB].write(sql.create_item, body, safety)
    return web.json_response(item, status=201)


async def patch_item(request: web.Request) -> web.Response:
    require(request, "catalog.write")
    sku = _sku(request)
    body = await read_body(request, ITEM_PATCH)
    item = await request.app[keys.DB].write(sql.patch_item, sku, body)
    return web.json_response(item)


def _sku(request: web.Request) -> str:
    sku = request.match_info["sku"]
    if not SKU_PATTERN.match(sku):
        raise NotFound("unknown_sku", {"sku": sku[:64]})
    return sku
