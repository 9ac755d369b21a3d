"""Staff's reservation routes: book, list a day, move, transitions, availability, and the
booking capacity leased to HQ."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final

from aiohttp import web

from common import wire
from common.clock import utc_now
from common.errors import NotFound
from common.http.body import canonical_json, json_response, read_body
from common.http.errors import ApiError
from common.reservations import DURATION, LOCAL_AT, PARTY, RESERVATION, TABLE_ID

from edge import keys
from edge.api.auth import require
from edge.api.params import idempotency_key
from edge.reservations import rules, sql

ID: Final = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
DAY: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

MOVE: Final[dict[str, Any]] = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {"at": LOCAL_AT, "table": TABLE_ID, "party": PARTY, "duration_min": DURATION}}
TRANSITION: Final[dict[str, Any]] = {
    "type": "object", "required": ["to"], "additionalProperties": False,
    "properties": {"to": {"type": "string", "enum": list(rules.TRANSITIONS)},
                   "table": TABLE_ID, "guests": PARTY}}
LEASE: Final[dict[str, Any]] = {
    "type": "object", "required": ["at", "party", "tables"], "additionalProperties": False,
    "properties": {"at": LOCAL_AT, "party": PARTY, "duration_min": DURATION,
                   "tables": {"type": "integer", "minimum": 1, "maximum": 50}}}
DAY_QUERY: Final[dict[str, dict[str, Any]]] = {
    "day": {"type": "string", "pattern": DAY.pattern}}
AVAILABILITY_QUERY: Final[dict[str, dict[str, Any]]] = {
    "at": LOCAL_AT, "party": {"type": "integer", "minimum": 1, "maximum": 100},
    "duration_min": {"type": "integer", "minimum": 15, "maximum": 720}}


def _id(request: web.Request, name: str = "id", error: str = "unknown_reservation") -> str:
    value = request.match_info[name]
    if not ID.match(value):
        raise NotFound(error, {"id": value[:64]})
    return value


def _day(request: web.Request) -> str:
    day = request.query.get("day")
    if day is None:
        return utc_now().astimezone(request.app[keys.SETTINGS].timezone).date().isoformat()
    if not DAY.match(day):
        raise ApiError(400, "invalid_query", {"day": "YYYY-MM-DD"})
    try:
        rules.day_bounds(day, request.app[keys.SETTINGS].timezone)
    except ValueError:
        raise ApiError(400, "invalid_query", {"day": day}) from None
    return day


def _int_query(request: web.Request, name: str, default: int | None, low: int, high: int
               ) -> int:
    raw = request.query.get(name)
    if raw is None and default is not None:
        return default
    try:
        value = wire.digits(raw or "", 4)  # int() reads "٣", " 3" and "1_0"
    except ValueError:
        value = -1
    if not low <= value <= high:
        raise ApiError(400, "invalid_query", {name: f"an integer from {low} to {high}"})
    return value


async def create(request: web.Request) -> web.Response:
    require(request, "reservations.write")
    key = idempotency_key(request)
    body = await read_body(request, RESERVATION)
    digest = hashlib.sha256(canonical_json(body)).hexdigest()
    reservation, replayed = await request.app[keys.DB].write(
        sql.book, body, key, digest, request.app[keys.SETTINGS].timezone)
    return json_response(reservation, status=200 if replayed else 201)


async def list_day(request: web.Request) -> web.Response:
    require(request, "reservations.read")
    day = _day(request)
    db = request.app[keys.DB]
    return json_response({"day": day, "reservations": await db.read(sql.list_day, day),
                          "leases": await db.read(sql.leases, day)})


async def get_one(request: web.Request) -> web.Response:
    require(request, "reservations.read")
    return json_response(await request.app[keys.DB].read(sql.get, _id(request)))


async def move(request: web.Request) -> web.Response:
    require(request, "reservations.write")
    reservation_id = _id(request)
    body = await read_body(request, MOVE)
    return json_response(await request.app[keys.DB].write(
        sql.move, reservation_id, body, request.app[keys.SETTINGS].timezone))


async def transition(request: web.Request) -> web.Response:
    who = require(request, "reservations.write")
    reservation_id = _id(request)
    body = await read_body(request, TRANSITION)
    return json_response(await request.app[keys.DB].write(
        sql.transition, reservation_id, body["to"], who.staff, body.get("table"),
        body.get("guests")))


async def availability(request: web.Request) -> web.Response:
    """The tables free for a party over a window (what a booking would choose from)."""
    require(request, "reservations.read")
    at = request.query.get("at", "")
    party = _int_query(request, "party", None, 1, 100)
    duration = _int_query(request, "duration_min", rules.default_duration(party), 15, 720)
    window = rules.local_window(at, duration, request.app[keys.SETTINGS].timezone)
    free = await request.app[keys.DB].read(sql.availability, party, window.starts, window.ends)
    return json_response({"at": window.at_local, "party": party, "duration_min": duration,
                          "tables": free})


async def lease(request: web.Request) -> web.Response:
    require(request, "reservations.manage")
    body = await read_body(request, LEASE)
    return json_response(await request.app[keys.DB].write(
        sql.lease, body, request.app[keys.SETTINGS].timezone), status=201)


async def return_lease(request: web.Request) -> web.Response:
    require(request, "reservations.manage")
    lease_id = _id(request, "lease", "unknown_lease")
    return json_response(await request.app[keys.DB].write(sql.return_lease, lease_id),
                         status=202)
