"""HQ's reservation routes (ARCHITECTURE §4d): the brand's mini-program books through HQ,
confirmed at once from the capacity the store leased to HQ (the store may be offline), else
pending until the store decides; the stores' bookings by day; the reservation report; the
members' dining scenes."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from typing import Any, Final

from aiohttp import web

from cloud import keys
from cloud.api.errors import ApiError
from cloud.api.schemas import (DAYS_AND_STORES, IDEMPOTENCY, idempotency_key, path_id,
                               query_stores, read_body)
from cloud.reservations.ops import ReservationOps
from cloud.reservations.sql import Refused
from common.http.body import canonical_json
from common.http.routes import Route
from common.reservations import RESERVATION
from common.schemas import ULID_PATTERN

ULID: Final = re.compile(ULID_PATTERN)
DAY: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MAX_REPORT_DAYS: Final = 366
# HQ's bookings take no table: the store chooses it (or the leased slot fixes it)
HQ_RESERVATION: Final[dict[str, Any]] = {
    **RESERVATION, "properties": {k: v for k, v in RESERVATION["properties"].items()
                                  if k != "table"}}


def _reservation_id(request: web.Request) -> str:
    value = request.match_info["id"]
    if not ULID.match(value):
        raise ApiError(404, "unknown_reservation", value[:64])
    return value


def _day(text: str | None, name: str) -> str:
    if text is None or not DAY.match(text):
        raise ApiError(400, "bad_query", {name: "YYYY-MM-DD"})
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "bad_query", {name: text}) from None
    return text


async def _push(request: web.Request, store: str, cursor: int) -> None:
    link = request.app[keys.LINK]
    if link is not None and cursor:
        await link.push({store: cursor})


async def book(request: web.Request) -> web.Response:
    store = path_id(request)
    key = idempotency_key(request, required=True)
    assert key is not None
    body = await read_body(request, HQ_RESERVATION)
    digest = hashlib.sha256(canonical_json(body)).hexdigest()
    try:
        found, created, cursor = await request.app[keys.DB].call(
            ReservationOps.book_reservation, store, key, body, digest)
    except Refused as exc:
        raise ApiError(exc.status, exc.reason, exc.detail) from None
    await _push(request, store, cursor)
    status = 200 if not created else 201 if found["status"] == "confirmed" else 202
    return web.json_response(found, status=status)


async def get_one(request: web.Request) -> web.Response:
    store, reservation_id = path_id(request), _reservation_id(request)
    found = await request.app[keys.DB].call(ReservationOps.reservation, store, reservation_id)
    if found is None:
        raise ApiError(404, "unknown_reservation", reservation_id)
    return web.json_response(found)


async def cancel(request: web.Request) -> web.Response:
    store, reservation_id = path_id(request), _reservation_id(request)
    try:
        found, cursor = await request.app[keys.DB].call(ReservationOps.cancel_reservation,
                                                        store, reservation_id)
    except Refused as exc:
        raise ApiError(exc.status, exc.reason, exc.detail) from None
    await _push(request, store, cursor)
    return web.json_response(found)


async def list_day(request: web.Request) -> web.Response:
    store = path_id(request)
    day = _day(request.query.get("day"), "day")
    return web.json_response(await request.app[keys.DB].call(
        ReservationOps.reservations_of_day, store, day))


async def report(request: web.Request) -> web.Response:
    stores = query_stores(request)
    since = _day(request.query.get("from"), "from")
    until = _day(request.query.get("to"), "to")
    if not 0 <= (date.fromisoformat(until) - date.fromisoformat(since)).days <= MAX_REPORT_DAYS:
        raise ApiError(400, "bad_query", {"to": f"from 0 to {MAX_REPORT_DAYS} days after from"})
    return web.json_response(await request.app[keys.DB].call(
        ReservationOps.reservation_report, stores, since, until))


async def scenes(request: web.Request) -> web.Response:
    member = request.query.get("member")
    if member is not None and not ULID.match(member):
        raise ApiError(400, "bad_query", {"member": "a member id"})
    found = await request.app[keys.DB].call(ReservationOps.dining_scenes, member)
    return web.json_response({"member": member, "scenes": found})


_STORE = "/api/v1/stores/{store}/reservations"
RESERVATION_ROUTES: tuple[Route, ...] = (
    Route("POST", _STORE, book,
          "Book a table at the store for a guest (the mini-program): 201 confirmed from the "
          "capacity the store leased to HQ (works while the store is offline), else 202 "
          "pending until the store books or rejects it; idempotent by Idempotency-Key",
          body=HQ_RESERVATION, headers=IDEMPOTENCY, ok=201, errors=(400, 404, 422)),
    Route("GET", _STORE, list_day,
          "A store's reservations of a shop-local day (?day=YYYY-MM-DD) and its leased slots",
          query={"day": {"type": "string", "pattern": DAY.pattern}}, errors=(400, 404)),
    Route("GET", f"{_STORE}/{{id}}", get_one,
          "One reservation: confirmed, pending, booked, rejected (with the reason), arrived, "
          "seated, completed, no_show or cancelled", errors=(404,)),
    Route("POST", f"{_STORE}/{{id}}/cancel", cancel,
          "Cancel a booking made through HQ (the guest did): the store frees the table",
          errors=(404, 409)),
    Route("GET", "/api/v1/reports/reservations", report,
          "Bookings by store and day, no-show rate by store and source, average wait and "
          "the error of its estimate by store and queue (?from=&to= shop-local days, ?stores=)",
          query=DAYS_AND_STORES, errors=(400,)),
    Route("GET", "/api/v1/reports/dining-scenes", scenes,
          "Members by the dining scene they book most, or one member's bookings by scene "
          "(?member=)", query={"member": {"type": "string"}}, errors=(400,)),
)
