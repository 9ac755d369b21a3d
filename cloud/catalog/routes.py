"""HQ catalog changes, stored in each target store's change feed and pushed to online stores
(offline stores get them by replay at their next birth)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cloud import keys
from cloud.api.schemas import CATALOG_ITEM, QUOTAS, path_sku, query_stores, read_body
from cloud.catalog.ops import CatalogOps

# a PUT replaces the item: optional fields left out are reset, not kept from before
ITEM_DEFAULTS: dict[str, Any] = {"name_en": None, "cost_cents": None, "channel_prices": {}}


async def _publish(request: web.Request, cursors: dict[str, int],
                   answer: dict[str, Any]) -> web.Response:
    link = request.app[keys.LINK]
    sent = await link.push(cursors) if link is not None else 0
    return web.json_response({**answer, "stores": cursors, "messages_sent": sent})


async def put_item(request: web.Request) -> web.Response:
    sku, stores = path_sku(request), query_stores(request)
    item = {"sku": sku, **ITEM_DEFAULTS, **await read_body(request, CATALOG_ITEM)}
    cursors = await request.app[keys.DB].call(CatalogOps.put_catalog_item, item, stores)
    return await _publish(request, cursors, {"item": item})


async def put_quotas(request: web.Request) -> web.Response:
    sku, stores = path_sku(request), query_stores(request)
    quotas = await read_body(request, QUOTAS)
    cursors = await request.app[keys.DB].call(CatalogOps.put_quotas, sku, quotas, stores)
    return await _publish(request, cursors, {"sku": sku, "quotas": quotas})
