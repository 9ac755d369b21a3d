"""HQ's feedback routes (ARCHITECTURE §4f): the guest's rating on mobile data (no login, the
order's signed token; rate-limited), the page at ``/f/{store}/{token}``, the recovery-coupon
rule, and the NPS report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from cloud import keys
from cloud.api.errors import ApiError
from cloud.api.schemas import DAYS_AND_STORES, query_days, query_stores, read_body
from cloud.feedback.ops import FeedbackOps
from cloud.feedback.sql import Refused
from cloud.members.rule_routes import rule_handlers
from common.consent import CONSENTS
from common.feedback import FEEDBACK, check_token, parse_token
from common.http.errors import slow_down
from common.http.routes import Route
from common.pages import feedback_page
from common.ratewindow import RateWindow

PER_ADDRESS_PER_MIN: Final = 20  # ratings, page loads and bad tokens from one address
RECOVERY_RULE: Final[dict[str, Any]] = {
    "type": ["object", "null"], "required": ["below", "template", "per_member_month"],
    "additionalProperties": False, "properties": {
        "below": {"type": "integer", "minimum": 0, "maximum": 10},
        "template": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}(?!\n)$"},
        "per_member_month": {"type": "integer", "minimum": 1, "maximum": 10}}}


@dataclass
class FeedbackLimits:
    calls: RateWindow = field(default_factory=lambda: RateWindow(PER_ADDRESS_PER_MIN))


LIMITS: web.AppKey[FeedbackLimits] = web.AppKey("feedback_limits")


def _limited(request: web.Request) -> None:
    slow_down(request, request.app[LIMITS].calls)


async def _order(request: web.Request) -> tuple[str, str]:
    """(store, order id) of a genuine token; 404 ``unknown_order`` for any other."""
    _limited(request)
    token = request.match_info["token"]
    parts = parse_token(token)
    key = await request.app[keys.DB].call(FeedbackOps.feedback_key, parts[1]) if parts else None
    found = check_token(key, token) if key is not None else None
    if found is None or request.match_info.get("store", found[1]) != found[1]:
        raise ApiError(404, "unknown_order", None)
    return found[1], found[0]


async def page(request: web.Request) -> web.Response:
    await _order(request)
    return feedback_page()


async def order(request: web.Request) -> web.Response:
    store, order_id = await _order(request)
    return web.json_response(await request.app[keys.DB].call(FeedbackOps.feedback_order,
                                                             store, order_id))


async def rate(request: web.Request) -> web.Response:
    store, order_id = await _order(request)
    body = await read_body(request, FEEDBACK)
    try:
        answer, cursor = await request.app[keys.DB].call(FeedbackOps.rate_order, store,
                                                         order_id, body)
    except Refused as exc:
        raise ApiError(exc.status, exc.reason, exc.detail) from None
    link = request.app[keys.LINK]
    if link is not None:
        await link.push({store: cursor})
    return web.json_response(answer, status=201)


get_rule, put_rule = rule_handlers(FeedbackOps.recovery_rule, FeedbackOps.put_recovery_rule, RECOVERY_RULE)


async def consents(request: web.Request) -> web.Response:
    """``PUT /api/v1/feedback/{token}/consents``: the guest of a member's order grants or
    withdraws consent (source ``guest``), applied at once."""
    store, order_id = await _order(request)
    body = await read_body(request, CONSENTS)
    try:
        answer = await request.app[keys.DB].call(FeedbackOps.guest_consents, store, order_id,
                                                 body)
    except Refused as exc:
        raise ApiError(exc.status, exc.reason, exc.detail) from None
    return web.json_response(answer, status=202)


async def nps_report(request: web.Request) -> web.Response:
    stores = query_stores(request)
    since, until = query_days(request)
    return web.json_response(await request.app[keys.DB].call(FeedbackOps.nps_report, stores,
                                                             since, until))


FEEDBACK_ROUTES: tuple[Route, ...] = (  # the rule's path before the token's
    Route("GET", "/api/v1/feedback/recovery-rule", get_rule,
          "The recovery-coupon rule for low scores (null: none)"),
    Route("PUT", "/api/v1/feedback/recovery-rule", put_rule,
          "Set the recovery-coupon rule {below, template, per_member_month} or null (hq_admin)",
          body=RECOVERY_RULE, errors=(400, 404, 422)),
    Route("GET", "/api/v1/feedback/{token}", order,
          "What the feedback page shows of the order (number, dishes, whether rated); no "
          "login: the order's signed token; 404 for a forged one", public=True,
          errors=(404, 429)),
    Route("POST", "/api/v1/feedback/{token}", rate,
          "Rate the order once (score 0-10, thumbs per dish, a comment up to 2,000 "
          "characters); a low score alerts the store and may earn a recovery coupon; 409 "
          "already_rated", public=True, body=FEEDBACK, ok=201,
          errors=(400, 404, 409, 413, 422, 429)),
    Route("PUT", "/api/v1/feedback/{token}/consents", consents,
          "The guest of a member's order grants or withdraws consent per purpose (marketing, "
          "profiling) from the feedback page, source guest; 409 no_member when HQ knows no "
          "member of the order", public=True, body=CONSENTS, ok=202,
          errors=(400, 404, 409, 413, 422, 429)),
    Route("GET", "/api/v1/reports/nps", nps_report,
          "NPS by store, day part and dish, the dishes that drag it down, the latest comments "
          "(?from=&to= shop-local days, ?stores=)",
          query=DAYS_AND_STORES, errors=(400,)),
)
