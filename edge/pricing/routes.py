"""Time-window price rules at the store (docs/pricing.md): list, set, delete (manager)."""

from __future__ import annotations

import re

from aiohttp import web

from common.errors import NotFound
from common.http.body import read_body
from common.price_rules import PRICE_RULE, RULE_ID

from edge import keys
from edge.api.auth import require
from edge.pricing import sql

_ID = re.compile(RULE_ID["pattern"])


async def list_rules(request: web.Request) -> web.Response:
    require(request, "pricing.read")
    return web.json_response(await request.app[keys.DB].read(sql.list_rules))


async def put_rule(request: web.Request) -> web.Response:
    require(request, "pricing.write")
    rule_id = _rule_id(request)
    body = await read_body(request, PRICE_RULE)
    rule, created = await request.app[keys.DB].write(sql.put_rule, rule_id, body)
    return web.json_response(rule, status=201 if created else 200)


async def delete_rule(request: web.Request) -> web.Response:
    require(request, "pricing.write")
    rule_id = _rule_id(request)
    await request.app[keys.DB].write(sql.delete_rule, rule_id)
    return web.json_response({"id": rule_id, "deleted": True})


def _rule_id(request: web.Request) -> str:
    rule_id = request.match_info["id"]
    if not _ID.match(rule_id):
        raise NotFound("unknown_price_rule", {"id": rule_id[:64]})
    return rule_id
