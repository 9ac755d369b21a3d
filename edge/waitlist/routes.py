"""Staff's waitlist routes: issue a ticket, the open tickets, call / seat / skip / cancel, the
day's wait statistics. A call may print the number (receipt printers, docs/waitlist.md)."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from common.clock import local_day, utc_now
from common.errors import NotFound
from common.http.body import json_response, read_body
from common.http.errors import ApiError

from edge import keys
from edge.api.auth import require
from edge.members.rules import normalize_phone
from edge.printing.jobs import NewJob
from edge.printing.routing import route
from edge.waitlist import rules, sql
from edge.waitlist.schemas import ISSUE, TRANSITION


def today(request: web.Request) -> str:
    return local_day(utc_now(), request.app[keys.SETTINGS].timezone)


def query_day(request: web.Request) -> str:
    """``?day=YYYY-MM-DD`` (shop-local), default today; 400 ``invalid_query`` otherwise."""
    day = request.query.get("day")
    if day is None:
        return today(request)
    try:
        return date.fromisoformat(day).isoformat() if len(day) == 10 else _bad_day()
    except ValueError:
        return _bad_day()


def _bad_day() -> str:
    raise ApiError(400, "invalid_query", {"day": "YYYY-MM-DD"})


def phone_of(body: dict[str, Any]) -> str | None:
    """The body's phone in E.164, or None; 422 ``invalid_phone``."""
    raw = body.get("phone")
    return None if raw is None or not raw.strip() else normalize_phone(raw)


async def issue(request: web.Request) -> web.Response:
    require(request, "waitlist.write")
    body = await read_body(request, ISSUE)
    ticket = await request.app[keys.DB].write(sql.issue, body["party"], phone_of(body),
                                              "staff", today(request))
    return json_response(ticket, status=201)


async def list_open(request: web.Request) -> web.Response:
    require(request, "waitlist.read")
    return json_response(await request.app[keys.DB].read(sql.open_tickets, query_day(request)))


async def stats(request: web.Request) -> web.Response:
    require(request, "waitlist.read")
    return json_response(await request.app[keys.DB].read(sql.stats, query_day(request)))


async def transition(request: web.Request) -> web.Response:
    who = require(request, "waitlist.write")
    ticket_id = request.match_info["id"]
    if not rules.ID.match(ticket_id):
        raise NotFound("unknown_ticket", {"id": ticket_id[:64]})
    body = await read_body(request, TRANSITION)
    target, table = body["to"], body.get("table")
    if table is not None and target != "seated":
        raise ApiError(422, "table_only_when_seated", {"to": target})
    slips = _slips(request, ticket_id) if target == "called" and body.get("print") else []
    changed = await request.app[keys.DB].write(sql.transition, ticket_id, target, table,
                                               who.staff, slips)
    _wake(request, slips)
    return json_response(changed)


def _slips(request: web.Request, ticket_id: str) -> list[NewJob]:
    """A slip per receipt printer (down its backup chain while it cannot print); none when
    the store has no printer."""
    coord = request.app.get(keys.PRINTING)
    if coord is None:
        return []
    printers = coord.settings.printers
    targets = {route(p.name, printers, coord.printable) for p in printers.values() if p.receipts}
    return [(ticket_id, "waitlist", None, name) for name in sorted(targets)]


def _wake(request: web.Request, slips: list[NewJob]) -> None:
    coord = request.app.get(keys.PRINTING)
    for *_, printer in slips:
        if coord is not None and printer is not None:
            coord.workers[printer].wake.set()
