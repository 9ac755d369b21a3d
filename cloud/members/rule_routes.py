"""The GET and PUT handlers of a rule HQ keeps that names coupon templates (the feedback
recovery rule, the referral reward rule): ``{"rule": …}`` in and out, 404
``unknown_template`` when a template it names does not exist."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cloud import keys
from cloud.api.errors import ApiError
from cloud.api.schemas import read_body
from cloud.members.coupons import UnknownTemplate

Handler = Callable[[web.Request], Awaitable[web.Response]]


def rule_handlers(read: Callable[..., Any], write: Callable[..., Any],
                  schema: dict[str, Any]) -> tuple[Handler, Handler]:
    """(get, put) for the rule ``read``/``write`` (``CloudDb`` operations) keep."""
    async def get_rule(request: web.Request) -> web.Response:
        return web.json_response({"rule": await request.app[keys.DB].call(read)})

    async def put_rule(request: web.Request) -> web.Response:
        body = await read_body(request, schema)
        try:
            await request.app[keys.DB].call(write, body)
        except UnknownTemplate as exc:
            raise ApiError(404, "unknown_template", str(exc)) from None
        return web.json_response({"rule": body})

    return get_rule, put_rule
