"""HQ's price-rule routes (docs/hq-api.md): set or delete a rule at every store or at
``?stores=``, through the change feed; list them and their clashes."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from cloud import keys
from cloud.api.schemas import STORES_QUERY, query_stores, read_body
from cloud.pricing.ops import PricingOps
from common.errors import NotFound
from common.http.routes import Route
from common.price_rules import PRICE_RULE, RULE_ID

_ID = re.compile(RULE_ID["pattern"])


def _rule_id(request: web.Request) -> str:
    rule_id = request.match_info["id"]
    if not _ID.match(rule_id):
        raise NotFound("unknown_price_rule", {"id": rule_id[:64]})
    return rule_id


async def _sent(request: web.Request, cursors: dict[str, int],
                answer: dict[str, Any]) -> web.Response:
    link = request.app[keys.LINK]
    sent = await link.push(cursors) if link is not None and cursors else 0
    return web.json_response({**answer, "stores": cursors, "messages_sent": sent})


async def put_rule(request: web.Request) -> web.Response:
    rule_id, stores = _rule_id(request), query_stores(request)
    body = await read_body(request, PRICE_RULE)
    cursors = await request.app[keys.DB].call(PricingOps.put_price_rule, rule_id, body, stores)
    return await _sent(request, cursors, {"rule": {"id": rule_id, **body}})


async def delete_rule(request: web.Request) -> web.Response:
    rule_id = _rule_id(request)
    cursors = await request.app[keys.DB].call(PricingOps.delete_price_rule, rule_id)
    return await _sent(request, cursors, {"id": rule_id, "deleted": True})


async def list_rules(request: web.Request) -> web.Response:
    return web.json_response(await request.app[keys.DB].call(PricingOps.price_rules))


async def clashes(request: web.Request) -> web.Response:
    return web.json_response(await request.app[keys.DB].call(PricingOps.price_rule_clashes))


# the price-rule rows of the HQ route table (cloud/routes.py)
PRICING_ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/price-rules", list_rules,
          "HQ's time-window price rules, with the stores each was sent to (null: all)"),
    Route("GET", "/api/v1/price-rules/clashes", clashes,
          "Pairs of rules on a common SKU or category, channel and store whose windows "
          "overlap, with the shared days and hours"),
    Route("PUT", "/api/v1/price-rules/{id}", put_rule,
          "Create or replace a time-window price rule at every store or at ?stores=s1,s2, "
          "through the change feed; stores it no longer targets are sent its delete (hq_admin)",
          body=PRICE_RULE, query=STORES_QUERY, errors=(400, 404, 422)),
    Route("DELETE", "/api/v1/price-rules/{id}", delete_rule,
          "Delete a price rule at the stores it was sent to, through the change feed (hq_admin)",
          errors=(404,)),
)
