"""Catalog: items with station, base price, channel prices and availability."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from aiohttp import web

from common.clock import utc_now
from common.errors import NotFound
from common.http.body import read_body
from common.http.errors import ApiError
from common.schemas import ITEM_CREATE, ITEM_PATCH, SKU_PATTERN
from common.vocabulary import CHANNELS

from edge import keys
from edge.catalog import sql
from edge.api.auth import require
from edge.pricing.sql import menu_prices


async def list_items(request: web.Request) -> web.Response:
    """The catalog, with the price a time-window rule charges now on ``?channel=`` (pos)."""
    require(request, "catalog.read")
    channel = request.query.get("channel", "pos")
    if channel not in CHANNELS:
        raise ApiError(400, "invalid_query", {"channel": channel[:64], "allowed": list(CHANNELS)})
    local_now = utc_now().astimezone(request.app[keys.SETTINGS].timezone)
    return web.json_response(await request.app[keys.DB].read(_priced_items, channel, local_now))


def _priced_items(conn: sqlite3.Connection, channel: str, local_now: datetime) -> list[dict[str, Any]]:
    return menu_prices(conn, sql.list_items(conn), channel, local_now)


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
