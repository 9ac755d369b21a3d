"""HQ intelligence routes: the partner settlement statement (JSON, CSV or a printable page),
the channel value report (JSON or CSV), cross-store flows by hour, demand forecasts and
purchase suggestions, and the stores' weather (an input of the forecasts)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from cloud import keys
from cloud.api.errors import ApiError
from cloud.api.schemas import path_id, read_body
from cloud.names import ID
from cloud.reports import channels, forecast, settlement, weather
from cloud.reports.ops import ReportOps
from common.http.routes import Route

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
    figures = await request.app[keys.DB].call(ReportOps.settlement_figures, a, b, first, after,
                                              sorted(rules.shared_items))
    doc = settlement.statement(rules, month, a, b, figures)
    return render(doc, chosen, f"settlement-{month}-{a}-{b}")


def period(start: str | None, end: str | None) -> tuple[str, str]:
    """``from``/``to`` days (``YYYY-MM-DD``, to exclusive) as stored UTC timestamps."""
    try:
        weather.check_bounds(start, end)  # real days: not 0000-01-01, 2026-02-30 nor "٢٠٢٦-…"
    except ValueError:
        start = None
    if not (start and end and start < end):
        raise ValueError("from and to: days YYYY-MM-DD, from before to (to is exclusive)")
    return f"{start}T00:00:00.000Z", f"{end}T00:00:00.000Z"


def _report_query(q: Any) -> tuple[str, str | None]:
    """``?format=json|csv`` and ``?store=`` of a report."""
    chosen = q.get("format", "json")
    if chosen not in ("json", "csv"):
        raise ApiError(400, "bad_query", {"format": ["json", "csv"]})
    store = q.get("store")
    if store is not None and not ID.match(store):
        raise ApiError(400, "bad_query", {"store": "a store id"})
    return chosen, store


async def channel_report(request: web.Request) -> web.Response:
    q = request.query
    chosen, store = _report_query(q)
    try:
        start, end = period(q.get("from"), q.get("to"))
    except ValueError as exc:
        raise ApiError(400, "bad_query", str(exc)) from exc
    groups, costs = await request.app[keys.DB].call(ReportOps.channel_figures, start, end, store,
                                                    time.time())
    rows = channels.report(groups, costs,
                           request.app[keys.SETTINGS].platforms.commission_bp())
    if chosen == "csv":
        return web.Response(text=channels.to_csv(rows), content_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="channels-{q["from"]}.csv"'})
    return web.json_response({"from": start, "to": end, "rows": rows})


def _months(q: Any) -> tuple[str, str, str, str]:
    first, last = q.get("from", ""), q.get("to", "")
    try:
        start, end = channels.month_range(first, last)
    except ValueError as exc:
        raise ApiError(400, "bad_query", f"from, to: months YYYY-MM: {exc}") from exc
    return first, last, start, end


async def channel_months(request: web.Request) -> web.Response:
    q = request.query
    chosen, store = _report_query(q)
    first, last, _, _ = _months(q)
    rows = await request.app[keys.DB].call(ReportOps.channel_months, first, last, store)
    if chosen == "csv":
        return web.Response(text=channels.to_csv(rows), content_type="text/csv")
    return web.json_response({"from": first, "to": last, "rows": rows})


async def refresh_channel_months(request: web.Request) -> web.Response:
    first, last, start, end = _months(request.query)
    started = time.perf_counter()
    count = await request.app[keys.DB].call(
        ReportOps.refresh_channel_months, start, end, time.time(),
        request.app[keys.SETTINGS].platforms.commission_bp())
    return web.json_response({"from": first, "to": last, "rows": count,
                              "seconds": round(time.perf_counter() - started, 3)})


_MONTHS = {"from": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}(?!\n)$"},
           "to": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}(?!\n)$"}}
async def cross_store_flows(request: web.Request) -> web.Response:
    try:
        start, end = period(request.query.get("from"), request.query.get("to"))
    except ValueError as exc:
        raise ApiError(400, "bad_query", str(exc)) from exc
    rows = await request.app[keys.DB].call(ReportOps.cross_store_flows, start, end)
    return web.json_response({"from": start, "to": end, "flows": rows})


async def footfall(request: web.Request) -> web.Response:
    """Pickup-to-store conversion per store and day, from the stores' BLE probes."""
    _, store = _report_query(request.query)
    start, end = request.query.get("from"), request.query.get("to")
    try:
        period(start, end)
    except ValueError as exc:
        raise ApiError(400, "bad_query", str(exc)) from exc
    rows = await request.app[keys.DB].call(ReportOps.probe_conversions, start, end, store)
    return web.json_response({"from": start, "to": end, "days": rows})


def _as_of(text: str | None) -> datetime:
    """``?as_of=`` (ISO, default now), floored to the hour, in UTC."""
    try:
        moment = datetime.fromisoformat(text) if text else datetime.now(UTC)
    except ValueError as exc:
        raise ApiError(400, "bad_query", {"as_of": "an ISO 8601 date-time"}) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def store_forecast(request: web.Request) -> web.Response:
    """Forecasts, back-test and purchase suggestions of a store's SKUs (or ?sku=)."""
    store = request.match_info["store"]
    sku = request.query.get("sku")
    if not ID.match(store) or (sku is not None and not re.match(r"^[A-Za-z0-9_.-]{1,64}$", sku)):
        raise ApiError(400, "bad_query", {"store, sku": "a store id and a SKU"})
    end = _as_of(request.query.get("as_of"))
    try:
        extra = forecast.parse_days(request.query.get("holidays", ""))
    except ValueError as exc:
        raise ApiError(400, "bad_query", {"holidays": str(exc)}) from exc
    rules = request.app[keys.SETTINGS].forecast.with_holidays(extra)
    inputs = await request.app[keys.DB].call(
        ReportOps.forecast_inputs, store, forecast.history_window(end, rules.weeks),
        forecast.weather_window(end, rules.weeks), sku)
    return web.json_response(forecast.report(store, end, rules, inputs, sku))


async def put_weather(request: web.Request) -> web.Response:
    """Insert or replace a store's weather days: every day checked first, then all stored in
    one transaction (or none)."""
    store = path_id(request)
    days = (await read_body(request, weather.BODY))["days"]
    problems = weather.problems(days)
    if problems:
        raise ApiError(422, "invalid_body", problems)
    written = await request.app[keys.DB].call(ReportOps.put_weather, store,
                                              [weather.normalised(d) for d in days])
    return web.json_response({"store": store, "written": written})


async def get_weather(request: web.Request) -> web.Response:
    store = path_id(request)
    bounds = [request.query.get(name) for name in ("from", "to")]
    try:
        weather.check_bounds(*bounds)
    except ValueError as exc:
        raise ApiError(400, "bad_query", {"from, to": str(exc)}) from exc
    days = await request.app[keys.DB].call(ReportOps.weather, store, *bounds)
    return web.json_response({"store": store, "days": days})


REPORT_ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/reports/channels", channel_report,
          "Channel value per store and channel over ?from..?to (days, to exclusive): revenue, "
          "gross margin, orders, average ticket, new/returning members, 30/90-day retention, "
          "platform commission; ?store=, ?format=json|csv",
          query={"from": {"type": "string", "format": "date"},
                 "to": {"type": "string", "format": "date"}, "store": {"type": "string"},
                 "format": {"type": "string", "enum": ["json", "csv"]}}, errors=(400, 404)),
    Route("GET", "/api/v1/reports/channels/months", channel_months,
          "The channel report per month as last refreshed (fast over any volume): ?from=YYYY-MM"
          "&to=YYYY-MM (inclusive), ?store=, ?format=json|csv",
          query={**_MONTHS, "store": {"type": "string"},
                 "format": {"type": "string", "enum": ["json", "csv"]}}, errors=(400, 404)),
    Route("POST", "/api/v1/reports/channels/months/refresh", refresh_channel_months,
          "Recompute the monthly channel report of ?from..?to (YYYY-MM, inclusive) (hq_admin)",
          query=_MONTHS, errors=(400,)),
    Route("GET", "/api/v1/reports/flows", cross_store_flows,
          "Members whose next order the same day was at another store, by UTC hour: "
          "[{from_store, to_store, hour, visits}] over ?from..?to (days, to exclusive)",
          query={"from": {"type": "string", "format": "date"},
                 "to": {"type": "string", "format": "date"}}, errors=(400,)),
    Route("GET", "/api/v1/reports/footfall", footfall,
          "Pickup-to-store conversion per store and store-local day from the BLE probes "
          "(probe.conversion): pickup_visitors, converted, share_bp; ?from, ?to (days), ?store",
          query={"from": {"type": "string", "format": "date"},
                 "to": {"type": "string", "format": "date"}, "store": {"type": "string"}},
          errors=(400, 404)),
    Route("GET", "/api/v1/stores/{store}/forecast", store_forecast,
          "Per SKU: the next 3 days' demand (weekday x hour seasonal mean x level x the "
          "holiday and weather factors), its back-tested MAPE with and without the store's "
          "weather against the naive seasonal baseline, and a purchase suggestion "
          "(forecast over the lead time + safety stock - stock); ?sku=, ?as_of=, ?holidays=",
          query={"sku": {"type": "string"}, "as_of": {"type": "string", "format": "date-time"},
                 "holidays": {"type": "string", "description": "YYYY-MM-DD,... (UTC days)"}},
          errors=(400, 404)),
    Route("PUT", "/api/v1/stores/{store}/weather", put_weather,
          "Insert or replace a store's weather per UTC day (observed, and forecast ahead): "
          "condition clear|cloudy|rain|snow|storm, precip_tenths_mm, temp_tenths_c; all days "
          "or none (hq_admin)", body=weather.BODY, errors=(400, 404, 413, 422)),
    Route("GET", "/api/v1/stores/{store}/weather", get_weather,
          "A store's weather days (the shape PUT takes), ?from= ?to= (days, to exclusive)",
          query={"from": {"type": "string", "format": "date"},
                 "to": {"type": "string", "format": "date"}}, errors=(400, 404)),
    Route("GET", "/api/v1/settlements/{month}", settlement_statement,
          "Monthly partner settlement of stores ?a and ?b (defaults from cloud.toml): shared "
          "visitors, tiered revenue share, shared costs by usage, reserve; ?format=json|csv|html",
          query={"a": {"type": "string"}, "b": {"type": "string"},
                 "format": {"type": "string", "enum": list(FORMATS)}},
          errors=(400, 404)),
)
