"""The guest's feedback on the shop's Wi-Fi: ``/f/{token}`` (the page), ``GET`` and ``POST
/api/v1/feedback/{token}``. No login: the order's signed token (``common.feedback``) is the
credential, checked with the tenant's key; rate-limited per client address."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from common.consent import CONSENTS
from common.feedback import FEEDBACK, check_token, make_token
from common.http.body import json_response, read_body
from common.http.errors import ApiError, slow_down
from common.pages import feedback_page
from common.ratewindow import RateWindow

from edge import keys
from edge.feedback import sql
from edge.members.sql import load_key

PER_ADDRESS_PER_MIN: Final = 20

LIMITS: web.AppKey[RateWindow] = web.AppKey("feedback_limits")


def feedback_url(app: web.Application, order_id: str) -> str | None:
    """The order's feedback page on this box (None before HQ sent the tenant key)."""
    settings = app[keys.SETTINGS]
    key = load_key(settings.data_dir)
    if key is None:
        return None
    return f"/f/{make_token(key, settings.store_id, order_id)}"


def _order_id(request: web.Request) -> str:
    """The order id of a genuine token of this store; 404 ``unknown_order`` otherwise."""
    slow_down(request, request.app[LIMITS])
    settings = request.app[keys.SETTINGS]
    key = load_key(settings.data_dir)
    found = check_token(key, request.match_info["token"]) if key is not None else None
    if found is None or found[1] != settings.store_id:
        raise ApiError(404, "unknown_order", None)
    return found[0]


async def page(request: web.Request) -> web.Response:
    _order_id(request)
    return feedback_page()


async def order(request: web.Request) -> web.Response:
    order_id = _order_id(request)
    found: dict[str, Any] | None = await request.app[keys.DB].read(sql.order_for_page, order_id)
    if found is None:
        raise ApiError(404, "unknown_order", None)
    return json_response(found)


async def rate(request: web.Request) -> web.Response:
    order_id = _order_id(request)
    body = await read_body(request, FEEDBACK)
    return json_response(await request.app[keys.DB].write(sql.rate, order_id, body), status=201)


async def consents(request: web.Request) -> web.Response:
    """``PUT /api/v1/feedback/{token}/consents``: the guest of a member's order grants or
    withdraws consent (source ``guest``); it goes to HQ like the till's change."""
    order_id = _order_id(request)
    body = await read_body(request, CONSENTS)
    return json_response(await request.app[keys.DB].write(sql.guest_consents, order_id, body),
                         status=202)
