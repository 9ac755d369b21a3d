"""The guest at the door: the entrance page ``/w`` (the door's QR code), the ticket page
``/q/{token}``, the board ``/queue``, and their public API.

No staff token: a ticket's token (192 random bits) is the credential for that ticket only.
New tickets are rate-limited per client address and capped per phone; unknown tokens are
rate-limited per address, like the table guest's (edge/tables/guest.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from aiohttp import web

from common.errors import NotFound
from common.http.body import json_response, read_body
from common.http.errors import ApiError, too_many
from common.ratewindow import RateWindow

from edge import keys
from edge.tables.guest import PAGE_HEADERS
from edge.waitlist import rules, sql
from edge.waitlist.routes import phone_of, today
from edge.waitlist.schemas import ISSUE

PAGES = Path(__file__).resolve().parent.parent / "pages"


@dataclass
class WaitlistLimits:
    """The in-memory rate windows of the public waitlist routes."""

    tickets: RateWindow = field(
        default_factory=lambda: RateWindow(rules.GUEST_TICKETS_PER_MIN))
    unknown: RateWindow = field(
        default_factory=lambda: RateWindow(rules.UNKNOWN_TOKENS_PER_MIN))



def _unknown(request: web.Request) -> ApiError | NotFound:
    limits = request.app[keys.WAITLIST_LIMITS]
    address = request.remote or "?"
    if not limits.unknown.allow(address, time.monotonic()):
        return too_many(limits.unknown, address)
    return NotFound("unknown_ticket", None)


async def _ticket(request: web.Request) -> dict[str, object]:
    token = request.match_info["token"]
    if not rules.TOKEN.match(token):
        raise _unknown(request)
    ticket = await request.app[keys.DB].read(sql.by_token, token)
    if ticket is None:
        raise _unknown(request)
    return ticket


async def take(request: web.Request) -> web.Response:
    """A guest takes a ticket at the door (no login)."""
    limits = request.app[keys.WAITLIST_LIMITS]
    address = request.remote or "?"
    if not limits.tickets.allow(address, time.monotonic()):
        raise too_many(limits.tickets, address)
    body = await read_body(request, ISSUE)
    ticket = await request.app[keys.DB].write(sql.issue, body["party"], phone_of(body),
                                              "guest", today(request))
    shown = {k: ticket[k] for k in ("id", "ticket", "queue", "ahead", "wait_min", "token")}
    return json_response({**shown, "url": f"/q/{ticket['token']}"}, status=201)


async def ticket(request: web.Request) -> web.Response:
    """The guest's own ticket: status, position, the estimate now, when it was called."""
    return json_response(await _ticket(request))


async def board_data(request: web.Request) -> web.Response:
    """What the door's board shows: called numbers and how many wait, per queue."""
    return json_response(await request.app[keys.DB].read(sql.board, today(request)))


@cache
def _page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def _html(name: str) -> web.Response:
    return web.Response(body=_page(name), content_type="text/html", charset="utf-8",
                        headers=PAGE_HEADERS)


async def entrance_page(request: web.Request) -> web.Response:
    return _html("waitlist_entrance.html")


async def ticket_page(request: web.Request) -> web.Response:
    await _ticket(request)
    return _html("waitlist_ticket.html")


async def board_page(request: web.Request) -> web.Response:
    return _html("queue_board.html")


def setup_pages(app: web.Application) -> None:
    app.router.add_get("/w", entrance_page)
    app.router.add_get("/q/{token}", ticket_page)
    app.router.add_get("/queue", board_page)
