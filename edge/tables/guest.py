"""The guest at the table: the page ``/t/{token}`` and its API under ``/api/v1/guest/{token}``.

No staff token: the table's token is the credential (192 random bits, rotatable). A guest
sees only the open seating of the table whose token they hold. Orders, calls and unknown
tokens are rate-limited (per table; per address for tokens that match no table).
"""

from __future__ import annotations

import gzip
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from common.clock import utc_now
from common.errors import NotFound
from common.http.body import canonical_json, json_response, read_body
from common.http.errors import ApiError, too_many
from common.ratewindow import RateWindow
from common.schemas import GUEST_ORDER

from edge import keys
from edge.api.events import after_param, serve_events
from edge.api.params import idempotency_key
from edge.tables import rules, sql
from edge.tables.guest_writes import guest_session, place_guest_order
from edge.tables.menu import guest_menu
from edge.tables.schemas import GUEST_CALL
from edge.tables.settings import TableSettings

PAGE = Path(__file__).resolve().parent.parent / "pages" / "guest.html"
UNKNOWN_TOKENS_PER_MIN = 30  # per client address: a guessing flood costs it, not the store
PAGE_HEADERS = {"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'self'; script-src 'self' "
                "'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "connect-src 'self'; frame-ancestors 'none'"}


@dataclass
class GuestLimits:
    """The in-memory rate windows of the guest routes (one daemon, one shop)."""

    orders: RateWindow
    calls: RateWindow
    unknown: RateWindow = field(
        default_factory=lambda: RateWindow(UNKNOWN_TOKENS_PER_MIN))

    @classmethod
    def from_settings(cls, settings: TableSettings) -> GuestLimits:
        return cls(RateWindow(settings.max_orders_per_min),
                   RateWindow(settings.max_calls_per_min))



def _token(request: web.Request) -> str:
    """The path's token if it has a token's shape, else 404 (counted like an unknown one)."""
    token = request.match_info["token"]
    if not rules.TOKEN.match(token):
        raise _unknown(request)
    return token


def _unknown(request: web.Request) -> ApiError | NotFound:
    """404 ``unknown_table`` (rotated, another store's, made up: all the same to the caller),
    429 once the address sent too many of them."""
    limits = request.app[keys.GUEST_LIMITS]
    address = request.remote or "?"
    if not limits.unknown.allow(address, time.monotonic()):
        return too_many(limits.unknown, address)
    return NotFound("unknown_table", None)


async def _table(request: web.Request) -> dict[str, Any]:
    """The table of the path's token (a read), or 404 ``unknown_table``."""
    table = await request.app[keys.DB].read(sql.table_by_token, _token(request))
    if table is None:
        raise _unknown(request)
    return table


async def page(request: web.Request) -> web.Response:
    await _table(request)
    body, gz = request.app[keys.GUEST_PAGE]
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        return web.Response(body=gz, content_type="text/html", charset="utf-8",
                            headers={**PAGE_HEADERS, "Content-Encoding": "gzip",
                                     "Vary": "Accept-Encoding"})
    return web.Response(body=body, content_type="text/html", charset="utf-8",
                        headers={**PAGE_HEADERS, "Vary": "Accept-Encoding"})


def load_page() -> tuple[bytes, bytes]:
    """The page and its gzip, made once: every script and style is inside it (one request
    on a slow phone, nothing from a CDN)."""
    body = PAGE.read_bytes()
    return body, gzip.compress(body, 9, mtime=0)


async def menu(request: web.Request) -> web.Response:
    table = await _table(request)
    app = request.app
    local_now = utc_now().astimezone(app[keys.SETTINGS].timezone)
    items = await app[keys.DB].read(guest_menu, local_now.date().isoformat(), local_now)
    return json_response({"store": app[keys.SETTINGS].store_id,
                          "table": {"id": table["id"], "name": table["name"]},
                          "items": items})


async def place_order(request: web.Request) -> web.Response:
    token = _token(request)
    key = idempotency_key(request)
    body = await read_body(request, GUEST_ORDER)
    app = request.app
    limits = app[keys.GUEST_LIMITS]  # well-formed orders count (a retry too): a flood of them
    if not limits.orders.allow(token, time.monotonic()):  # a token is a table
        raise too_many(limits.orders, token)
    digest = hashlib.sha256(canonical_json(body)).hexdigest()
    settings = app[keys.SETTINGS]
    try:
        order, replayed = await app[keys.DB].write(
            place_guest_order, token, body, key, digest, settings.timezone, settings.tables)
    except NotFound as exc:
        if exc.code == "unknown_table":
            raise _unknown(request) from None
        raise
    if not replayed:
        app[keys.METRICS].order_created("dine_in_qr")
    return json_response(rules.guest_order(order), status=200 if replayed else 201)


async def list_orders(request: web.Request) -> web.Response:
    table = await _table(request)
    seating = await request.app[keys.DB].read(guest_session, table["id"])
    return json_response({"table": {"id": table["id"], "name": table["name"]}, **seating,
                          "last_seq": request.app[keys.HUB].last_seq})


async def call(request: web.Request) -> web.Response:
    table = await _table(request)
    limits = request.app[keys.GUEST_LIMITS]
    if not limits.calls.allow(table["id"], time.monotonic()):
        raise too_many(limits.calls, table["id"])
    body = await read_body(request, GUEST_CALL)
    made = await request.app[keys.DB].write(sql.add_call, table["id"], body["kind"])
    return json_response({"id": made["id"], "kind": made["kind"], "at": made["at"]}, status=202)


async def events(request: web.Request) -> web.WebSocketResponse:
    table = await _table(request)
    return await serve_events(request, after_param(request), TableView(request, table["id"]),
                              ("order.", "table."))


class TableView:
    """What of the event stream this table's guest sees: its seating's order changes (as
    the guest's order view) and its own table's seating changes, nothing else."""

    def __init__(self, request: web.Request, table_id: str) -> None:
        self.db, self.table_id = request.app[keys.DB], table_id
        self.mine: set[str] | None = None

    async def _reload(self) -> None:
        self.mine = await self.db.read(sql.open_session_order_ids, self.table_id)

    async def __call__(self, event: dict[str, Any]) -> dict[str, Any] | None:
        kind, data = event["type"], event["data"]
        if kind.startswith("table."):
            if self.table_id not in (data.get("table"), data.get("from"), data.get("to")):
                return None
            await self._reload()
            return {"seq": event["seq"], "type": kind, "data": {"table": self.table_id}}
        order = data.get("order")
        if not isinstance(order, dict):
            return None
        if self.mine is None or (kind == "order.placed" and order.get("table") == self.table_id):
            await self._reload()
        assert self.mine is not None
        if order.get("id") not in self.mine:
            return None
        shown: dict[str, Any] = {"order": rules.guest_order(order)}
        if "to" in data:
            shown.update({"from": data.get("from"), "to": data["to"]})
        return {"seq": event["seq"], "type": kind, "data": shown}
