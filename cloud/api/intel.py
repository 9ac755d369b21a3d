"""HQ intelligence routes: the partner settlement statement (JSON, CSV or a printable page)
and the channel value report (JSON or CSV)."""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web

from edge.api.routes import Route

from .. import keys
from ..analytics import channels, settlement
from ..config import ID
from .errors import ApiError

FORMATS = ("json", "csv", "html")


def _format(request: web.Request) -> str:
    chosen = request.query.get("format", "json")
    if chosen not in FORMATS:
        raise ApiError(400, "bad_query", {"format": list(FORMATS)})
    return chosen


def render(doc: dict[str, Any], chosen: str, name: str) -> web.Response:
    if chosen == "csv":
        return web.Response(text=settlement.to_csv(doc), content_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{name}.csv"'})
    if chosen == "html":
        return web.Response(text=settlement.to_html(doc), content_type="text/html")
    return web.json_response(doc)


async def settlement_statement(request: web.Request) -> web.Response:
    rules: settlement.Rules = request.app[keys.SETTINGS].settlement
    month = request.match_info["month"]
    a = request.query.get("a") or rules.partner_a
    b = request.query.get("b") or rules.partner_b
    chosen = _format(request)
    try:
        first, after, _ = settlement.month_bounds(month)
    except ValueError as exc:
        raise ApiError(400, "bad_month", str(exc)) from exc
    if not (ID.match(a) and ID.match(b)) or a == b:
        raise ApiError(400, "bad_query", {"a, b": "two different store ids (or settlement."
                                                  "partner_a/_b in cloud.toml)"})
    figures = await request.app[keys.DB].call("settlement_figures", a, b, first, after,
                                              sorted(rules.shared_items))
    doc = settlement.statement(rules, month, a, b, figures)
    return render(doc, chosen, f"settlement-{month}-{a}-{b}")


DAY = re.compile(r"^\d{4}-\d\d-\d\d$")


def period(start: str | None, end: str | None) -> tuple[str, str]:
    """``from``/``to`` days (``YYYY-MM-DD``, to exclusive) as stored UTC timestamps."""
    if not (start and end and DAY.match(start) and DAY.match(end) and start < end):
        raise ValueError("from and to: days YYYY-MM-DD, from before to (to is exclusive)")
    return f"{start}T00:00:00.000Z", f"{end}T00:00:00.000Z"


async def channel_report(request: web.Request) -> web.Response:
    q = request.query
    chosen = q.get("format", "json")
    if chosen not in ("json", "csv"):
        raise ApiError(400, "bad_query", {"format": ["json", "csv"]})
    store = q.get("store")
    if store is not None and not ID.match(store):
        raise ApiError(400, "bad_query", {"store": "a store id"})
    try:
        start, end = period(q.get("from"), q.get("to"))
    except ValueError as exc:
        raise ApiError(400, "bad_query", str(exc)) from exc
    groups, costs = await request.app[keys.DB].call("channel_figures", start, end, store,
                                                    time.time())
    rows = channels.report(groups, costs,
                           request.app[keys.SETTINGS].platforms.commission_bp())
    if chosen == "csv":
        return web.Response(text=channels.to_csv(rows), content_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="channels-{q["from"]}.csv"'})
    return web.json_response({"from": start, "to": end, "rows": rows})


INTEL_ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/reports/channels", channel_report,
          "Channel value per store and channel over ?from..?to (days, to exclusive): revenue, "
          "gross margin, orders, average ticket, new/returning members, 30/90-day retention, "
          "platform commission; ?store=, ?format=json|csv",
          query={"from": {"type": "string", "format": "date"},
                 "to": {"type": "string", "format": "date"}, "store": {"type": "string"},
                 "format": {"type": "string", "enum": ["json", "csv"]}}, errors=(400, 404)),
    Route("GET", "/api/v1/settlements/{month}", settlement_statement,
          "Monthly partner settlement of stores ?a and ?b (defaults from cloud.toml): shared "
          "visitors, tiered revenue share, shared costs by usage, reserve; ?format=json|csv|html",
          query={"a": {"type": "string"}, "b": {"type": "string"},
                 "format": {"type": "string", "enum": list(FORMATS)}},
          errors=(400, 404)),
)
