"""HQ referral routes (ARCHITECTURE §4f; docs/members.md, "Referrals"): a member's code and
link, the page the link opens, the reward rule and the report per store."""

from __future__ import annotations

import html
from datetime import date, timedelta
from typing import Any, Final

from aiohttp import web

from cloud import keys
from cloud.api.errors import ApiError
from cloud.api.schemas import DAYS_AND_STORES, query_days, query_stores
from cloud.members.rule_routes import rule_handlers
from cloud.members.referrals import ReferralOps
from cloud.members.schemas import path_member
from common.http.errors import slow_down
from common.http.routes import Route
from common.pages import FEEDBACK_HEADERS
from common.ratewindow import RateWindow
from common.referrals import normal

PAGES_PER_ADDRESS_PER_MIN: Final = 30
TEMPLATE_ID: Final[dict[str, Any]] = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}(?!\n)$"}
REFERRAL_RULE: Final[dict[str, Any]] = {
    "type": ["object", "null"], "additionalProperties": False,
    "required": ["min_spend_cents", "referrer_template", "referee_template"],
    "properties": {"min_spend_cents": {"type": "integer", "minimum": 0, "maximum": 100_000_000},
                   "referrer_template": TEMPLATE_ID, "referee_template": TEMPLATE_ID}}
PAGES: web.AppKey[RateWindow] = web.AppKey("referral_pages")
PAGE: Final = """<!doctype html><html lang="zh"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>邀请码 Referral</title>
<style>body{{font-family:system-ui,sans-serif;text-align:center;padding:2rem}}
.code{{font-size:3rem;letter-spacing:.3rem;font-weight:700;margin:1.5rem}}</style></head>
<body><p>加入会员时出示邀请码 · Show this code when you join as a member</p>
<div class="code" id="code">{code}</div>
<p>首单满 {min_spend} 元，你和邀请人各得一份礼遇 · A first paid order of {min_spend} yuan or
more rewards you both</p></body></html>"""


def _url(request: web.Request, code: str) -> str:
    return f"{request.scheme}://{request.host}/r/{code}"


async def get_referral(request: web.Request) -> web.Response:
    found = await request.app[keys.DB].call(ReferralOps.member_referral,
                                            path_member(request))
    if found is None:
        raise ApiError(404, "unknown_member", request.match_info["member"])
    return web.json_response({**found, "url": _url(request, found["code"])})


async def page(request: web.Request) -> web.Response:
    """The link's page at ``/r/{code}`` (a page, not in the API route table): the code in large
    type, no login, rate-limited per address; 404 for an unknown code."""
    slow_down(request, request.app[PAGES])
    code = normal(request.match_info["code"])
    if code is None or not await request.app[keys.DB].call(ReferralOps.referral_code_known,
                                                            code):
        raise ApiError(404, "unknown_code", None)
    rule = await request.app[keys.DB].call(ReferralOps.referral_rule)
    spend = f"{(rule or {}).get('min_spend_cents', 0) / 100:.2f}"
    return web.Response(text=PAGE.format(code=html.escape(code), min_spend=spend),
                        content_type="text/html", headers=FEEDBACK_HEADERS)


get_rule, put_rule = rule_handlers(ReferralOps.referral_rule, ReferralOps.put_referral_rule, REFERRAL_RULE)


async def referral_report(request: web.Request) -> web.Response:
    stores = query_stores(request)
    since, until = query_days(request)
    end = (date.fromisoformat(until) + timedelta(days=1)).isoformat()
    return web.json_response(await request.app[keys.DB].call(
        ReferralOps.referral_report, stores, since, end))


REFERRAL_ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/members/{member}/referral", get_referral,
          "The member's referral code (drawn the first time) and link, and its referrals by "
          "status", errors=(400, 404)),
    Route("GET", "/api/v1/referrals/rule", get_rule,
          "The referral reward rule {min_spend_cents, referrer_template, referee_template} "
          "(null: none)"),
    Route("PUT", "/api/v1/referrals/rule", put_rule,
          "Set the referral reward rule, or null to stop rewarding (hq_admin)",
          body=REFERRAL_RULE, errors=(400, 404, 422)),
    Route("GET", "/api/v1/reports/referrals", referral_report,
          "Referrals by the store where the referee joined: joined, pending, rewarded, "
          "refused and why (?from=&to= UTC days, ?stores=)",
          query=DAYS_AND_STORES, errors=(400,)),
)
