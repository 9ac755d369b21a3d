"""Stores as HQ sees them: presence and lag, orders, inventory, stocktakes, conflicts."""

from __future__ import annotations

from aiohttp import web

from cloud import keys
from cloud.api import paging
from cloud.api.errors import ApiError
from cloud.api.schemas import (
    STOCKTAKE,
    path_id,
    path_sku,
    query_since,
    read_body,
)
from cloud.catalog.ops import CatalogOps
from cloud.errors import StocktakeOutOfRange
from cloud.stores.ops import StoreOps
from cloud.stores.sql import CONFLICTS, ORDERS, STOCK_ALERTS, STORES


async def list_stores(request: web.Request) -> web.Response:
    found = paging.page(request, STORES)
    rows = await request.app[keys.DB].call(StoreOps.list_stores, found.after, found.fetch)
    return paging.respond(request, found, rows)


async def store_orders(request: web.Request) -> web.Response:
    store = path_id(request)
    since, found = query_since(request), paging.page(request, ORDERS)
    rows = await request.app[keys.DB].call(StoreOps.store_orders, store, since, found.fetch,
                                           found.after)
    return paging.respond(request, found, rows)


async def store_inventory(request: web.Request) -> web.Response:
    store = path_id(request)
    return web.json_response(await request.app[keys.DB].call(StoreOps.store_inventory, store))


async def stock_alerts(request: web.Request) -> web.Response:
    store = path_id(request)
    db = request.app[keys.DB]
    found = paging.page(request, STOCK_ALERTS)
    if await db.call(StoreOps.get_store, store) is None:
        raise ApiError(404, "unknown_store", store)
    rows = await db.call(StoreOps.stock_alerts, store, found.after, found.fetch)
    return paging.respond(request, found, rows)


async def stocktake(request: web.Request) -> web.Response:
    store, sku = path_id(request), path_sku(request)
    body = await read_body(request, STOCKTAKE)
    db = request.app[keys.DB]
    if await db.call(StoreOps.get_store, store) is None:
        raise ApiError(404, "unknown_store", store)
    try:
        cursor = await db.call(CatalogOps.stocktake, store, sku, body["counted"])
    except StocktakeOutOfRange as exc:
        raise ApiError(409, "stocktake_out_of_range",
                       {"on_hand": exc.on_hand, "counted": exc.counted}) from exc
    link = request.app[keys.LINK]
    sent = await link.push({store: cursor}) if link is not None else 0
    return web.json_response({"store": store, "sku": sku, "counted": body["counted"],
                              "cursor": cursor, "messages_sent": sent}, status=201)


async def conflicts(request: web.Request) -> web.Response:
    text = request.query.get("resolved")
    if text not in (None, "true", "false"):
        raise ApiError(400, "bad_query", {"resolved": "true or false"})
    resolved = None if text is None else text == "true"
    found = paging.page(request, CONFLICTS)
    rows = await request.app[keys.DB].call(StoreOps.conflicts, resolved, found.after, found.fetch)
    return paging.respond(request, found, rows)


async def resolve_conflict(request: web.Request) -> web.Response:
    text = request.match_info["id"]
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ApiError(404, "unknown_conflict", text[:40])
    if not await request.app[keys.DB].call(StoreOps.resolve_conflict, int(text)):
        raise ApiError(404, "unknown_conflict", text)
    return web.json_response({"id": int(text), "resolved": True})
