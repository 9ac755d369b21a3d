"""The route table: one row a route. Both the router and the OpenAPI document read it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from common.http.auth import PRINCIPAL, bearer
from common.http.errors import Handler
from common.http.openapi import build_document
from common.http.routes import Route
from common.consent import CONSENTS
from common.feedback import FEEDBACK
from common.price_rules import PRICE_RULE
from common.reservations import RESERVATION
from common.schemas import CHANNEL, GUEST_ORDER, ITEM_CREATE, ITEM_PATCH, QUOTAS

from edge import __version__, keys, system
from edge.syncer.box import SELLING
from edge.lockers import routes as lockers
from edge.catalog import routes as catalog, inventory_routes as inventory
from edge.catalog.schemas import MOVEMENT
from edge.api import events
from edge.api.schemas import LOGIN
from edge.members import routes as members
from edge.members.schemas import (MEMBER_CREATE, MEMBER_IDENTITY, MEMBER_PATCH, MEMBER_VIEWED,
                                  REDEEM, TOPUP)
from edge.orders import routes as orders, payment_routes as payments
from edge.orders.rules import STATUSES
from edge.orders.schemas import ORDER_CREATE, TRANSITION
from edge.printing import routes as printing
from edge.feedback import routes as feedback
from edge.pricing import routes as pricing
from edge.reservations import routes as reservations
from edge.scrapekeys.auth import scrape_principal
from edge.tables import guest, routes as tables
from edge.tables.schemas import CLOSE, GUEST_CALL, MOVE, OPEN, STATUS, TABLE_CREATE
from edge.waitlist import guest as waitlist_guest, routes as waitlist
from edge.waitlist.schemas import DAY_QUERY as WAITLIST_DAY, ISSUE, TRANSITION as WAIT_MOVE

IDEMPOTENCY = {"Idempotency-Key": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{8,128}$"}}
ORDER_QUERY: dict[str, dict[str, Any]] = {
    "status": {"type": "string", "enum": list(STATUSES)},
    "channel": CHANNEL,
    "since": {"type": "string", "format": "date-time"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
    "money": {"type": "string", "enum": ["0", "1"]},  # 1: each order says paid / refunded
}

MEMBER_LOOKUP_QUERY: dict[str, dict[str, Any]] = {
    "phone": {"type": "string", "maxLength": 64},
    "code": {"type": "string", "maxLength": 64},
    "unionid": {"type": "string", "maxLength": 64},
    "channel": CHANNEL,
}

TABLE_ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/tables", tables.list_tables,
          "The floor: each table's status, seating (guests, orders, which came from the "
          "guest, total) and open calls"),
    Route("POST", "/api/v1/tables", tables.create, "Add a table (manager); answers its token",
          body=TABLE_CREATE, ok=201, errors=(400, 403, 409, 422)),
    Route("POST", "/api/v1/tables/{id}/rotate", tables.rotate,
          "A new QR token for the table (manager); the old one answers 404 from now on",
          errors=(403, 404)),
    Route("POST", "/api/v1/tables/{id}/open", tables.open_table,
          "Seat guests: open the table's session (409 table_busy)", body=OPEN, ok=201,
          errors=(400, 403, 404, 409, 422)),
    Route("POST", "/api/v1/tables/{id}/close", tables.close,
          "Close the seating (409 unpaid_orders unless a manager sends force)", body=CLOSE,
          errors=(400, 403, 404, 409, 422)),
    Route("POST", "/api/v1/tables/{id}/move", tables.move,
          "Move the seating and its orders to a free table (409 table_busy)", body=MOVE,
          errors=(400, 403, 404, 409, 422)),
    Route("POST", "/api/v1/tables/{id}/status", tables.set_status,
          "Mark a table free or cleaning (no seating), or bill / seated (seating)",
          body=STATUS, errors=(400, 403, 404, 409, 422)),
    Route("POST", "/api/v1/tables/{id}/calls/{call}/ack", tables.ack_call,
          "Acknowledge a guest's call (waiter, bill, water)", errors=(403, 404)),
)
RESERVATION_ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/v1/reservations", reservations.create,
          "Book a table (idempotent by Idempotency-Key): the chosen table or the smallest free "
          "one that seats the party over the whole window; 409 no_table", body=RESERVATION,
          headers=IDEMPOTENCY, ok=201, errors=(400, 403, 404, 409, 422, 503, 507)),
    Route("GET", "/api/v1/reservations", reservations.list_day,
          "A shop-local day's reservations (default today) and the capacity leased to HQ",
          query=reservations.DAY_QUERY, errors=(400, 403)),
    Route("GET", "/api/v1/reservations/availability", reservations.availability,
          "The tables free for a party over a window, smallest first",
          query=reservations.AVAILABILITY_QUERY, errors=(400, 403, 422)),
    Route("GET", "/api/v1/reservations/{id}", reservations.get_one, "Read one reservation",
          errors=(403, 404)),
    Route("POST", "/api/v1/reservations/{id}/move", reservations.move,
          "Another time, table, party or duration; 409 no_table and nothing changes when it "
          "would overlap", body=reservations.MOVE, errors=(400, 403, 404, 409, 422)),
    Route("POST", "/api/v1/reservations/{id}/transitions", reservations.transition,
          "arrived, seated (opens the table's seating), no_show, cancelled (free the table)",
          body=reservations.TRANSITION, errors=(400, 403, 404, 409, 422)),
    Route("POST", "/api/v1/reservation-leases", reservations.lease,
          "Lease booking capacity to HQ (manager): N tables of at least P seats at a time, "
          "held for HQ's online bookings; all or none (409 no_table)",
          body=reservations.LEASE, ok=201, errors=(400, 403, 409, 422)),
    Route("POST", "/api/v1/reservation-leases/{lease}/return", reservations.return_lease,
          "Ask HQ to give a lease back (manager); its unused tables are freed when HQ answers",
          ok=202, errors=(403, 404)),
)
FEEDBACK_ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/feedback/{token}", feedback.order,
          "What the feedback page shows of the order (number, dishes, whether rated); no "
          "login: the order's signed token (404 for a forged or another store's)",
          public=True, errors=(404, 429)),
    Route("POST", "/api/v1/feedback/{token}", feedback.rate,
          "Rate the order once on the shop's Wi-Fi (score 0-10, thumbs per dish, a comment); "
          "a low score alerts staff (feedback.alert); 409 already_rated", public=True,
          body=FEEDBACK, ok=201, errors=(400, 404, 409, 413, 422, 429, 503, 507)),
    Route("PUT", "/api/v1/feedback/{token}/consents", feedback.consents,
          "The guest of a member's order grants or withdraws consent per purpose (marketing, "
          "profiling) from the feedback page; HQ applies it (member.consent_changed, source "
          "guest); 409 no_member for an order without a member", public=True, body=CONSENTS,
          ok=202, errors=(400, 404, 409, 413, 422, 429, 503, 507)),
)
WAITLIST_ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/v1/waitlist", waitlist.issue,
          "Issue a waitlist ticket (A: 1-2, B: 3-4, C: 5+ guests) with its place and estimated "
          "wait; 409 phone_has_ticket", body=ISSUE, ok=201,
          errors=(400, 403, 409, 422, 503, 507)),
    Route("GET", "/api/v1/waitlist", waitlist.list_open,
          "A shop-local day's (default today) open tickets per queue and the recent calls",
          query=WAITLIST_DAY, errors=(400, 403)),
    Route("GET", "/api/v1/waitlist/stats", waitlist.stats,
          "Per queue: tickets, outcomes, mean wait, the estimate's mean absolute error and the "
          "turn times used", query=WAITLIST_DAY, errors=(400, 403)),
    Route("POST", "/api/v1/waitlist/{id}/transitions", waitlist.transition,
          "called (again; print: the number on the receipt printer), seated (with table: opens "
          "its seating), skipped, cancelled; 409 invalid_transition", body=WAIT_MOVE,
          errors=(400, 403, 404, 409, 422, 503, 507)),
    Route("POST", "/api/v1/guest/waitlist", waitlist_guest.take,
          "A guest takes a ticket at the door (no login; rate-limited per address, one open "
          "ticket per phone); answers its token and page", public=True, body=ISSUE, ok=201,
          errors=(400, 409, 422, 429, 503, 507)),
    Route("GET", "/api/v1/guest/waitlist/{token}", waitlist_guest.ticket,
          "The guest's own ticket: status, place, estimated wait, when it was called",
          public=True, errors=(404, 429)),
    Route("GET", "/api/v1/guest/queue", waitlist_guest.board_data,
          "The door's board: per queue the numbers called last and how many wait (no phones)",
          public=True),
)
GUEST_ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/guest/{token}/menu", guest.menu,
          "The guest's menu at the dine_in_qr price; sold-out items not available",
          public=True, errors=(404, 429)),
    Route("POST", "/api/v1/guest/{token}/orders", guest.place_order,
          "Place the guest's order for this table (idempotent by Idempotency-Key per table)",
          public=True, body=GUEST_ORDER, headers=IDEMPOTENCY, ok=201,
          errors=(400, 404, 409, 422, 429, 503, 507)),
    Route("GET", "/api/v1/guest/{token}/orders", guest.list_orders,
          "This table's open seating: its orders with their status and the total",
          public=True, errors=(404, 429)),
    Route("POST", "/api/v1/guest/{token}/calls", guest.call,
          "Call a waiter, ask for the bill or for water (table.call to staff)", public=True,
          body=GUEST_CALL, ok=202, errors=(400, 404, 422, 429, 503, 507)),
    Route("GET", "/api/v1/guest/{token}/events", guest.events,
          "WebSocket of this seating's order changes; resume with ?after=seq", public=True,
          query={"after": {"type": "integer", "minimum": 0}}, ok=101, errors=(400, 404, 429),
          websocket=True),
)

ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/health", system.health, "Liveness, store id and sync state",
          public=True),
    Route("POST", "/api/v1/auth/login", system.login, "Staff PIN login; returns a bearer token",
          public=True, body=LOGIN, errors=(400, 401, 422, 429)),
    Route("GET", "/api/v1/catalog/items", catalog.list_items,
          "List catalog items; price_now_cents and price_rule where a time-window price rule "
          "prices one now on ?channel= (default pos)", query={"channel": CHANNEL},
          errors=(400,)),
    Route("POST", "/api/v1/catalog/items", catalog.create_item, "Create an item (manager)",
          body=ITEM_CREATE, ok=201, errors=(400, 409, 422)),
    Route("GET", "/api/v1/catalog/items/{sku}", catalog.get_item, "Read one item",
          errors=(404,)),
    Route("PATCH", "/api/v1/catalog/items/{sku}", catalog.patch_item,
          "Change price, channel prices, availability (manager)",
          body=ITEM_PATCH, errors=(400, 404, 422)),
    Route("POST", "/api/v1/orders", orders.create_order,
          "Place an order (idempotent by Idempotency-Key; 200 on replay)",
          body=ORDER_CREATE, headers=IDEMPOTENCY, ok=201, errors=(400, 409, 422, 503, 507)),
    Route("GET", "/api/v1/orders", orders.list_orders, "List orders, newest first",
          query=ORDER_QUERY, errors=(400,)),
    Route("GET", "/api/v1/orders/{id}", orders.get_order, "Read one order", errors=(404,)),
    Route("POST", "/api/v1/orders/{id}/transitions", orders.transition,
          "Move an order through its status machine", body=TRANSITION,
          errors=(400, 404, 409, 422)),
    Route("POST", "/api/v1/orders/{id}/reprint", printing.reprint,
          "Print an order's tickets again (cashier, manager): kitchen tickets, receipt, label; "
          "409 when no printer prints them", body=printing.REPRINT, ok=201,
          errors=(400, 403, 404, 409, 422)),
    Route("POST", "/api/v1/orders/{id}/payment", payments.pay,
          "Record how the order was paid (cash, card ref, stored value, points), once; "
          "idempotent by Idempotency-Key", body=payments.PAYMENT, headers=IDEMPOTENCY, ok=201,
          errors=(400, 404, 409, 422, 503, 507)),
    Route("POST", "/api/v1/orders/{id}/refund", payments.refund,
          "Refund a paid ready/completed order once (manager): stored value and points go back "
          "to the member, restock puts its items back on hand; idempotent by Idempotency-Key",
          body=payments.REFUND, headers=IDEMPOTENCY, ok=201,
          errors=(400, 403, 404, 409, 422, 503, 507)),
    Route("GET", "/api/v1/inventory", inventory.list_inventory,
          "Stock per SKU with safety stock and today's channel quotas"),
    Route("POST", "/api/v1/inventory/movements", inventory.add_movement,
          "Record a receipt, waste, stocktake or transfer (manager)", body=MOVEMENT,
          ok=201, errors=(400, 404, 409, 422)),
    Route("PUT", "/api/v1/inventory/{sku}/quotas", inventory.put_quotas,
          "Set per-channel daily quotas; null removes one (manager)", body=QUOTAS,
          errors=(400, 404, 422)),
    Route("GET", "/api/v1/events", events.events,
          "WebSocket of committed order/stock/catalog events; resume with ?after=seq",
          query={"after": {"type": "integer", "minimum": 0}, "token": {
              "type": "string", "description": "the bearer token, for browsers (a WebSocket "
                                               "cannot send Authorization); no other route"}},
          ok=101, errors=(400,), websocket=True),
    Route("GET", "/api/v1/members/lookup", members.lookup,
          "Find a member by phone, card/QR code or WeChat unionid (exactly one); balances, "
          "allowance, usable coupons", query=MEMBER_LOOKUP_QUERY, errors=(400, 404, 422, 503)),
    Route("POST", "/api/v1/members", members.create,
          "Create a member at the store, offline too (idempotent by Idempotency-Key)",
          body=MEMBER_CREATE, headers=IDEMPOTENCY, ok=201,
          errors=(400, 409, 422, 503, 507)),
    Route("POST", "/api/v1/members/{id}/identities", members.add_identity,
          "Add a phone, code or platform id to a member (idempotent); 200 if it has it, "
          "409 identity_taken if another member does", body=MEMBER_IDENTITY,
          headers=IDEMPOTENCY, ok=201, errors=(400, 404, 409, 422, 503, 507)),
    Route("PATCH", "/api/v1/members/{id}", members.patch_profile,
          "Change name and/or birthday (per field last-writer-wins by HLC; idempotent)",
          body=MEMBER_PATCH, headers=IDEMPOTENCY, errors=(400, 404, 422, 503, 507)),
    Route("POST", "/api/v1/members/{id}/viewed", members.viewed,
          "Record that the member viewed these SKUs (member.viewed to HQ)",
          body=MEMBER_VIEWED, ok=202, errors=(400, 404, 422, 503, 507)),
    Route("PUT", "/api/v1/members/{id}/consents", members.consents,
          "The member grants or withdraws consent per purpose (marketing, profiling) at the "
          "till; HQ applies it (member.consent_changed)", body=CONSENTS, ok=202,
          errors=(400, 404, 422, 503, 507)),
    Route("POST", "/api/v1/members/{id}/redeem", members.redeem,
          "Spend points or stored value from this store's lease (idempotent)",
          body=REDEEM, headers=IDEMPOTENCY, ok=201,
          errors=(400, 404, 409, 422, 503, 507)),
    Route("POST", "/api/v1/members/{id}/topup", members.topup,
          "Top up stored value at the till (manager; idempotent)", body=TOPUP,
          headers=IDEMPOTENCY, ok=201, errors=(400, 404, 422, 503, 507)),
    Route("GET", "/api/v1/recommendations", members.recommendations,
          "Items often bought together with the given SKUs",
          query={"skus": {"type": "string", "minLength": 1, "maxLength": 600}}, errors=(400,)),
    Route("GET", "/api/v1/lockers", lockers.overview,
          "Locker banks (state, doors) and the orders they hold or left with staff"),
    Route("POST", "/api/v1/lockers/open", lockers.open_by_code,
          "Open the compartment holding the order with this 6-digit pickup code (collected)",
          body=lockers.OPEN_BY_CODE, errors=(400, 404, 422, 429, 503)),
    Route("POST", "/api/v1/lockers/{bank}/compartments/{n}/open", lockers.staff_open,
          "Open a compartment for staff; release: true empties it (its order back to staff)",
          body=lockers.STAFF_OPEN, errors=(400, 404, 422, 503)),
    Route("GET", "/api/v1/price-rules", pricing.list_rules,
          "Time-window price rules, the store's and HQ's (source)"),
    Route("PUT", "/api/v1/price-rules/{id}", pricing.put_rule,
          "Create (201) or replace (200) a time-window price rule (manager); 409 hq_rule for "
          "a rule HQ set", body=PRICE_RULE, ok=201, errors=(400, 403, 404, 409, 422)),
    Route("DELETE", "/api/v1/price-rules/{id}", pricing.delete_rule,
          "Delete a price rule the store set (manager); 409 hq_rule for a rule HQ set",
          errors=(403, 404, 409)),
    Route("GET", "/metrics", system.metrics,
          "Prometheus metrics (a scrape key from storenode metrics-key; manager, technician)",
          produces="text/plain"),
    *TABLE_ROUTES,
    *RESERVATION_ROUTES,
    *GUEST_ROUTES,
    *FEEDBACK_ROUTES,
    *WAITLIST_ROUTES,
)

PUBLIC_PATHS = frozenset(r.path for r in ROUTES if r.public) | {"/api/openapi.json"}
WEBSOCKET_PATHS = frozenset(r.path for r in ROUTES if r.websocket)


EDGE_INFO: dict[str, Any] = {"title": "storenode edge LAN API", "version": __version__}


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this route table."""
    return web.json_response(build_document(ROUTES, EDGE_INFO))


def setup_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    members.setup(app)
    app.router.add_get("/t/{token}", guest.page)
    waitlist_guest.setup_pages(app)
    app.router.add_get("/f/{token}", feedback.page)
    app.router.add_get("/api/openapi.json", openapi)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    who = await scrape_principal(request, PUBLIC_PATHS)  # GET /metrics only
    if who is None:
        who = bearer(request, request.app[keys.TOKENS], PUBLIC_PATHS, WEBSOCKET_PATHS)
    if who is not None:
        request[PRINCIPAL] = who
    if request.method == "POST" and keys.BOX in request.app:
        route = request.match_info.route.resource
        if route is not None and (request.method, route.canonical) in SELLING:
            request.app[keys.BOX].refuse_sales()  # 503 box_superseded on a replaced box
    return await handler(request)
