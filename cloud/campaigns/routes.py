"""HQ's campaign routes (ARCHITECTURE §4f, docs/campaigns.md): campaigns with their tracked
link and QR code, the visits (no login, rate-limited per address), the report, and the
landing page the tracked link opens (``/visit?c={id}``)."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any, Final

import qrcode
from qrcode.image.pil import PilImage
from aiohttp import web

from cloud import keys
from cloud.api.errors import ApiError
from cloud.api.schemas import query_days, read_body
from cloud.campaigns.ops import CampaignOps
from cloud.campaigns.schemas import CAMPAIGN, CAMPAIGN_ID, SOURCES, VISIT
from cloud.campaigns.sql import Refused
from common.http.errors import slow_down
from common.http.routes import Route
from common.pages import FEEDBACK_HEADERS
from common.ratewindow import RateWindow

PER_ADDRESS_PER_MIN: Final = 30  # visits recorded from one address
LIMITS: web.AppKey[RateWindow] = web.AppKey("campaign_visits")
LANDING: Final = Path(__file__).parent.parent / "pages" / "visit.html"
_ID: Final = re.compile(CAMPAIGN_ID)
RESERVED: Final = ["cross-store"]  # /api/v1/campaigns/cross-store/{rule}: coupon campaigns


def _campaign_id(request: web.Request) -> str:
    value = request.match_info["campaign"]
    if not _ID.match(value):
        raise ApiError(404, "unknown_campaign", value[:100])
    return value


def _present(request: web.Request, campaign: dict[str, Any]) -> dict[str, Any]:
    """The campaign with its tracked link (on the address the request came to) and QR."""
    cid = campaign["id"]
    return {**campaign, "link": f"{request.scheme}://{request.host}/visit?c={cid}",
            "qr": f"/api/v1/campaigns/{cid}/qr.png"}


async def _found(request: web.Request) -> dict[str, Any]:
    cid = _campaign_id(request)
    campaign = await request.app[keys.DB].call(CampaignOps.find_campaign, cid)
    if campaign is None:
        raise ApiError(404, "unknown_campaign", cid)
    return _present(request, campaign)


async def put_campaign(request: web.Request) -> web.Response:
    cid = request.match_info["campaign"]
    if not _ID.match(cid) or cid in RESERVED:
        raise ApiError(422, "invalid_id", {"campaign": CAMPAIGN_ID, "reserved": RESERVED})
    body = await read_body(request, CAMPAIGN)
    try:
        stored, _ = await request.app[keys.DB].call(CampaignOps.set_campaign, cid, body)
    except Refused as exc:
        raise ApiError(exc.status, exc.reason, exc.detail) from None
    return web.json_response(_present(request, stored))


async def list_campaigns(request: web.Request) -> web.Response:
    found = await request.app[keys.DB].call(CampaignOps.list_campaigns)
    return web.json_response({"campaigns": [_present(request, c) for c in found],
                              "sources": SOURCES})


async def get_campaign(request: web.Request) -> web.Response:
    return web.json_response(await _found(request))


def qr_png(text: str) -> bytes:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8,
                         border=4)
    code.add_data(text)
    out = io.BytesIO()
    code.make_image(image_factory=PilImage).save(out)  # PNG
    return out.getvalue()


async def campaign_qr(request: web.Request) -> web.Response:
    png = await asyncio.to_thread(qr_png, (await _found(request))["link"])
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "no-cache"})


async def track_visit(request: web.Request) -> web.Response:
    slow_down(request, request.app[LIMITS])
    body = await read_body(request, VISIT)
    try:
        answer = await request.app[keys.DB].call(CampaignOps.track_visit, body)
    except Refused as exc:
        raise ApiError(exc.status, exc.reason, exc.detail) from None
    return web.json_response(answer, status=202)


async def campaign_report(request: web.Request) -> web.Response:
    cid = _campaign_id(request)
    since, until = query_days(request) if {"from", "to"} & set(request.query) else (None,
                                                                                    None)
    doc = await request.app[keys.DB].call(CampaignOps.campaign_report, cid, since, until)
    if doc is None:
        raise ApiError(404, "unknown_campaign", cid)
    return web.json_response(doc)


async def landing(request: web.Request) -> web.Response:
    """The tracked link's page: records the visit under a random visitor id kept in the
    browser, then goes on to the campaign's landing URL if it has one."""
    return web.Response(body=LANDING.read_bytes(), content_type="text/html", charset="utf-8",
                        headers=FEEDBACK_HEADERS)


_DAYS: Final[dict[str, Any]] = {"from": {"type": "string", "format": "date"},
                                "to": {"type": "string", "format": "date"}}
CAMPAIGN_ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/campaigns", list_campaigns,
          "Every campaign with its tracked link and QR, and the table of sources"),
    Route("PUT", "/api/v1/campaigns/{campaign}", put_campaign,
          "Create or replace a campaign {name, source, starts, ends, cost_cents, window_days, "
          "timezone?, landing?} (hq_admin): the campaign with its tracked link and QR",
          body=CAMPAIGN, errors=(400, 422)),
    Route("GET", "/api/v1/campaigns/{campaign}", get_campaign,
          "One campaign with its tracked link and QR", errors=(404,)),
    Route("GET", "/api/v1/campaigns/{campaign}/qr.png", campaign_qr,
          "The QR code of the campaign's tracked link (PNG)", produces="image/png",
          errors=(404,)),
    Route("POST", "/api/v1/track/visit", track_visit,
          "Record a visit {campaign, visitor and/or member}; no login, rate-limited per "
          "address; 404 unknown_campaign, 409 campaign_not_running", public=True, body=VISIT,
          ok=202, errors=(400, 404, 409, 413, 422, 429)),
    Route("GET", "/api/v1/reports/campaigns/{campaign}", campaign_report,
          "Visits, visitors, members won, attributed orders and revenue by channel and store, "
          "cost and ROI (?from=&to= days in the campaign's time zone)", query=_DAYS,
          errors=(400, 404)),
)
